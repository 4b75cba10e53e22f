"""Pricing benchmark: demand forecasts, elasticities, demand at held-out prices, and price
policies in a simulator fitted on the data — one table.

Order lines are the order-line view (line types and item kinds resolved): postage, fees,
vouchers and manual adjustments are not products and are never counted as units sold.

Forecasts. Protocol: the top products by net units sold before the first origin
(2011-08-01), rolling origins on the first day of Aug, Sep, Oct and Nov 2011; at each origin
every model is fitted on the days before it and forecasts 28 calendar days; horizons 7 and
28 are scored on the days the shop traded.
MASE is scaled by each product's in-sample seasonal-naive (weekly) error; WAPE is summed
over all products and days. The deep models are global (one network for all products)
with quantile heads for 80% / 95% intervals.

Elasticity. Per-product log-log regressions with 90% Poisson-bootstrap intervals on the
monthly retail-price panel (52 products) and the weekly UCI panel (the same top products,
chosen before 2011-08-01; median line price); how many products can be estimated, the share
with a negative own estimate, and the median interval width.

Demand at held-out prices. The deep price-conditioned demand model against the per-product
log-log regression and the per-product mean, fitted before a cut-off (UCI 2011-09-01,
retail panel 2018-03-01) and scored on the later periods at the prices charged then
(Poisson deviance, MAE).

Policies. The world is the simulator fitted on the whole panel; the policies start at the
demand cut-off (retail 2018-03-01, UCI the week of 2011-09-05) and learn only from the
history before it (its own elasticity fit, level and season estimates: `PriceHistory`),
today's price then and the unit cost (half today's price); only the oracle and the best
fixed price see the world's curves. Products with fewer than 4 priced periods before the
start are left out. Rules: 0.7-1.3x the current price, at most 10% change per period, 5%
margin floor; one year (52 weeks / 12 months), 20 seeded worlds (elasticities redrawn from
their uncertainty), common random numbers. Profit and revenue are totals over the horizon
and all products; regret is the expected profit short of an oracle that knows the world's
curves; *_ci are 95% t-intervals over the worlds; profit_vs_current is the mean relative
profit change against keeping today's price.

Run:  .venv/bin/python benchmarks/pricing.py [--items 300] [--part all|forecast|policy]
      [--quick]   (~10 min for all; the policy part ~2 min; --quick ~1)
Writes benchmarks/results/pricing.json (one flat record per task × dataset × model [×
horizon], each stamped with commit, command and machine), pricing.md, pricing_forecasts.png
(forecasts with intervals) and pricing_learning_curves.png (cumulative regret per policy).
`--part policy` keeps the forecast records of the last full run, with their provenance.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from provenance import header, stamp

from shopsense.config import Settings
from shopsense.data.customers import product_groups
from shopsense.data.demand import DemandView, demand_view
from shopsense.data.panel import PricePanel, panel_from_order_lines, read_price_panel
from shopsense.data.sources import load_source
from shopsense.pricing.deep_demand import holdout_comparison
from shopsense.pricing.elasticity import ElasticityModel
from shopsense.pricing.forecast import backtest, eligible_items, forecaster, summarize
from shopsense.pricing.policy import PriceConstraints, evaluate
from shopsense.pricing.workflows import plot_learning_curves, policy_suite, world_and_history

RESULTS = Path(__file__).parent / "results"
CUTOFFS = ["2011-08-01", "2011-09-01", "2011-10-01", "2011-11-01"]
CHOSEN_BEFORE = CUTOFFS[0]
"""The UCI products benchmarked are the best sellers before this day: before the first
forecast origin and before the policies start, so no choice leans on the future."""
DEMAND_CUTOFFS = {"retail": "2018-03-01", "uci": "2011-09-01"}
KINDS = ["seasonal_naive", "ets", "lstm", "gru"]


def run(view: DemandView, cutoffs: list[str]) -> pd.DataFrame:
    frames = []
    for kind in KINDS:
        began = time.perf_counter()
        metrics = backtest(
            view, lambda k=kind: forecaster(k, horizon=28, random_state=0), cutoffs, (7, 28)
        )
        frames.append(summarize(metrics))
        print(f"{kind}: {time.perf_counter() - began:.0f} s", flush=True)
    return pd.concat(frames, ignore_index=True)


def records(summary: pd.DataFrame, n_items: int) -> list[dict[str, Any]]:
    out = []
    for row in summary.to_dict(orient="records"):
        base = summary[(summary.model == "seasonal_naive") & (summary.horizon == row["horizon"])]
        ets = summary[(summary.model == "ets") & (summary.horizon == row["horizon"])]
        out.append(
            {
                "task": "forecast",
                "dataset": f"uci-online-retail (top {n_items} before {CHOSEN_BEFORE})",
                "model": row["model"],
                "horizon": int(row["horizon"]),
                "mase": round(float(row["mase"]), 4),
                "mase_median": round(float(row["mase_median"]), 4),
                "smape": round(float(row["smape"]), 4),
                "wape": round(float(row["wape"]), 4),
                "coverage80": _maybe(row.get("coverage80")),
                "coverage95": _maybe(row.get("coverage95")),
                "mase_vs_seasonal_naive": round(float(row["mase"] / base["mase"].iloc[0] - 1), 4),
                "mase_vs_ets": round(float(row["mase"] / ets["mase"].iloc[0] - 1), 4),
                "products": int(row["products"]),
                "train_s": round(float(row["fit_seconds"]), 3),
            }
        )
    return out


def _maybe(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else round(float(value), 4)


def plot_forecasts(view: DemandView, cutoff: str, path: Path, n: int = 3) -> None:
    """The GRU's 28-day forecast with 80% / 95% bands against what sold, for the top
    products, from the last origin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    past = view.until(cutoff)
    past = past.select(eligible_items(past, min_history=28))  # what a backtest would fit
    items = past.top_items(n)
    model = forecaster("gru", horizon=28, random_state=0).fit(past)
    forecast = model.predict(past, 28)
    daily = view.daily
    fig, axes = plt.subplots(n, 1, figsize=(10, 2.6 * n), sharex=True)
    start = pd.Timestamp(cutoff) - pd.Timedelta(days=42)
    end = pd.Timestamp(cutoff) + pd.Timedelta(days=28)
    for ax, item in zip(axes, items, strict=True):
        seen = daily[(daily.item_id == item) & (daily.date >= start) & (daily.date < end)]
        mine = forecast[forecast.item_id == item]
        ax.fill_between(mine.date, mine.lo95, mine.hi95, color="#2f6fde", alpha=0.15, label="95%")
        ax.fill_between(mine.date, mine.lo80, mine.hi80, color="#2f6fde", alpha=0.3, label="80%")
        ax.plot(mine.date, mine.forecast, color="#2f6fde", label="GRU forecast")
        ax.plot(seen.date, seen.units, color="#1f2933", marker=".", lw=0.8, label="units sold")
        ax.axvline(pd.Timestamp(cutoff), color="#9aa5b1", ls="--")
        # spiky products get very wide 95% bands: keep the axis on what sold and the 80% band
        top = max(float(seen.units.max()), float(mine.hi80.max())) * 1.3
        ax.set_ylim(0, top)
        ax.set_title(f"product {item} (95% band clipped to the axis)", loc="left", fontsize=10)
    axes[0].legend(loc="upper left", fontsize=8, ncol=4, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ===================================================================== pricing policy
def panels(n_items: int, data_root: Path) -> dict[str, PricePanel]:
    """The two price panels: monthly retail-price (all 52 products), weekly UCI (the top n
    products before `CHOSEN_BEFORE`)."""
    retail = read_price_panel(data_root / "retail-price-optimization" / "retail_price.csv")
    source = load_source("uci-online-retail", data_root)
    lines = source.order_lines_view()
    view = demand_view(lines, source="uci-online-retail")
    top = view.until(CHOSEN_BEFORE).top_items(n_items)
    items = source.tables["items"]
    groups = product_groups(items[items["item_id"].isin(set(top))])
    uci = panel_from_order_lines(lines, items=top, categories=groups, view=view)
    return {
        "retail-price-optimization (monthly)": retail,
        f"uci-online-retail (top {n_items} before {CHOSEN_BEFORE}, weekly)": uci,
    }


def first_period_from(panel: PricePanel, day: str) -> pd.Timestamp:
    """The first period starting on or after `day`: a history before it holds no later day."""
    periods = panel.frame["period"]
    return pd.Timestamp(periods[periods >= pd.Timestamp(day)].min())


def elasticity_records(name: str, model: ElasticityModel, seconds: float) -> dict[str, Any]:
    t = model.table_
    ok = t[t["status"] == "ok"]
    return {
        "task": "elasticity",
        "dataset": name,
        "model": "log-log per product, bootstrap",
        "products": len(t),
        "estimable": len(ok),
        "flagged_variation": int(t["status"].str.contains("price").sum()),
        "flagged_periods": int((t["status"] == "too few periods").sum()),
        "negative_share": round(float((ok["elasticity_own"] < 0).mean()), 4),
        "median_elasticity": round(float(ok["elasticity_own"].median()), 4),
        "median_ci_width": round(float((ok["own_high"] - ok["own_low"]).median()), 4),
        "categories": len(model.categories_),
        "train_s": round(seconds, 3),
    }


def demand_records(name: str, panel: PricePanel, cutoff: str) -> list[dict[str, Any]]:
    began = time.perf_counter()
    scores = holdout_comparison(panel, cutoff)
    seconds = time.perf_counter() - began
    names = {"deep": "deep price-conditioned (Poisson)", "loglog": "log-log per product",
             "item_mean": "per-product mean"}  # fmt: skip
    return [
        {
            "task": "demand at held-out prices",
            "dataset": name,
            "model": names[model],
            "cutoff": cutoff,
            "poisson_deviance": round(float(r["poisson_deviance"]), 4),
            "scaled_deviance": round(float(r["scaled_deviance"]), 4),
            "mae": round(float(r["mae"]), 4),
            "rows": int(r["rows"]),
            "train_s": round(seconds, 1) if model == "deep" else None,
        }
        for model, r in scores.iterrows()
    ]


def policy_records(
    name: str,
    panel: PricePanel,
    model: ElasticityModel,
    as_of: pd.Timestamp,
    seeds: int,
    plot: Path | None,
) -> list[dict[str, Any]]:
    """Policies from the history before `as_of` in the world fitted on the whole panel."""
    sim, history = world_and_history(panel, as_of, world_model=model)
    horizon = panel.periods_per_year
    began = time.perf_counter()
    ev = evaluate(sim, history, policy_suite(horizon), PriceConstraints(), horizon=horizon,
                  seeds=seeds, progress=False)  # fmt: skip
    seconds = time.perf_counter() - began
    if plot is not None:
        plot_learning_curves(ev, plot, period="week" if panel.freq == "W" else "month")
    out = []
    for r in ev.summary().to_dict(orient="records"):
        out.append(
            {
                "task": "policy",
                "dataset": name,
                "model": r["policy"],
                "start": f"{as_of:%Y-%m-%d}",
                "horizon": horizon,
                "seeds": int(r["seeds"]),
                "products": sim.n_items,
                **{k: round(float(r[k]), 1) for k in ("profit", "profit_ci", "revenue",
                                                       "revenue_ci", "regret", "regret_ci")},
                "profit_vs_current": round(float(r["profit_vs_current"]), 4),
                "profit_vs_current_ci": round(float(r["profit_vs_current_ci"]), 4),
                "run_s": round(seconds, 1),
            }
        )  # fmt: skip
    return out


def run_policy(n_items: int, seeds: int, data_root: Path, results: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i, (name, panel) in enumerate(panels(n_items, data_root).items()):
        began = time.perf_counter()
        model = ElasticityModel().fit(panel)
        rows.append(elasticity_records(name, model, time.perf_counter() - began))
        cutoff = DEMAND_CUTOFFS["retail" if name.startswith("retail") else "uci"]
        rows += demand_records(name, panel, cutoff)
        plot = results / f"pricing_learning_curves_{'retail' if i == 0 else 'uci'}.png"
        as_of = first_period_from(panel, cutoff)
        rows += policy_records(name, panel, model, as_of, seeds, plot)
        print(f"{name}: {time.perf_counter() - began:.0f} s", flush=True)
    return rows


def _table(rows: list[dict[str, Any]], cols: list[str]) -> list[str]:
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = ["" if r.get(c) is None else str(r.get(c)) for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def to_markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    forecast = [r for r in rows if r.get("task", "forecast") == "forecast"]
    head = f"Total {meta['total_s']:.0f} s. {header(meta)}"
    if meta.get("kept_forecast") and forecast:
        kept = forecast[0]
        head += (
            f" The forecast table is kept from an earlier run (commit "
            f"`{kept.get('commit', 'unknown')}`, command `{kept.get('command', '?')}`)."
        )
    lines = ["# Pricing", "", head + " Protocols: see the script's docstring.", ""]
    if forecast:
        cols = ["model", "horizon", "mase", "mase_median", "smape", "wape", "coverage80",
                "coverage95", "mase_vs_seasonal_naive", "mase_vs_ets", "products",
                "train_s"]  # fmt: skip
        lines += [
            "## Demand forecasting",
            "",
            f"{forecast[0]['dataset']}, rolling origins {', '.join(CUTOFFS)}, 28-day "
            "forecasts scored at 7 and 28 days on trading days. mase_vs_* is the relative "
            "change in mean MASE (negative: better). train_s is the mean fit time per origin.",
            "",
        ]
        ordered = sorted(forecast, key=lambda r: (r["horizon"], KINDS.index(r["model"])))
        lines += _table(ordered, cols)
        lines += ["", "![forecasts with intervals](pricing_forecasts.png)", ""]
    sections = [
        ("elasticity", "## Elasticity", ["dataset", "products", "estimable",
         "flagged_variation", "flagged_periods", "negative_share", "median_elasticity",
         "median_ci_width", "categories", "train_s"]),
        ("demand at held-out prices", "## Demand at held-out prices", ["dataset", "model",
         "cutoff", "poisson_deviance", "scaled_deviance", "mae", "rows", "train_s"]),
        ("policy", "## Price policies in the fitted simulator", ["dataset", "model",
         "start", "horizon", "seeds", "profit", "profit_ci", "revenue", "regret", "regret_ci",
         "profit_vs_current", "profit_vs_current_ci"]),
    ]  # fmt: skip
    for task, title, cols in sections:
        part = [r for r in rows if r.get("task") == task]
        if part:
            lines += [title, "", *_table(part, cols), ""]
    if any(r.get("task") == "policy" for r in rows):
        lines += ["![learning curves, retail panel](pricing_learning_curves_retail.png)",
                  "![learning curves, UCI](pricing_learning_curves_uci.png)"]  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    from recommend_classic import run_meta

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=300, help="top products by units")
    parser.add_argument("--part", choices=["all", "forecast", "policy"], default="all")
    parser.add_argument("--seeds", type=int, default=20, help="simulated worlds per policy")
    parser.add_argument("--quick", action="store_true", help="50 products, 2 origins, 4 seeds")
    parser.add_argument("--out", type=Path, default=RESULTS / "pricing.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    begin = time.perf_counter()
    cutoffs = CUTOFFS[-2:] if args.quick else CUTOFFS
    n_items = 50 if args.quick else args.items
    seeds = 4 if args.quick else args.seeds
    if args.quick:
        args.out = Path(__file__).parent / ".work" / "pricing" / "pricing.json"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    data_root = Settings().data_root
    kept = json.loads(args.out.read_text()) if args.out.exists() else []
    rows: list[dict[str, Any]] = []
    view = None
    new: list[dict[str, Any]] = []
    if args.part in ("all", "forecast"):
        lines = load_source("uci-online-retail", data_root).order_lines_view()
        view = demand_view(lines, source="uci-online-retail")
        view = view.select(view.until(CHOSEN_BEFORE).top_items(n_items))
        new += records(run(view, cutoffs), n_items)
    else:  # keep the last forecast results, with their own provenance
        rows += [{"task": "forecast", **r} for r in kept if r.get("task", "forecast") == "forecast"]
    if args.part in ("all", "policy"):
        new += run_policy(n_items, seeds, data_root, args.out.parent)
    meta = {**run_meta("pricing", 1, begin, argv), "cutoffs": cutoffs}
    meta["kept_forecast"] = args.part == "policy"
    rows += stamp(new, meta)
    if args.part == "forecast":
        rows += [r for r in kept if r.get("task", "forecast") != "forecast"]
    args.out.write_text(json.dumps(rows, indent=1) + "\n")  # before the plot: kept if it fails
    md = to_markdown(rows, meta)
    args.out.with_suffix(".md").write_text(md)
    print(md)
    if view is not None:
        plot_forecasts(view, cutoffs[-1], args.out.with_name("pricing_forecasts.png"))


if __name__ == "__main__":
    main()
