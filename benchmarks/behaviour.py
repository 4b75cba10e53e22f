"""Customer behaviour on UCI Online Retail (and DIGINETICA sessions): one table for
segmentation, anomaly detection and prediction, with run times.

- Segments: RFM rules vs an ensemble of 10 autoencoders whose embeddings are clustered by
  consensus (the default), by k-means (k by silhouette) or by a Gaussian mixture (k by
  BIC), and a single autoencoder + k-means; on every customer; silhouette on the
  standardised features, stability as the mean adjusted Rand index over 3 seeds.
- Anomalies: IsolationForest vs the GRU sequence autoencoder on one temporal split (first
  80% of invoices / sessions to fit, last 20% to score), against real labels and against
  anomalies injected at 1% (mean over 5 seeds).
- Prediction: evaluation cut-off 2011-09-01; models train on 6 earlier rolling cut-offs
  whose label windows end by it. Purchase in 30 days and churn (no purchase in 90) against
  the base rate, logistic regression and gradient boosting; 90-day value with BG/NBD +
  Gamma-Gamma, last period's spend, gradient boosting and the GRU.

Order lines are the order-line view (line types and item kinds resolved), so postage, fees
and vouchers are never counted as purchases; the order anomaly "manual_adjustment" labels an
invoice with a line whose item kind is adjustment.

Run:  .venv/bin/python benchmarks/behaviour.py [--quick]   (~5 min; --quick: the bundled sample)
Writes benchmarks/results/behaviour.json (one flat record per data set × task × model ×
label) and behaviour.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
from provenance import header, stamp
from recommend_classic import markdown_cell

from shopsense.behavior.anomaly import evaluate_orders, evaluate_sessions
from shopsense.behavior.predict import (
    ChurnModel,
    NextPurchaseModel,
    aligned,
    calibration_plot,
    probability_scores,
    rolling_cutoffs,
    temporal_split,
)
from shopsense.behavior.segments import CustomerSegmenter
from shopsense.behavior.value import CustomerValueModel, value_scores
from shopsense.config import Settings
from shopsense.data.customers import CustomerHistory, product_groups
from shopsense.data.sources import load_source

RESULTS = Path(__file__).parent / "results"
CUTOFF = pd.Timestamp("2011-09-01")


def segments(history: CustomerHistory) -> list[dict[str, Any]]:
    rows = []
    for label, params in [
        ("rfm", {"method": "rfm"}),
        ("autoencoder+consensus (default)", {"method": "autoencoder"}),
        ("autoencoder+kmeans", {"method": "autoencoder", "clusterer": "kmeans"}),
        ("autoencoder+gmm", {"method": "autoencoder", "clusterer": "gmm"}),
        ("1 autoencoder+kmeans", {"method": "autoencoder", "clusterer": "kmeans", "ensemble": 1}),
    ]:
        began = time.perf_counter()
        model = CustomerSegmenter(**params).fit(history)
        report = model.report()
        rows.append(
            {
                "task": "segments",
                "model": label,
                "customers": report["customers"],
                "k": report["k"],
                "silhouette_features": report.get("silhouette_features"),
                "silhouette": report.get("silhouette"),
                "ari_seeds": report.get("stability", {}).get("ari_mean"),
                "train_s": round(time.perf_counter() - began, 2),
            }
        )
        print(rows[-1], flush=True)
    return rows


def anomalies(order_lines: pd.DataFrame, events: pd.DataFrame, seeds: int) -> list[dict]:
    rows = []
    for frame in (
        evaluate_orders(order_lines, seeds=range(seeds)),
        evaluate_sessions(events, seeds=range(seeds)),
    ):
        for r in frame.to_dict(orient="records"):
            rows.append(
                {
                    "task": f"anomaly_{r['unit']}",
                    "model": r["detector"],
                    "label": f"{r['label']}, {r['label_kind']}",
                    "roc_auc": r["roc_auc"],
                    "pr_auc": r["pr_auc"],
                    "positives": r["positives"],
                    "n_test": r["n_test"],
                    "train_s": round(float(r["fit_s"]), 2),
                }
            )
            print(rows[-1], flush=True)
    return rows


def prediction(history: CustomerHistory, plots: Path | None) -> list[dict[str, Any]]:
    train = history.until(CUTOFF)
    rows = []
    for task, cls, horizon, kinds in [
        ("purchase_30d", NextPurchaseModel, 30, ["base_rate", "logreg", "gbm", "gru"]),
        ("churn_90d", ChurnModel, 90, ["base_rate", "logreg", "gbm", "gru"]),
        ("value_90d", CustomerValueModel, 90, ["bgnbd", "last_period", "gbm", "gru"]),
    ]:
        split = temporal_split(history, CUTOFF, horizon)
        cutoffs = rolling_cutoffs(train, horizon, n=6)
        curves = {}
        for kind in kinds:
            began = time.perf_counter()
            model = cls(kind, horizon_days=horizon, random_state=0).fit(train, cutoffs)
            fit_s = time.perf_counter() - began
            predict = model.predict if task == "value_90d" else model.predict_proba
            y, p = aligned(model.target(split.labels), predict(split.past))
            score = value_scores if task == "value_90d" else probability_scores
            metrics = {k: float(v) for k, v in score(y, p).items()}
            row = {"task": task, "model": kind, "customers": len(y), **metrics}
            rows.append({**row, "train_s": round(fit_s, 2)})
            print(rows[-1], flush=True)
            curves[kind] = (y, p)
        if task != "value_90d" and plots is not None:
            calibration_plot(curves, plots / f"behaviour_calibration_{task}.png",
                             title=f"{task}, cut-off {CUTOFF:%Y-%m-%d}")  # fmt: skip
    return rows


COLUMNS = ["task", "model", "label", "customers", "k", "silhouette_features", "silhouette",
           "ari_seeds", "roc_auc", "pr_auc", "brier", "mae", "top_decile_share", "total_ratio",
           "positives", "train_s"]  # fmt: skip


def to_markdown(records: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    frame = pd.DataFrame(records)
    lines = [
        "# Customer behaviour",
        "",
        "UCI Online Retail (4,372 customers, 25,900 invoices) and DIGINETICA sessions. Segments "
        "on every customer; anomalies on a temporal 80/20 split of invoices and sessions (real "
        "labels, and injected anomalies at 1%, mean over seeds); prediction at the cut-off "
        f"{CUTOFF:%Y-%m-%d} with models trained on 6 earlier rolling cut-offs. "
        f"Total {meta['total_s']:.0f} s. {header(meta)}",
    ]
    for task, part in frame.groupby("task", sort=False):
        cols = [c for c in COLUMNS if c in part and part[c].notna().any()]
        lines += ["", f"## {task}", "", "| " + " | ".join(cols) + " |",
                  "|" + "---|" * len(cols)]  # fmt: skip
        for _, row in part.iterrows():
            lines.append("| " + " | ".join(markdown_cell(row.get(c)) for c in cols) + " |")
    lines += ["", "## Calibration", ""]
    for task in ("purchase_30d", "churn_90d"):
        lines.append(f"![calibration, {task}](behaviour_calibration_{task}.png)")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    from recommend_classic import run_meta

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="bundled sample, 2 seeds")
    parser.add_argument("--out", type=Path, default=RESULTS / "behaviour.json")
    args = parser.parse_args(argv)
    begin = time.perf_counter()
    root = Settings().data_root
    if args.quick:
        from shopsense.data.sources import load_sample

        retail = load_sample()
        args.out = Path(__file__).parent / ".work" / "behaviour" / "behaviour.json"
    else:
        retail = load_source("uci-online-retail", root)
    sessions = load_source("diginetica-sample", root).tables["events"]
    lines = retail.order_lines_view()  # kinds resolved: postage and fees are not purchases
    history = CustomerHistory.from_order_lines(
        lines, groups=product_groups(retail.tables["items"], n_groups=12)
    )
    records = segments(history)
    records += anomalies(lines, sessions, seeds=2 if args.quick else 5)
    records += prediction(history, plots=args.out.parent)
    for r in records:
        r["dataset"] = (
            "diginetica-sample" if r["task"] == "anomaly_session" else "uci-online-retail"
        )
    meta = run_meta("behaviour", 1, begin, argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    records = stamp(records, meta)
    args.out.write_text(json.dumps(records, indent=1, default=float) + "\n")
    md = to_markdown(records, meta)
    args.out.with_suffix(".md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
