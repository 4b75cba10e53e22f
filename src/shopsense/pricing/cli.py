"""`shopsense pricing ...`: demand forecasts, elasticities, price suggestions, policy trials."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shopsense.cli_common import (
    ModelsOpt,
    StoreOpt,
    console,
    fail,
    print_frame,
    settings,
    working,
)

if TYPE_CHECKING:
    from shopsense.pricing.policy import PriceConstraints

app = typer.Typer(
    help="Demand forecasts, price elasticity and suggested prices.", no_args_is_help=True
)

FileOpt = Annotated[
    Path | None,
    typer.Option(
        "--file",
        help="a monthly price panel CSV (item_id, period, price, units[, category]; or the "
        "retail-price-optimisation layout) instead of the store's order lines",
    ),
]
TopOpt = Annotated[int, typer.Option(min=1, help="best-selling products of the store to price")]
_DECIMALS = {
    "elasticity": 2,
    "low": 2,
    "high": 2,
    "current": 2,
    "suggested": 2,
    "change": 3,
    "units_now": 1,
    "units_new": 1,
    "forecast": 1,
    "lo80": 1,
    "hi80": 1,
    "profit": 0,
    "revenue": 0,
    "regret": 0,
    "vs_current": 3,
}


def _constraints(
    min_ratio: float, max_ratio: float, max_change: float, margin_floor: float
) -> PriceConstraints:
    from shopsense.pricing.policy import PriceConstraints

    try:
        return PriceConstraints(
            min_ratio=min_ratio,
            max_ratio=max_ratio,
            max_change=max_change,
            margin_floor=margin_floor,
        )
    except ValueError as e:
        raise fail(str(e)) from None


MinOpt = Annotated[float, typer.Option(help="lowest price, as a share of the current price")]
MaxOpt = Annotated[float, typer.Option(help="highest price, as a share of the current price")]
StepOpt = Annotated[float, typer.Option(help="largest change per period (0.1 = 10%)")]
MarginOpt = Annotated[float, typer.Option(help="smallest margin (price - cost) / price")]


@app.command()
def forecast(
    model: Annotated[
        str, typer.Option("--model", "-m", help="seasonal_naive, ets, lstm or gru")
    ] = "ets",
    horizon: Annotated[int, typer.Option(min=1, max=365, help="days ahead")] = 28,
    top: TopOpt = 100,
    show: Annotated[int, typer.Option(min=1, help="products shown")] = 10,
    store: StoreOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Forecast daily units of the best-selling products; save the forecaster and write
    every product's forecast to a CSV in the reports folder."""
    from shopsense.pricing import workflows

    s = settings(store, models_dir)
    try:
        with working(f"fitting {model} on the store's daily demand"):
            run = workflows.forecast(s, kind=model, horizon=horizon, top=top)
    except (ValueError, FileNotFoundError) as e:
        raise fail(str(e)) from None
    f = run.forecasts
    per_item = f.groupby("item_id", sort=False)["forecast"].sum().rename("units").reset_index()
    per_item = per_item.sort_values("units", ascending=False).head(show)
    print_frame(per_item, title=f"units in the next {horizon} days ({model})")
    console.print(
        f"saved {run.version.name} {run.version.version}; "
        f"{f['item_id'].nunique()} products' daily forecasts in {run.path}"
    )


@app.command()
def elasticity(
    file: FileOpt = None,
    top: TopOpt = 300,
    boot: Annotated[int, typer.Option(min=50, help="bootstrap replicates")] = 1000,
    show: Annotated[int, typer.Option(min=1, help="products shown")] = 15,
    store: StoreOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Estimate every product's price elasticity (log-log, bootstrap intervals) and flag
    those whose price never moved enough to tell; save it and write CSV and plot."""
    from shopsense.pricing import workflows

    s = settings(store, models_dir)
    try:
        with working("estimating elasticities"):
            run = workflows.elasticity(s, file=file, top=top, params={"n_boot": boot})
    except (ValueError, FileNotFoundError) as e:
        raise fail(str(e)) from None
    t = run.model._table().sort_values("mean_units", ascending=False)
    shown = t.head(show).reset_index(names="item")[["item", "elasticity", "low", "high", "status"]]
    print_frame(shown, title="elasticity (90% interval) of the best sellers", decimals=_DECIMALS)
    flagged = t[t["status"] != "ok"]["status"].value_counts()
    note = ", ".join(f"{n} {why}" for why, n in flagged.items()) or "none"
    console.print(
        f"{len(t)} products, {int((t['status'] == 'ok').sum())} with their own estimate; "
        f"flagged: {note}. Saved {run.version.name} {run.version.version}; "
        f"table {run.csv}, plot {run.plot}"
    )


@app.command()
def suggest(
    items: Annotated[
        list[str] | None, typer.Argument(help="item ids; default: every product")
    ] = None,
    file: FileOpt = None,
    top: TopOpt = 300,
    costs: Annotated[
        Path | None, typer.Option(help="CSV of item_id, unit_cost (default: a cost share)")
    ] = None,
    cost_share: Annotated[
        float, typer.Option(min=0.0, max=0.99, help="unit cost as a share of today's price")
    ] = 0.5,
    objective: Annotated[str, typer.Option(help="profit or revenue")] = "profit",
    min_ratio: MinOpt = 0.7,
    max_ratio: MaxOpt = 1.3,
    max_change: StepOpt = 0.10,
    margin_floor: MarginOpt = 0.05,
    explore: Annotated[
        bool, typer.Option(help="draw from the posterior (online learning) instead of its mean")
    ] = False,
    show: Annotated[int, typer.Option(min=1, help="products shown")] = 10,
    store: StoreOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Suggest next period's price of every product, each with its reason: expected demand
    at the current and the new price, the elasticity and its interval, and the rule that
    held the move back. All suggestions go to a CSV in the reports folder. On the store, the
    products are those the active elasticity model was fitted on (as in the service, so both
    suggest the same price); `--top` chooses them only when no model is fitted yet."""
    from rich.markup import escape

    from shopsense.pricing import workflows

    s = settings(store, models_dir)
    rules = _constraints(min_ratio, max_ratio, max_change, margin_floor)
    try:
        with working("fitting demand curves and choosing prices"):
            run = workflows.suggest(
                s,
                file=file,
                items=items or None,
                constraints=rules,
                costs=costs,
                cost_share=cost_share,
                objective=objective,
                explore=explore,
                top=top,
            )
    except (ValueError, FileNotFoundError, KeyError) as e:
        raise fail(str(e).strip('"')) from None
    out = run.suggestions[run.suggestions["status"] == "ok"]
    gain = (out[f"{objective}_new"] - out[f"{objective}_now"]).sort_values(ascending=False)
    for _, r in out.loc[gain.index[:show]].iterrows():
        title = f" ({escape(r['title'])})" if isinstance(r.get("title"), str) else ""
        line = f"[bold]{escape(r['item_id'])}[/]{title}: {escape(r['reason'])}"
        console.print(line, highlight=False)
    skipped = run.suggestions[run.suggestions["status"] != "ok"]
    total_now, total_new = out[f"{objective}_now"].sum(), out[f"{objective}_new"].sum()
    console.print(
        f"{len(out)} products priced ({len(skipped)} with too little history); expected "
        f"{objective} per period {total_now:,.0f} -> {total_new:,.0f}; all in {run.path}"
    )


@app.command()
def simulate(
    file: FileOpt = None,
    top: TopOpt = 300,
    horizon: Annotated[
        int | None, typer.Option(min=2, help="periods per episode; default: one year")
    ] = None,
    seeds: Annotated[int, typer.Option(min=2, help="simulated worlds")] = 20,
    cost_share: Annotated[float, typer.Option(min=0.0, max=0.99)] = 0.5,
    min_ratio: MinOpt = 0.7,
    max_ratio: MaxOpt = 1.3,
    max_change: StepOpt = 0.10,
    margin_floor: MarginOpt = 0.05,
    store: StoreOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Try the price policies in a simulator fitted on the data: revenue, profit and
    regret against an oracle over many seeded worlds, and a learning-curve plot."""
    from shopsense.pricing import workflows

    s = settings(store, models_dir)
    rules = _constraints(min_ratio, max_ratio, max_change, margin_floor)
    try:
        run = workflows.simulate(
            s,
            file=file,
            constraints=rules,
            horizon=horizon,
            seeds=seeds,
            cost_share=cost_share,
            top=top,
        )
    except (ValueError, FileNotFoundError) as e:
        raise fail(str(e)) from None
    shown = run.summary[["policy", "profit", "regret", "profit_vs_current"]].rename(
        columns={"profit_vs_current": "vs_current"}
    )
    print_frame(shown, title=f"mean over {seeds} worlds", decimals=_DECIMALS)
    console.print(f"learning curves: {run.plot}")
