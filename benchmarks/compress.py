"""Compressed inference: each exported deep model in torch eager, ONNX fp32 and ONNX int8.

Protocol (same split and training as `recommend_deep.py`): leave-last-out, full ranking;
each model trains on train with early stopping on validation NDCG@10 (epochs capped by
`--epochs` to bound the run), then reads train + validation as history for the test. The
trained model is exported with the product's own `model.export` (the files the registry
stores) and every runtime is measured on that same model in this process:

- quality: HR@10 / NDCG@10 on the test users with that runtime scoring, and the relative
  change against torch (goal: <= 1% for fp32, <= 2% for int8);
- latency of what the export replaces on real test users — a sequence model's network from
  item history to query vector, an autoencoder's from item row to logits over all items —
  one thread as the service runs it: median and p99 over single calls at batch 1 and 64,
  histories/s at batch 64, and the speed-up over torch eager at the same batch (goal:
  >= 3x at batch 1);
- the file a runtime loads (torch: the safetensors weights).

Trained models are kept under benchmarks/.work/compress/ so a rerun only measures.

Run:  .venv/bin/python benchmarks/compress.py [--datasets ...] [--models ...]
Writes benchmarks/results/compress.{json,md}.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from provenance import header, stamp
from recommend_classic import load, run_meta
from recommend_deep import DEEP, DEEP_COMMON
from threadpoolctl import threadpool_limits

from shopsense.config import Settings
from shopsense.eval.evaluate import evaluate
from shopsense.eval.splits import Split, leave_last_out
from shopsense.recommend import autoencoder_export, exported
from shopsense.recommend.autoencoders import _bags
from shopsense.recommend.neural import WEIGHTS_FILE
from shopsense.recommend.sequential import SequentialRecommender

RESULTS = Path(__file__).parent / "results"
WORK = Path(__file__).parent / ".work" / "compress"
DATASETS = ("amazon-beauty-seq", "uci-online-retail")
MODELS = ("sasrec", "gru4rec", "multvae", "multdae")
RUNTIMES = ("torch", "onnx-fp32", "onnx-int8")
GOALS = {"onnx-fp32": 0.01, "onnx-int8": 0.02}


def trained(name: str, dataset: str, split: Split, epochs: int, threads: int) -> tuple[Any, Path]:
    """The model trained as recommend_deep.py does (epochs capped), from the cache if there."""
    cls, settings = DEEP[name]
    params = {**DEEP_COMMON, **settings[dataset]}
    params["epochs"] = min(params["epochs"], epochs)
    key = hashlib.sha1(json.dumps([dataset, name, params], sort_keys=True).encode()).hexdigest()
    folder = WORK / f"{dataset}-{name}-{key[:10]}"
    if (folder / WEIGHTS_FILE).is_file():
        model = cls.load(folder)
        model.training_seconds = json.loads((folder / "train.json").read_text())["train_s"]
    else:
        model = cls(**params, threads=threads)
        start = time.perf_counter()
        model.fit(split.train, validation=split.validation)
        seconds = time.perf_counter() - start
        model.save(folder)
        (folder / "train.json").write_text(json.dumps({"train_s": round(seconds, 1)}))
        model.training_seconds = round(seconds, 1)
    model.use_runtime(folder, "off")
    model.with_history(split.train_and_validation())
    return model, folder


def _timings(call: Any, batches: list[tuple]) -> np.ndarray:
    for args in batches[:5]:  # warm-up: first calls allocate
        call(*args)
    out = []
    for args in batches:
        start = time.perf_counter()
        call(*args)
        out.append(time.perf_counter() - start)
    return np.asarray(out) * 1000


def _calls(model: Any, runtime: str, users: np.ndarray, batch: int, calls: int) -> tuple:
    """(call, argument tuples) timing what the export replaces, on real users' histories:
    a sequence model's history -> query network; an autoencoder's item row -> logits (the
    first layer's sparse product included on both sides)."""
    rng = np.random.default_rng(0)
    chosen = [rng.choice(users, batch, replace=False) for _ in range(calls)]
    model.module_.eval()
    if isinstance(model, SequentialRecommender):
        args = [model._history_tokens([model.history_of(u) for u in c]) for c in chosen]
        if runtime == "torch":

            def call(tokens: Any, lengths: Any) -> Any:
                with torch.inference_mode():
                    return model._network_states(tokens, lengths)

            return call, args
        return model.runtime_.queries, [(t.numpy(), n.numpy()) for t, n in args]
    rows = [(model.seen_[c],) for c in chosen]
    if runtime == "torch":

        def forward(r: Any) -> Any:
            with torch.inference_mode():
                return model.module_(*_bags(r, model.device_)[:3])[0]

        return forward, rows
    return model.runtime_.logits, rows


def latency(model: Any, runtime: str, users: np.ndarray, batch: int, calls: int) -> dict:
    """p50/p99 ms per call and histories/s of the exported network at `batch`."""
    call, batches = _calls(model, runtime, users, batch, calls)
    ms = _timings(call, batches)
    return {
        "p50_ms": round(float(np.median(ms)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "histories_per_s": round(batch * 1000 / float(np.mean(ms)), 1),
    }


def measure(
    name: str, dataset: str, split: Split, args: argparse.Namespace
) -> list[dict[str, Any]]:
    model, folder = trained(name, dataset, split, args.epochs, args.threads)
    report = model.export(folder)
    users = split.test.active_users
    rows = []
    for runtime in RUNTIMES:
        precision = "off" if runtime == "torch" else runtime.removeprefix("onnx-")
        model.use_runtime(folder, precision)
        files = (
            exported.FILES if isinstance(model, SequentialRecommender) else autoencoder_export.FILES
        )
        if runtime != "torch" and model.runtime_.path.name != files[precision]:
            continue  # a file that missed its parity bar is not used, so not measured
        with threadpool_limits(args.threads):
            torch.set_num_threads(args.threads)
            quality = evaluate(model, split.test, k=10, metrics=["hr", "ndcg"]).metrics
        torch.set_num_threads(1)
        with threadpool_limits(1):
            one = latency(model, runtime, users, 1, args.calls)
            many = latency(model, runtime, users, 64, max(args.calls // 6, 20))
        file = folder / (WEIGHTS_FILE if runtime == "torch" else files[precision])
        check = report["precisions"].get(precision, {})
        rows.append(
            {
                "dataset": dataset,
                "model": name,
                "runtime": runtime,
                "hr@10": round(quality["hr@10"], 4),
                "ndcg@10": round(quality["ndcg@10"], 4),
                "p50_ms": one["p50_ms"],
                "p99_ms": one["p99_ms"],
                "p50_ms_b64": many["p50_ms"],
                "p99_ms_b64": many["p99_ms"],
                "histories_per_s_b64": many["histories_per_s"],
                "file_mb": round(file.stat().st_size / 2**20, 3),
                "top10_agreement": check.get("top10_agreement"),
                "top10_overlap": check.get("top10_overlap"),
                "train_s": model.training_seconds,
                "test_users": len(users),
            }
        )
    base = rows[0]
    for row in rows:
        row["ndcg_change"] = round(row["ndcg@10"] / base["ndcg@10"] - 1, 4)
        row["speedup_b1"] = round(base["p50_ms"] / row["p50_ms"], 2)
        row["speedup_b64"] = round(base["p50_ms_b64"] / row["p50_ms_b64"], 2)
        goal = GOALS.get(row["runtime"])
        row["meets_goal"] = (
            None if goal is None else bool(row["speedup_b1"] >= 3 and row["ndcg_change"] >= -goal)
        )
    return rows


COLUMNS = ["model", "runtime", "ndcg@10", "ndcg_change", "hr@10", "p50_ms", "p99_ms",
           "speedup_b1", "p50_ms_b64", "p99_ms_b64", "speedup_b64", "histories_per_s_b64",
           "file_mb", "top10_agreement", "meets_goal"]  # fmt: skip


def to_markdown(records: list[dict[str, Any]], meta: dict[str, Any], args: Any) -> str:
    lines = [
        "# Compressed inference: torch eager vs ONNX fp32 vs ONNX int8",
        "",
        "Same trained model per row group (recommend_deep.py's settings, epochs capped at "
        f"{args.epochs}), leave-last-out, full ranking. Latency: the exported network (item "
        f"history -> query; an autoencoder's item row -> logits) on real test users, 1 thread, "
        f"{args.calls} calls at batch 1 "
        "and a sixth as many at batch 64; speed-up against torch eager at the same batch. "
        "Goal: >= 3x at batch 1, NDCG@10 within 1% (fp32) / 2% (int8). "
        f"Total {meta['total_s'] / 60:.1f} min. {header(meta)}",
    ]
    frame = pd.DataFrame(records)
    for dataset, part in frame.groupby("dataset", sort=False):
        lines += [
            "",
            f"## {dataset} ({part.iloc[0]['test_users']:,} test users)",
            "",
            "| " + " | ".join(COLUMNS) + " |",
            "|" + "---|" * len(COLUMNS),
        ]
        for _, row in part.iterrows():
            lines.append("| " + " | ".join("" if pd.isna(row[c]) else str(row[c])
                                            for c in COLUMNS) + " |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--epochs", type=int, default=10, help="epoch cap for training")
    parser.add_argument("--calls", type=int, default=300, help="timed calls at batch 1")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="threads for training and evaluation (latency: 1)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS / "compress.json")
    args = parser.parse_args(argv)
    root = Settings().data_root
    begin = time.perf_counter()
    records: list[dict[str, Any]] = []
    for dataset in args.datasets:
        data, _ = load(dataset, root)
        split = leave_last_out(data)
        for name in args.models:
            rows = measure(name, dataset, split, args)
            for row in rows:
                print(f"{dataset} {name}: {row}", file=sys.stderr, flush=True)
            records += rows
    meta = run_meta("compress", args.threads, begin, argv)
    records = stamp(records, meta)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(records, indent=1) + "\n")
    md = to_markdown(records, meta, args)
    args.out.with_suffix(".md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
