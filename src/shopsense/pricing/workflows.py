"""Pricing jobs over the store and the registry, shared by the CLI, the service and the
benchmark: build the price panel, fit, save a version, write a report a person can read.

I/O lives here; the models in this package never open a file they were not given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shopsense.config import Settings
from shopsense.data.orders import order_lines_from_store
from shopsense.data.panel import PricePanel, panel_from_order_lines, read_price_panel
from shopsense.data.store import Store
from shopsense.persist import atomic_write
from shopsense.pricing.elasticity import ElasticityModel
from shopsense.pricing.policy import (
    BestFixedPrice,
    CurrentPrice,
    Evaluation,
    Oracle,
    PriceConstraints,
    PriceHistory,
    ThompsonPricer,
    evaluate,
)
from shopsense.pricing.simulator import MarketSimulator
from shopsense.registry import ModelVersion, Registry
from shopsense.workflows import open_store

TASK = "pricing"
ELASTICITY = "elasticity"
DEFAULT_TOP = 300
STORE_SOURCE = "store"


def price_panel(
    settings: Settings, *, file: Path | None = None, top: int | None = DEFAULT_TOP
) -> PricePanel:
    """The panel of a CSV `file` (monthly), or the store's order lines (weekly, the `top`
    products by units; product groups from the catalogue's categories or titles)."""
    if file is not None:
        return read_price_panel(file)
    with open_store(settings) as store:
        return store_panel(store, top=top, source=f"{settings.store_path}:order_lines")


def store_panel(
    store: Store,
    *,
    top: int | None = DEFAULT_TOP,
    items: list[str] | None = None,
    source: str = "order_lines",
) -> PricePanel:
    """Weekly panel of the store's `items` (default: its `top` products by units)."""
    from shopsense.data.customers import product_groups
    from shopsense.data.demand import demand_view

    lines = order_lines_from_store(store)
    catalogue = store.read("items")
    if lines.empty:
        raise ValueError(f"{source}: the store has no order lines to price")
    view = demand_view(lines, source=source)
    if items is None:
        items = view.top_items(top) if top else view.items
    try:
        groups = product_groups(catalogue[catalogue["item_id"].isin(set(items))])
    except (ValueError, KeyError):
        groups = None  # too few titles to group: one pooled category
    return panel_from_order_lines(lines, items=items, categories=groups, source=source, view=view)


def priced_panel(
    store: Store, model: ElasticityModel, *, source: str = "order_lines"
) -> PricePanel:
    """The weekly panel of the products `model` was fitted on: the one panel every
    suggestion of the store (CLI, service, dashboard) is computed on, so they agree."""
    return store_panel(store, items=[str(i) for i in model._table().index], source=source)


def item_titles(store: Store) -> pd.Series:
    """item_id -> the catalogue's title (products without one are absent)."""
    items = store.read("items", ["item_id", "title"])
    items = items[items["title"].notna() & (items["title"].astype(str).str.strip() != "")]
    items = items.drop_duplicates("item_id", keep="last")
    return pd.Series(items["title"].astype(str).to_numpy(), index=items["item_id"].astype(str))


def with_titles(suggestions: pd.DataFrame, titles: pd.Series) -> pd.DataFrame:
    """`suggestions` with each product's `title` beside its id (None where it has none)."""
    title = suggestions["item_id"].astype(str).map(titles)
    out = suggestions.drop(columns="title", errors="ignore")
    out.insert(1, "title", title.astype(object).where(title.notna(), None))
    return out


def _source(file: Path | None, settings: Settings) -> str:
    return data_source(settings, file)


def data_source(settings: Settings, file: Path | None = None) -> str:
    """What an elasticity version was fitted on (kept in its metadata): the panel file, or
    "store" for the store's order lines (the store a service or command is pointed at)."""
    return str(Path(file).resolve()) if file else STORE_SOURCE


@dataclass(frozen=True)
class ElasticityRun:
    """A fitted elasticity model, its saved version and the report files."""

    version: ModelVersion
    model: ElasticityModel
    csv: Path
    plot: Path


def elasticity(
    settings: Settings,
    *,
    file: Path | None = None,
    top: int | None = DEFAULT_TOP,
    params: dict[str, Any] | None = None,
) -> ElasticityRun:
    """Estimate every product's elasticity, save pricing/elasticity, write CSV and plot."""
    panel = price_panel(settings, file=file, top=top)
    model = ElasticityModel(**(params or {})).fit(panel)
    table = model._table()
    ok = table["status"] == "ok"
    metrics = {
        "products": float(len(table)),
        "estimable": float(ok.sum()),
        "median_elasticity": float(table["elasticity"].median()),
        "negative_share": float((table.loc[ok, "elasticity_own"] < 0).mean()) if ok.any() else 0,
    }
    version = Registry(settings.models_dir).save(
        model,
        task=TASK,
        metrics=metrics,
        data={"source": _source(file, settings), "freq": panel.freq, "rows": len(panel.frame)},
    )
    folder = _report_dir(settings)
    csv = folder / f"elasticity-{_stamp()}.csv"
    atomic_write(csv, lambda tmp: table.to_csv(tmp, index_label="item_id"))
    plot = folder / f"elasticity-{_stamp()}.png"
    plot_elasticities(table, plot)
    return ElasticityRun(version, model, csv, plot)


def load_elasticity(
    settings: Settings, *, file: Path | None = None, top: int | None = DEFAULT_TOP
) -> ElasticityModel:
    """The active pricing/elasticity version if it was fitted on the same data, else a new
    fit (saved)."""
    registry = Registry(settings.models_dir)
    try:
        version = registry.active(TASK, ELASTICITY)
    except FileNotFoundError:
        version = None
    if version is not None and version.meta.get("data", {}).get("source") == _source(
        file, settings
    ):
        return registry.load(TASK, ELASTICITY, version.version)
    return elasticity(settings, file=file, top=top).model


@dataclass(frozen=True)
class SuggestRun:
    """Price suggestions with reasons, and the CSV they were written to."""

    suggestions: pd.DataFrame
    path: Path


def suggest(
    settings: Settings,
    *,
    file: Path | None = None,
    items: list[str] | None = None,
    constraints: PriceConstraints | None = None,
    costs: Path | None = None,
    cost_share: float = 0.5,
    objective: str = "profit",
    explore: bool = False,
    top: int | None = DEFAULT_TOP,
) -> SuggestRun:
    """Suggest next period's price of every product (or `items`) with its reasons.

    On the store, the panel is the one the service uses (`priced_panel`: the products the
    elasticity model was fitted on), so the command and the service suggest the same price.
    """
    from shopsense.pricing.suggest import suggest_prices

    model = load_elasticity(settings, file=file, top=top)
    titles = pd.Series(dtype=object)
    if file is not None:
        panel = read_price_panel(file)
    else:
        with open_store(settings) as store:
            panel = priced_panel(store, model, source=f"{settings.store_path}:order_lines")
            titles = item_titles(store)
    unit_cost = read_costs(costs) if costs else None
    out = suggest_prices(
        panel,
        model,
        constraints,
        unit_cost=unit_cost,
        cost_share=cost_share,
        objective=objective,
        explore=explore,
        items=items,
    )
    out = with_titles(out, titles)
    path = _report_dir(settings) / f"price-suggestions-{_stamp()}.csv"
    atomic_write(path, lambda tmp: out.to_csv(tmp, index=False))
    return SuggestRun(out, path)


def read_costs(path: Path) -> pd.Series:
    """item_id -> unit cost from a CSV with columns item_id, unit_cost."""
    frame = pd.read_csv(path, dtype={"item_id": str})
    missing = {"item_id", "unit_cost"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {sorted(missing)}; need item_id, unit_cost")
    cost = pd.to_numeric(frame["unit_cost"], errors="coerce")
    bad = cost.isna() | (cost < 0)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"{path}: line {row + 2}, field 'unit_cost': {frame['unit_cost'].iloc[row]!r} "
            "is not a number >= 0"
        )
    return pd.Series(cost.to_numpy(float), index=frame["item_id"].astype(str))


@dataclass(frozen=True)
class SimulationRun:
    """Policies played in the fitted simulator: the evaluation and its learning-curve plot."""

    evaluation: Evaluation
    summary: pd.DataFrame
    plot: Path


def simulate(
    settings: Settings,
    *,
    file: Path | None = None,
    constraints: PriceConstraints | None = None,
    horizon: int | None = None,
    seeds: int = 20,
    cost_share: float = 0.5,
    top: int | None = DEFAULT_TOP,
    as_of: str | pd.Timestamp | None = None,
) -> SimulationRun:
    """Fit the simulator on the panel and compare the policies (see `policy_suite`), the
    learned ones starting at `as_of` (default `history_end(panel)`) from the history before."""
    panel = price_panel(settings, file=file, top=top)
    model = load_elasticity(settings, file=file, top=top)
    as_of = history_end(panel) if as_of is None else as_of
    sim, history = world_and_history(panel, as_of, world_model=model, cost_share=cost_share)
    horizon = horizon or panel.periods_per_year
    constraints = constraints or PriceConstraints()
    ev = evaluate(sim, history, policy_suite(horizon), constraints, horizon=horizon, seeds=seeds)
    plot = _report_dir(settings) / f"pricing-learning-curve-{_stamp()}.png"
    plot_learning_curves(ev, plot, period="week" if panel.freq == "W" else "month")
    return SimulationRun(ev, ev.summary(), plot)


def history_end(panel: PricePanel, share: float = 0.25) -> pd.Timestamp:
    """The first period of the panel's last `share` of periods: where a simulated policy
    starts, so the history it learns from leaves those periods to the world alone."""
    periods = np.sort(pd.unique(panel.frame["period"]))
    return pd.Timestamp(periods[min(int(len(periods) * (1.0 - share)), len(periods) - 1)])


def world_and_history(
    panel: PricePanel,
    as_of: str | pd.Timestamp,
    *,
    world_model: ElasticityModel | None = None,
    params: dict[str, Any] | None = None,
    unit_cost: pd.Series | None = None,
    cost_share: float = 0.5,
) -> tuple[MarketSimulator, PriceHistory]:
    """The world policies are judged in, and what the shop knew when they start at `as_of`.

    The world is fitted on the whole panel (elasticities from `world_model`, default a fit
    of `ElasticityModel(**params)` on it); the history is the panel before `as_of` with its
    own elasticity fit, so a learned policy never starts from the world's own parameters.
    """
    past = panel.until(as_of)
    if past.frame.empty:
        raise ValueError(f"{panel.source}: no period before {pd.Timestamp(as_of):%Y-%m-%d}")
    own = ElasticityModel(**(params or {})).fit(past)
    history = PriceHistory.fit(past, own, unit_cost=unit_cost, cost_share=cost_share)
    world_model = world_model or ElasticityModel(**(params or {})).fit(panel)
    sim = MarketSimulator.fit(panel.select(list(history.items)), world_model,
                              unit_cost=unit_cost, cost_share=cost_share, as_of=as_of)  # fmt: skip
    return sim, history


def policy_suite(horizon: int, objective: str = "profit") -> dict[str, Any]:
    """The learned policy, its ablations and the baselines, by the name they report under."""
    return {
        CurrentPrice.name: CurrentPrice,
        BestFixedPrice.name: lambda: BestFixedPrice(horizon, objective),
        Oracle.name: lambda: Oracle(objective),
        "thompson sampling": lambda: ThompsonPricer(objective),
        "greedy (no exploration)": lambda: ThompsonPricer(objective, explore=False),
        "thompson sampling, weak prior": lambda: ThompsonPricer(
            objective, prior_elasticity=-1.0, prior_scale=1.5
        ),
        "greedy, weak prior": lambda: ThompsonPricer(
            objective, explore=False, prior_elasticity=-1.0, prior_scale=1.5
        ),
    }


@dataclass(frozen=True)
class ForecastRun:
    """A fitted forecaster, its saved version and every product's forecast (CSV)."""

    version: ModelVersion
    forecasts: pd.DataFrame
    path: Path


def forecast(
    settings: Settings,
    *,
    kind: str = "ets",
    horizon: int = 28,
    top: int | None = 100,
    params: dict[str, Any] | None = None,
) -> ForecastRun:
    """Fit a `kind` forecaster on the store's daily demand (the `top` products that have
    enough history), save it as the next version of pricing/demand_forecaster, and forecast
    the `horizon` days after the last order line."""
    from shopsense.data.demand import demand_view
    from shopsense.pricing.forecast import eligible_items, forecaster

    with open_store(settings) as store:
        lines = order_lines_from_store(store)
    if lines.empty:
        raise ValueError(f"the store {settings.store_path} has no order_lines to forecast")
    view = demand_view(lines, source=f"{settings.store_path}:order_lines")
    model = forecaster(kind, horizon=horizon, **(params or {}))
    cfg = model.config
    chosen = set(view.top_items(top) if top else view.items)
    items = [i for i in eligible_items(view, cfg.min_history, cfg.min_sales) if i in chosen]
    if not items:
        raise ValueError(
            f"no product of {settings.store_path} has {cfg.min_history} known days and "
            f"{cfg.min_sales} days with a sale: too little history to forecast"
        )
    view = view.select(items)
    model.fit(view)
    out = model.predict(view, horizon)
    version = Registry(settings.models_dir).save(
        model,
        task=TASK,
        data={"products": len(items), "as_of": str(view.end.date()), "horizon": horizon},
    )
    path = _report_dir(settings) / f"forecast-{kind}-{_stamp()}.csv"
    atomic_write(path, lambda tmp: out.to_csv(tmp, index=False))
    return ForecastRun(version, out, path)


# ================================================================================= plots
def plot_elasticities(table: pd.DataFrame, path: Path, most: int = 40) -> Path:
    """Forest plot: each product's own estimate with its interval, and the value used."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    own = table[table["status"] == "ok"].sort_values("mean_units", ascending=False).head(most)
    own = own.sort_values("elasticity_own")
    fig, ax = plt.subplots(figsize=(7, max(3.0, 0.22 * len(own) + 1)))
    y = np.arange(len(own))
    ax.errorbar(
        own["elasticity_own"],
        y,
        xerr=[own["elasticity_own"] - own["own_low"], own["own_high"] - own["elasticity_own"]],
        fmt="o",
        color="tab:blue",
        ms=3,
        lw=1,
        label="own estimate, 90% bootstrap interval",
    )
    ax.plot(own["elasticity"], y, "x", color="tab:red", ms=4, label="used (shrunk to category)")
    ax.axvline(0, color="grey", lw=0.8)
    ax.axvline(-1, color="grey", lw=0.8, ls=":")
    ax.set_yticks(y, [str(i) for i in own.index], fontsize=6)
    ax.set_xlabel("price elasticity (% change in units per 1% price change)")
    ax.set_title(f"Elasticity of the {len(own)} best-selling estimable products")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    _save_figure(fig, path)
    plt.close(fig)
    return path


def plot_learning_curves(ev: Evaluation, path: Path, period: str = "week") -> Path:
    """Cumulative regret per policy over the horizon: mean over seeds with a 95% band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    curves = ev.curves.sort_values(["policy", "seed", "period"])
    curves = curves.assign(cum=curves.groupby(["policy", "seed"])["regret"].cumsum())
    for policy, g in curves.groupby("policy", sort=False):
        if policy == Oracle.name:
            continue
        wide = g.pivot(index="period", columns="seed", values="cum")
        mean = wide.mean(axis=1)
        half = 1.96 * wide.std(axis=1, ddof=1) / np.sqrt(wide.shape[1])
        ax.plot(mean.index, mean, label=policy, lw=1.4)
        ax.fill_between(mean.index, mean - half, mean + half, alpha=0.15)
    ax.set_xlabel(period)
    ax.set_ylabel("cumulative regret (expected profit short of the oracle)")
    ax.set_title("Price policies in the simulator fitted on the shop's data")
    ax.legend(fontsize=7)
    fig.tight_layout()
    _save_figure(fig, path)
    plt.close(fig)
    return path


def _save_figure(fig: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))


def _report_dir(settings: Settings) -> Path:
    folder = Path(settings.reports_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
