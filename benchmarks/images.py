"""Product images on Fashion-MNIST: one table for the CNN, cheap inference, visual search and
the catalogue check, on the official 60,000 / 10,000 split.

- Classifier: the small ResNet of `shopsense.images.model` (default settings) against a
  named baseline, logistic regression on raw pixels (trained on 20,000 images); accuracy,
  macro F1, per-class accuracy and a confusion-matrix plot.
- Inference: torch eager vs ONNX Runtime fp32 vs ONNX Runtime int8 (static QDQ,
  calibrated on 512 training images), at batch 1 and 64: median and p99 ms, accuracy and
  file size of each.
- Visual search: embeddings of the 10,000 test photos in an HNSW index (and exact
  search); precision@10 = share of the 10 neighbours (the photo itself left out) in the
  photo's category; single-query latency.
- Catalogue check: 5% of the test photos relabelled at random, flags at confidence 0.9
  and 0.97 scored by precision / recall against the planted ones.

Run:  .venv/bin/python benchmarks/images.py --threads 2   (~15 min on 2 cores)
      .venv/bin/python benchmarks/images.py --quick        (smoke run: 3,000 images, 2 epochs)
Writes benchmarks/results/images.json (flat records), images.md and
images_confusion.png; --quick writes to benchmarks/.work/images/ instead.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).parent))

from recommend_classic import markdown_cell

from shopsense.data.sources.fashion_mnist import CATEGORIES, read_split
from shopsense.images.catalogue import check_catalogue, flag_quality, plant_mislabels
from shopsense.images.data import ImageSet
from shopsense.images.evaluate import classification_report, plot_confusion
from shopsense.images.export import OnnxClassifier, export_onnx, quantize_int8
from shopsense.images.model import WEIGHTS_FILE, ImageClassifier
from shopsense.images.search import VisualSearch

RESULTS = Path(__file__).parent / "results"
NAMES = np.asarray(CATEGORIES, dtype=object)


def load(split: str, n: int | None, seed: int = 0) -> ImageSet:
    images, labels, ids = read_split(split)
    rows = np.arange(len(images))
    if n is not None and n < len(images):
        rows = np.sort(np.random.default_rng(seed).choice(len(images), n, replace=False))
    return ImageSet(images[rows], np.asarray(ids, dtype=object)[rows], NAMES[labels[rows]])


def timings(fn: Any, runs: int, warmup: int = 5) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return {"median_ms": float(np.median(times)), "p99_ms": float(np.percentile(times, 99))}


def _random_rows(n: int, k: int, seed: int = 0) -> np.ndarray:
    """k rows of n drawn without replacement, in order (a seeded sample of every class)."""
    return np.sort(np.random.default_rng(seed).choice(n, min(n, k), replace=False))


def baseline(train: ImageSet, test: ImageSet, threads: int) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    # the archives are sorted by class: a prefix would hold three or four categories
    sub = train.subset(_random_rows(len(train), 20_000))
    x = sub.images.reshape(len(sub), -1).astype(np.float32) / 255.0
    began = time.perf_counter()
    with threadpool_limits(threads):
        clf = LogisticRegression(max_iter=200, C=0.1).fit(x, sub.labels.astype(str))
    train_s = time.perf_counter() - began
    pred = clf.predict(test.images.reshape(len(test), -1).astype(np.float32) / 255.0)
    rep = classification_report(test.labels, pred, list(CATEGORIES))
    return {
        "task": "classify",
        "model": "logreg pixels (baseline)",
        "train_images": len(sub),
        "accuracy": rep["accuracy"],
        "macro_f1": rep["macro_f1"],
        "train_s": train_s,
    }


def inference(
    model: ImageClassifier, train: ImageSet, test: ImageSet, threads: int, quick: bool, folder: Path
) -> list[dict[str, Any]]:
    fp32 = export_onnx(model, folder / "model.onnx")
    int8 = quantize_int8(
        fp32, folder / "model.int8.onnx", model, train.subset(_random_rows(len(train), 512))
    )
    model.save(folder / "torch")
    backends = {
        "torch eager": (model, (folder / "torch" / WEIGHTS_FILE).stat().st_size),
        "onnx fp32": (OnnxClassifier(fp32, model, threads=threads), fp32.stat().st_size),
        "onnx int8": (OnnxClassifier(int8, model, threads=threads), int8.stat().st_size),
    }
    records = []
    for name, (clf, size) in backends.items():
        accuracy = float((clf.predict(test) == test.labels).mean())
        for batch in (1, 64):
            images = test.images[:batch]
            if isinstance(clf, ImageClassifier):
                x = clf.preprocess(images)

                def fn(x: torch.Tensor = x, clf: Any = clf) -> None:
                    with torch.no_grad():
                        clf.network_(x)
            else:
                x = clf.preprocess(images)

                def fn(x: np.ndarray = x, clf: Any = clf) -> None:
                    clf.run(x)

            runs = (50 if batch == 1 else 10) if quick else (500 if batch == 1 else 100)
            records.append(
                {
                    "task": "inference",
                    "model": name,
                    "batch": batch,
                    "accuracy": accuracy,
                    "model_mb": size / 2**20,
                    **timings(fn, runs),
                }
            )
    base = {r["batch"]: r["median_ms"] for r in records if r["model"] == "torch eager"}
    for r in records:
        r["speedup_vs_torch"] = base[r["batch"]] / r["median_ms"]
    return records


def search(model: ImageClassifier, test: ImageSet, quick: bool) -> list[dict[str, Any]]:
    records = []
    for backend in ("hnsw", "exact"):
        began = time.perf_counter()
        index = VisualSearch.build(model, test, backend=backend)
        build_s = time.perf_counter() - began
        p10 = index.precision_at_k(10)
        queries = index.index.vectors[: 200 if quick else 2000]
        it = iter(range(10**9))

        def fn(index: VisualSearch = index, queries: np.ndarray = queries, it: Any = it) -> None:
            i = next(it) % len(queries)
            index.search(queries[i], 10, exclude_rows=np.array([i]))

        records.append(
            {
                "task": "search",
                "model": f"cnn embedding + {backend}",
                "items": len(test),
                "precision_at_10": p10,
                "build_s": build_s,
                **timings(fn, len(queries)),
            }
        )
    return records


def catalogue(model: ImageClassifier, test: ImageSet) -> list[dict[str, Any]]:
    planted_view, planted = plant_mislabels(test, 0.05, random_state=0)
    records = []
    for conf in (0.9, 0.97):
        flags = check_catalogue(model, planted_view, min_confidence=conf)
        q = flag_quality(flags, planted)
        records.append(
            {
                "task": "catalogue_check",
                "model": f"confidence >= {conf}",
                "items": len(test),
                "planted": q.planted,
                "flagged": q.flagged,
                "precision": q.precision,
                "recall": q.recall,
            }
        )
    return records


COLUMNS = [
    "task",
    "model",
    "batch",
    "train_images",
    "epochs",
    "accuracy",
    "macro_f1",
    "train_s",
    "s_per_epoch",
    "median_ms",
    "p99_ms",
    "speedup_vs_torch",
    "model_mb",
    "items",
    "precision_at_10",
    "build_s",
    "planted",
    "flagged",
    "precision",
    "recall",
]


def to_markdown(records: list[dict[str, Any]], meta: dict[str, Any], per_class: dict) -> str:
    frame = pd.DataFrame(records)
    lines = [
        "# Product images (Fashion-MNIST)",
        "",
        f"Train {meta['train_images']:,} / test {meta['test_images']:,} images; "
        f"{meta['threads']} torch/ONNX Runtime thread(s); {meta['machine']}; total "
        f"{meta['total_s']:.0f} s. Command: `{meta['command']}`.",
    ]
    for task, part in frame.groupby("task", sort=False):
        cols = [c for c in COLUMNS if c in part and part[c].notna().any()]
        lines += ["", f"## {task}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for _, row in part.iterrows():
            lines.append("| " + " | ".join(markdown_cell(row.get(c)) for c in cols) + " |")
    lines += [
        "",
        "## Per-class accuracy (CNN, test set)",
        "",
        "| category | accuracy |",
        "|---|---|",
    ]
    lines += [f"| {c} | {a:.4f} |" for c, a in per_class.items()]
    lines += ["", f"![confusion matrix]({meta['confusion_png']})"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    from recommend_classic import run_meta

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch / ONNX Runtime threads")
    parser.add_argument("--quick", action="store_true", help="3,000 images, 2 epochs")
    parser.add_argument("--epochs", type=int, default=None, help="override the default epochs")
    parser.add_argument("--out", type=Path, default=RESULTS / "images.json")
    args = parser.parse_args(argv)
    begin = time.perf_counter()
    torch.set_num_threads(args.threads)
    if args.quick:
        args.out = Path(__file__).parent / ".work" / "images" / "images.json"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    train = load("train", 3000 if args.quick else None)
    test = load("test", 1000 if args.quick else None)
    params: dict[str, Any] = {"threads": args.threads}
    if args.quick:
        params["epochs"] = 2
    if args.epochs is not None:
        params["epochs"] = args.epochs
    records = [baseline(train, test, args.threads)]
    began = time.perf_counter()
    model = ImageClassifier(**params).fit(train)
    train_s = time.perf_counter() - began
    report = classification_report(test.labels, model.predict(test), list(CATEGORIES))
    result = model.train_result_
    records.append(
        {
            "task": "classify",
            "model": "small resnet (default)",
            "train_images": model.n_train_,
            "epochs": result.epochs,
            "accuracy": report["accuracy"],
            "macro_f1": report["macro_f1"],
            "train_s": train_s,
            "s_per_epoch": result.seconds_per_epoch,
            "model_mb": model.n_parameters * 4 / 2**20,
        }
    )
    print(f"CNN: accuracy {report['accuracy']:.4f} in {train_s:.0f} s", flush=True)
    png = args.out.with_name(args.out.stem + "_confusion.png")
    plot_confusion(report, png, title=f"small ResNet, test accuracy {report['accuracy']:.4f}")
    with tempfile.TemporaryDirectory() as tmp:
        records += inference(model, train, test, args.threads, args.quick, Path(tmp))
    records += search(model, test, args.quick)
    records += catalogue(model, test)
    for r in records:
        r["dataset"] = "fashion-mnist"
    meta = run_meta("images", args.threads, begin, argv)
    meta |= {"train_images": len(train), "test_images": len(test), "confusion_png": png.name}
    args.out.write_text(json.dumps(records, indent=1, default=float) + "\n")
    md = to_markdown(records, meta, report["per_class_accuracy"])
    args.out.with_suffix(".md").write_text(md)
    args.out.with_name(args.out.stem + "_report.json").write_text(
        json.dumps({"meta": meta, "classifier": report, "train": result.to_dict()}, indent=1)
    )
    print(md)


if __name__ == "__main__":
    main()
