"""Demand forecasting on UCI Online Retail: global LSTM/GRU against seasonal naive and ETS.

Protocol: the top products by net units sold, rolling origins on the first day of Aug,
Sep, Oct and Nov 2011; at each origin every model is fitted on the days before it and
forecasts 28 calendar days; horizons 7 and 28 are scored on the days the shop traded.
MASE is scaled by each product's in-sample seasonal-naive (weekly) error; WAPE is summed
over all products and days. The deep models are global (one network for all products)
with quantile heads for 80% / 95% intervals.

Run:  .venv/bin/python benchmarks/pricing.py [--items 300] [--quick]   (~10 min; --quick ~1)
Writes benchmarks/results/pricing.json (one flat record per model × horizon), pricing.md
and pricing_forecasts.png (a few forecasts with their intervals). The price policy and
elasticity parts of the pricing pillar are not built yet.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from shopsense.config import Settings
from shopsense.data.sources import load_source
from shopsense.pricing.demand import DemandView, demand_view
from shopsense.pricing.forecast import Forecaster, backtest, eligible_items, summarize

RESULTS = Path(__file__).parent / "results"
CUTOFFS = ["2011-08-01", "2011-09-01", "2011-10-01", "2011-11-01"]
KINDS = ["seasonal_naive", "ets", "lstm", "gru"]


def run(view: DemandView, cutoffs: list[str]) -> pd.DataFrame:
    frames = []
    for kind in KINDS:
        began = time.perf_counter()
        metrics = backtest(
            view, lambda k=kind: Forecaster(kind=k, horizon=28, random_state=0), cutoffs, (7, 28)
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
                "dataset": f"uci-online-retail (top {n_items} products)",
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
    items = [i for i in view.top_items(len(view.items)) if i in set(past.items)][:n]
    model = Forecaster(kind="gru", horizon=28, random_state=0).fit(past)
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


def to_markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    cols = ["model", "horizon", "mase", "mase_median", "smape", "wape", "coverage80",
            "coverage95", "mase_vs_seasonal_naive", "mase_vs_ets", "products",
            "train_s"]  # fmt: skip
    lines = [
        "# Demand forecasting",
        "",
        f"{rows[0]['dataset']}, rolling origins {', '.join(meta['cutoffs'])}, 28-day "
        "forecasts scored at 7 and 28 days on trading days. mase_vs_* is the relative change "
        "in mean MASE (negative: better). train_s is the mean fit time per origin. "
        f"{meta['machine']}; total {meta['total_s']:.0f} s. Command: `{meta['command']}`.",
        "",
        "| " + " | ".join(cols) + " |",
        "|" + "---|" * len(cols),
    ]
    for r in sorted(rows, key=lambda r: (r["horizon"], KINDS.index(r["model"]))):
        lines.append("| " + " | ".join("" if r[c] is None else str(r[c]) for c in cols) + " |")
    lines += ["", "![forecasts with intervals](pricing_forecasts.png)"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    from recommend_classic import run_meta

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=300, help="top products by units")
    parser.add_argument("--quick", action="store_true", help="50 products, 2 origins")
    parser.add_argument("--out", type=Path, default=RESULTS / "pricing.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    begin = time.perf_counter()
    cutoffs = CUTOFFS[-2:] if args.quick else CUTOFFS
    n_items = 50 if args.quick else args.items
    if args.quick:
        args.out = Path(__file__).parent / ".work" / "pricing" / "pricing.json"
    lines = load_source("uci-online-retail", Settings().data_root).tables["order_lines"]
    view = demand_view(lines, source="uci-online-retail")
    view = view.select(view.top_items(n_items))
    summary = run(view, cutoffs)
    rows = records(summary, n_items)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {**run_meta("pricing", 1, begin, argv), "cutoffs": cutoffs}
    args.out.write_text(json.dumps(rows, indent=1) + "\n")  # before the plot: kept if it fails
    md = to_markdown(rows, meta)
    args.out.with_suffix(".md").write_text(md)
    print(md)
    plot_forecasts(view, cutoffs[-1], args.out.with_name("pricing_forecasts.png"))


if __name__ == "__main__":
    main()
