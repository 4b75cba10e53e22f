"""Deep recommenders vs the best classic ones, same split, same metric code.

Protocol: leave-last-out as in `recommend_classic.py` (each user's last purchase is test,
the one before validation; repeat purchases of an item are dropped so the held-out item is
new), full ranking over every item the user has not had.

- Deep models train on train, stop early on validation NDCG@10 (patience in validation
  rounds) and keep their best epoch; for the test they read train + validation as history
  without retraining (sequence models and autoencoders use it at once; NeuMF's users are
  learned parameters, so only its exclusions change — the paper's protocol for SASRec).
- Classic baselines (EASE, ItemKNN, MostPopular) use the settings their grid picked in
  `recommend_classic.py` and are refitted on train + validation, their usual protocol.

Every model runs to its epoch cap or until early stopping; the caps keep the whole run
under an hour on 2 CPU cores (fewer epochs, never less data). The settings per model and
data set are in `DEEP` below and in each result row.

Run:  .venv/bin/python benchmarks/recommend_deep.py [--datasets ...] [--models ...]
Writes benchmarks/results/recommend_deep.{json,md} and recommend_deep_curves.png.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from provenance import header, stamp
from recommend_classic import PeakMemory, load, run_meta
from threadpoolctl import threadpool_limits

from shopsense.config import Settings
from shopsense.eval.evaluate import evaluate
from shopsense.eval.splits import Split, leave_last_out
from shopsense.recommend import EASE, GRU4Rec, ItemKNN, MostPopular, SASRec
from shopsense.recommend.autoencoders import MultDAE, MultVAE
from shopsense.recommend.base import Recommender
from shopsense.recommend.ncf import NeuMF
from shopsense.recommend.neural import NeuralRecommender
from shopsense.train.trainer import EpochLog

RESULTS = Path(__file__).parent / "results"
DATASETS = ("amazon-beauty-seq", "uci-online-retail")

#: deep models: class and settings per data set (epoch caps sized to the time budget)
DEEP: dict[str, tuple[type[NeuralRecommender], dict[str, dict[str, Any]]]] = {
    "sasrec": (SASRec, {"amazon-beauty-seq": {"epochs": 30}, "uci-online-retail": {"epochs": 40}}),
    "gru4rec": (
        GRU4Rec,
        {"amazon-beauty-seq": {"epochs": 30}, "uci-online-retail": {"epochs": 40}},
    ),
    "multvae": (
        MultVAE,
        {
            "amazon-beauty-seq": {"epochs": 24, "batch_size": 128},
            "uci-online-retail": {"epochs": 60, "batch_size": 128},
        },
    ),
    "multdae": (
        MultDAE,
        {
            "amazon-beauty-seq": {"epochs": 24, "batch_size": 128},
            "uci-online-retail": {"epochs": 60, "batch_size": 128},
        },
    ),
    "neumf": (NeuMF, {"amazon-beauty-seq": {"epochs": 20}, "uci-online-retail": {"epochs": 40}}),
}
#: shared by every deep model: validate every 2 epochs on up to 10,000 users (all of Online
#: Retail's), stop after 2 validations without a gain
DEEP_COMMON = {"patience": 2, "validate_every": 2, "validation_users": 10_000}

#: classic baselines with the settings their grid picked in recommend_classic.py
CLASSIC: dict[str, tuple[type[Recommender], dict[str, dict[str, Any]]]] = {
    "ease": (EASE, {"amazon-beauty-seq": {"l2": 50.0}, "uci-online-retail": {"l2": 50.0}}),
    "itemknn": (
        ItemKNN,
        {
            "amazon-beauty-seq": {"neighbors": 200, "shrink": 10.0, "weighting": "none"},
            "uci-online-retail": {"neighbors": 50, "shrink": 10.0, "weighting": "bm25"},
        },
    ),
    "popular": (MostPopular, {"amazon-beauty-seq": {}, "uci-online-retail": {}}),
}
MODELS = (*DEEP, *CLASSIC)


def _metrics(model: Recommender, split: Split) -> dict[str, float]:
    report = evaluate(model, split.test, k=[10, 20], metrics=["hr", "ndcg", "recall"])
    return {
        "hr@10": round(report.metrics["hr@10"], 4),
        "ndcg@10": round(report.metrics["ndcg@10"], 4),
        "recall@20": round(report.metrics["recall@20"], 4),
        "test_users": report.n_users,
    }


def _log_epoch(name: str) -> Callable[[EpochLog], None]:
    def log(h: EpochLog) -> None:
        val = "" if h.metric is None else f", validation ndcg@10 {h.metric:.4f}"
        print(f"  {name} epoch {h.epoch}: loss {h.loss:.4f}{val} ({h.seconds:.1f}s)",
              file=sys.stderr, flush=True)  # fmt: skip

    return log


def run_deep(name: str, dataset: str, split: Split) -> tuple[dict[str, Any], list[dict]]:
    cls, settings = DEEP[name]
    params = {**DEEP_COMMON, **settings[dataset]}
    model = cls(**params)
    with PeakMemory() as mem:
        start = time.perf_counter()
        model.fit(split.train, validation=split.validation, on_epoch_end=_log_epoch(name))
        train_s = time.perf_counter() - start
    t = model.training_
    model.with_history(split.train_and_validation())
    record = {
        "dataset": dataset,
        "model": name,
        "kind": "deep",
        **_metrics(model, split),
        "val_ndcg@10": round(t.best_metric or 0.0, 4),
        "epochs": t.epochs,
        "best_epoch": t.best_epoch,
        "stopped_early": t.stopped_early,
        "epoch_s": round(t.seconds_per_epoch, 1),
        "train_s": round(train_s, 1),
        "peak_mb": round(mem.mb, 1),
        "params": json.dumps(params),
    }
    curve = [{"dataset": dataset, "model": name, **vars(h)} for h in t.history]
    return record, curve


def run_classic(name: str, dataset: str, split: Split) -> dict[str, Any]:
    cls, settings = CLASSIC[name]
    params = settings[dataset]
    val_model = cls(**params).fit(split.train)
    val = evaluate(val_model, split.validation, k=10, metrics=["ndcg"]).metrics["ndcg@10"]
    del val_model
    with PeakMemory() as mem:
        start = time.perf_counter()
        model = cls(**params).fit(split.train_and_validation())
        train_s = time.perf_counter() - start
    return {
        "dataset": dataset,
        "model": name,
        "kind": "classic",
        **_metrics(model, split),
        "val_ndcg@10": round(val, 4),
        "epochs": None,
        "best_epoch": None,
        "stopped_early": None,
        "epoch_s": None,
        "train_s": round(train_s, 1),
        "peak_mb": round(mem.mb, 1),
        "params": json.dumps(params),
    }


def to_markdown(records: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    cols = ["model", "kind", "hr@10", "ndcg@10", "recall@20", "val_ndcg@10", "epochs",
            "best_epoch", "epoch_s", "train_s", "peak_mb"]  # fmt: skip
    lines = [
        "# Deep recommenders vs the best classic ones",
        "",
        f"Leave-last-out, full ranking. Deep models: trained on train with early stopping on "
        f"validation NDCG@10, tested reading train + validation as history. Classic: refit on "
        f"train + validation. {meta['threads']} threads; total {meta['total_s'] / 60:.1f} min. "
        f"{header(meta)}",
    ]
    frame = pd.DataFrame(records)
    for dataset, part in frame.groupby("dataset", sort=False):
        lines += [
            "",
            f"## {dataset} ({part.iloc[0]['test_users']:,} test users)",
            "",
            "| " + " | ".join(cols) + " |",
            "|" + "---|" * len(cols),
        ]
        for _, row in part.sort_values("ndcg@10", ascending=False).iterrows():
            cells = [_cell(row[c]) for c in cols]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", "Settings:", ""]
        lines += [f"- {row['model']}: `{row['params']}`" for _, row in part.iterrows()]
    lines += ["", "![validation NDCG@10 per epoch](recommend_deep_curves.png)"]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if pd.isna(value):
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1:
        return str(int(value))  # epochs read back as floats next to the classic rows' gaps
    return str(value)


def plot_curves(curves: list[dict[str, Any]], records: list[dict[str, Any]], out: Path) -> None:
    """Validation NDCG@10 per epoch of each deep model, EASE's as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = pd.DataFrame(curves).dropna(subset=["metric"])
    if frame.empty:
        return
    datasets = list(dict.fromkeys(frame["dataset"]))
    fig, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 4), squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        for model, part in frame[frame["dataset"] == dataset].groupby("model", sort=False):
            ax.plot(part["epoch"], part["metric"], marker="o", ms=3, label=model)
        for r in records:
            if r["dataset"] == dataset and r["model"] == "ease":
                ax.axhline(r["val_ndcg@10"], ls="--", color="grey", label="ease (validation)")
        ax.set(title=dataset, xlabel="epoch", ylabel="validation NDCG@10")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=RESULTS / "recommend_deep.json")
    args = parser.parse_args(argv)
    root = Settings().data_root
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    records: list[dict[str, Any]] = []
    curves: list[dict[str, Any]] = []
    begin = time.perf_counter()
    import torch

    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        for dataset in args.datasets:
            data, _ = load(dataset, root)
            split = leave_last_out(data)
            log(f"{dataset}: {data}; {split.summary()}")
            for name in args.models:
                if name in DEEP:
                    record, curve = run_deep(name, dataset, split)
                    curves += curve
                else:
                    record = run_classic(name, dataset, split)
                log(f"{dataset} {name}: {record}")
                records.append(record)
    meta = run_meta("recommend_deep", args.threads, begin, argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    records = stamp(records, meta)
    args.out.write_text(json.dumps(records, indent=1) + "\n")
    args.out.with_name(args.out.stem + "_curves.json").write_text(
        json.dumps(curves, indent=1, default=float) + "\n"
    )
    plot_curves(curves, records, args.out.with_name(args.out.stem + "_curves.png"))
    md = to_markdown(records, meta)
    args.out.with_suffix(".md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
