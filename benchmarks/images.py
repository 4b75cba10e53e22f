"""Product images on Fashion-MNIST and on the Grocery Store photos: the CNN, cheap inference,
visual search and the catalogue check.

Part `fashion-mnist` (the default), on the official 60,000 / 10,000 split:

- Selection on validation: a stratified 4,000 of the 60,000 training images are held out
  as a validation split (never the test set); each candidate setting of `SEARCH` (one
  change from `SEARCH_BASE` each) is trained on a seeded 6,000 of the other 56,000 for
  `SEARCH_EPOCHS` epochs and scored on it. The best becomes the model's default
  (`ImageClassifierConfig`); every candidate's validation accuracy is recorded, in
  images_selection.{json,md} as soon as the search ends and in images.json with the rest.
- Classifier: the chosen setting trained on all 60,000 training images (the model's own
  stratified 5% slice picks the epoch), scored once on the 10,000 test images, against a
  named baseline, logistic regression on raw pixels (trained on 20,000 images); accuracy,
  macro F1, per-class accuracy and a confusion-matrix plot. Epochs are the time budget
  (16 at about 47 s each fit the 15 minutes on 2 cores), not a searched setting.
- Inference: torch eager vs ONNX Runtime fp32 vs ONNX Runtime int8 (static QDQ,
  calibrated on 512 training images), at batch 1 and 64: median and p99 ms, accuracy and
  file size of each.
- Visual search: embeddings of the 10,000 test photos in an HNSW index (and exact
  search); precision@10 = share of the 10 neighbours (the photo itself left out) in the
  photo's category; single-query latency.
- Catalogue check: 5% of the test photos relabelled at random, flags at confidence 0.9
  and 0.97 scored by precision / recall against the planted ones.

Part `grocery` (`--part grocery`), on the authors' split of the Grocery Store Dataset
(Klasson et al., WACV 2019: 2,640 train / 296 val / 2,485 test RGB shop photos, 81 fine
classes in 43 coarse ones, one iconic catalogue photo per class):

- Classifier trained from scratch on train.txt; every setting (side, widths, the epoch
  kept) is chosen on val.txt, never on test. Test accuracy on fine classes and on coarse
  classes (the fine prediction mapped to its coarse class), against the majority class
  and a logistic regression on 24 px pixels (its C chosen on val.txt).
- Visual search: precision@10 (neighbours of the same fine class) among the test photos.
- Catalogue matching: each test photo's nearest iconic photo among the 81 (top-1 / top-5
  share that are its class's).

Run:  .venv/bin/python benchmarks/images.py --threads 2   (~30 min on 2 cores, search included)
      .venv/bin/python benchmarks/images.py --part grocery --threads 2   (~10 min)
      .venv/bin/python benchmarks/images.py --quick        (smoke run: 3,000 images, 2 epochs,
                                                            two candidates on 1,000 / 500)
Writes benchmarks/results/images.json (flat records; each part replaces only its own data
set's records), images.md (one section per data set) and images_confusion.png; --quick
writes to benchmarks/.work/images/ instead.
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

from provenance import header, stamp
from recommend_classic import markdown_cell

from shopsense.data.images import ImageSet
from shopsense.data.sources.fashion_mnist import CATEGORIES, read_split
from shopsense.images.catalogue import check_catalogue, flag_quality, plant_mislabels
from shopsense.images.evaluate import classification_report, plot_confusion
from shopsense.images.export import OnnxClassifier, export_onnx, quantize_int8
from shopsense.images.model import WEIGHTS_FILE, ImageClassifier, ImageClassifierConfig
from shopsense.images.search import VisualSearch

RESULTS = Path(__file__).parent / "results"
NAMES = np.asarray(CATEGORIES, dtype=object)


def load(split: str, n: int | None, seed: int = 0) -> ImageSet:
    images, labels, ids = read_split(split)
    rows = np.arange(len(images))
    if n is not None and n < len(images):
        rows = np.sort(np.random.default_rng(seed).choice(len(images), n, replace=False))
    return ImageSet(images[rows], np.asarray(ids, dtype=object)[rows], NAMES[labels[rows]])


# ====================================================================== selection on val
#: The settings every candidate starts from: the defaults before they were chosen here.
SEARCH_BASE: dict[str, Any] = {
    "widths": (32, 64, 128),
    "blocks": (1, 1, 1),
    "learning_rate": 3e-3,
    "weight_decay": 0.05,
    "dropout": 0.1,
    "crop_padding": None,
    "flip": True,
}
#: Candidates, one change from SEARCH_BASE each (a few, to fit the CPU budget).
SEARCH: list[tuple[str, dict[str, Any]]] = [
    ("base", {}),
    ("learning rate 1e-3", {"learning_rate": 1e-3}),
    ("learning rate 1e-2", {"learning_rate": 1e-2}),
    ("no shifts or flips", {"crop_padding": 0, "flip": False}),
    ("2 blocks at 14x14", {"blocks": (1, 2, 1)}),
]
#: Images each candidate trains on, validation images, epochs: a proxy sized so that the
#: whole search costs about a fifth of one full training (a short proxy favours less
#: regularisation; the chosen setting's own full run is the check).
SEARCH_TRAIN, SEARCH_VAL, SEARCH_EPOCHS = 6_000, 4_000, 4


def validation_split(train: ImageSet, n_val: int, seed: int = 0) -> tuple[ImageSet, ImageSet]:
    """A stratified `n_val` of the training images (the same share of every category) and
    the rest: the split settings are chosen on, so the test set is never looked at."""
    labels = train.labels.astype(str)
    rng = np.random.default_rng(seed)
    share = n_val / len(train)
    val_rows = np.concatenate(
        [
            rng.choice(rows, round(len(rows) * share), replace=False)
            for rows in (np.flatnonzero(labels == c) for c in np.unique(labels))
        ]
    )
    rest = np.setdiff1d(np.arange(len(train)), val_rows)
    return train.subset(rest), train.subset(np.sort(val_rows))


def select_on_validation(
    train: ImageSet, threads: int, quick: bool
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Each candidate trained on part of the training images and scored on a validation
    split of them; returns the best candidate's full settings and one record each."""
    n_val, n_fit = (500, 1000) if quick else (SEARCH_VAL, SEARCH_TRAIN)
    rest, val = validation_split(train, n_val)
    fit_on = rest.subset(_random_rows(len(rest), n_fit))
    epochs = 1 if quick else SEARCH_EPOCHS
    records: list[dict[str, Any]] = []
    best: tuple[float, dict[str, Any]] | None = None
    for name, change in SEARCH[:2] if quick else SEARCH:
        settings = {**SEARCH_BASE, **change}
        began = time.perf_counter()
        model = ImageClassifier(**settings, epochs=epochs, threads=threads, random_state=0)
        model.fit(fit_on, validation=val)
        took = time.perf_counter() - began
        result = model.train_result_
        print(f"candidate {name}: val accuracy {result.best_metric:.4f} ({took:.0f} s)", flush=True)
        records.append(
            {
                "task": "select_on_val",
                "model": f"small resnet, {name}",
                "settings": json.dumps(change, sort_keys=True),
                "train_images": len(fit_on),
                "val_images": len(val),
                "epochs": result.epochs,
                "best_epoch": result.best_epoch,
                "val_accuracy": result.best_metric,
                "train_s": took,
                "s_per_epoch": result.seconds_per_epoch,
            }
        )
        if best is None or result.best_metric > best[0]:
            best = (result.best_metric, settings)
    chosen = best[1]
    for r in records:
        r["chosen"] = r["val_accuracy"] == best[0]
    return chosen, records


def write_selection(
    out: Path,
    records: list[dict[str, Any]],
    chosen: dict[str, Any],
    search_s: float,
    threads: int,
    argv: list[str] | None,
) -> None:
    """The search's records, stamped, beside the results (written before the long final
    training, so a run cut short still leaves what it chose and why)."""
    from recommend_classic import run_meta

    meta = run_meta("images", threads, time.perf_counter() - search_s, argv)
    stamped = stamp([{**r, "dataset": "fashion-mnist"} for r in records], meta)
    path = out.with_name(out.stem + "_selection.json")
    path.write_text(json.dumps(stamped, indent=1, default=float) + "\n")
    cols = ["model", "settings", "train_images", "val_images", "epochs", "best_epoch",
            "val_accuracy", "chosen", "train_s", "s_per_epoch"]  # fmt: skip
    lines = [
        "# Fashion-MNIST: settings chosen on validation",
        "",
        f"Each candidate trained on {records[0]['train_images']:,} training images and "
        f"scored on {records[0]['val_images']:,} others held out from training (never the "
        f"test set); search {search_s:.0f} s. Chosen: {json.dumps(chosen)}. {header(meta)}",
        "",
        "| " + " | ".join(cols) + " |",
        "|" + "---|" * len(cols),
    ]
    lines += ["| " + " | ".join(markdown_cell(r.get(c)) for c in cols) + " |" for r in records]
    path.with_suffix(".md").write_text("\n".join(lines) + "\n")


def recorded_selection(out: Path) -> tuple[dict[str, Any], list[dict[str, Any]], float]:
    """The setting the last validation search chose and how long that search took, read
    back from the selection file beside `out`. Its records stay in that file with their own
    commit, so none are returned to be stamped with this run's."""
    path = out.with_name(out.stem + "_selection.json")
    if not path.exists():
        raise SystemExit(f"{path} does not exist: run once without --reuse-selection")
    records = json.loads(path.read_text())
    chosen = [r for r in records if r.get("chosen")]
    if len(chosen) != 1:
        raise SystemExit(f"{path}: expected one chosen candidate, found {len(chosen)}")
    settings = {**SEARCH_BASE, **json.loads(chosen[0]["settings"])}
    print(f"reusing the setting chosen at commit {chosen[0]['commit'][:12]}: {settings}")
    return settings, [], float(sum(r["train_s"] for r in records))


def defaults_differ(settings: dict[str, Any]) -> list[str]:
    """Names of the settings where the model's defaults are not `settings`."""
    defaults = ImageClassifierConfig()
    return [k for k, v in settings.items() if getattr(defaults, k) != v]


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
    "settings",
    "batch",
    "train_images",
    "val_images",
    "epochs",
    "best_epoch",
    "val_accuracy",
    "chosen",
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
        f"{meta['threads']} torch/ONNX Runtime thread(s); total {meta['total_s']:.0f} s "
        f"(selection on validation {meta['search_s']:.0f} s). {header(meta)}",
        "",
        f"Settings chosen on a validation split of the training images ({meta['selection']}; "
        f"the test set is scored once, with the chosen setting): {meta['chosen']}. "
        f"{meta['defaults']}",
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


# ============================================================================== grocery
GROCERY = "grocery-store-images"
#: Candidates compared on val.txt: (side, widths); each keeps its best epoch on val.txt.
GROCERY_GRID = [(64, (24, 48, 96)), (64, (32, 64, 128)), (96, (32, 64, 128))]
GROCERY_EPOCHS = 10
LOGREG_SIDE, LOGREG_C = 24, (0.01, 0.1)


def grocery_split(split: str, size: int, root: Path | None = None) -> ImageSet:
    """One of the authors' splits read as (n, size, size, 3) RGB, labels = fine classes."""
    from shopsense.data.sources.grocery_store import dataset_folder, read_split
    from shopsense.images.io import ImageReader

    rows = read_split(split, root)
    reader = ImageReader(dataset_folder(root))
    images, _, problems = reader.read_many(rows["path"].tolist(), size, channels=3)
    if problems:
        raise ValueError(f"{len(problems)} unreadable photos, first: {problems[0]}")
    return ImageSet(images, rows["item_id"].to_numpy(object), rows["class"].to_numpy(object))


def grocery_baselines(
    coarse_of: dict[str, str], threads: int, quick: bool
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Majority class and logistic regression on 24 px pixels (C chosen on val.txt)."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    train, val, test = (grocery_split(s, LOGREG_SIDE) for s in ("train", "val", "test"))
    names, counts = np.unique(train.labels.astype(str), return_counts=True)
    majority = names[counts.argmax()]
    records = [
        grocery_record(
            "majority class (baseline)",
            np.full(len(test), majority, dtype=object),
            test,
            coarse_of,
            {"train_images": len(train)},
        )
    ]

    def flat(view: ImageSet) -> np.ndarray:
        return view.images.reshape(len(view), -1).astype(np.float32) / 255.0

    best: tuple[float, float, Any, float] | None = None
    for c in LOGREG_C[:1] if quick else LOGREG_C:
        began = time.perf_counter()
        with threadpool_limits(threads):
            clf = LogisticRegression(max_iter=200, C=c).fit(flat(train), train.labels.astype(str))
        took = time.perf_counter() - began
        val_acc = float((clf.predict(flat(val)) == val.labels.astype(str)).mean())
        print(f"logreg C={c}: val accuracy {val_acc:.4f} ({took:.0f} s)", flush=True)
        if best is None or val_acc > best[0]:
            best = (val_acc, c, clf, took)
    val_acc, c, clf, took = best
    records.append(
        grocery_record(
            f"logreg pixels {LOGREG_SIDE}px (baseline)",
            clf.predict(flat(test)),
            test,
            coarse_of,
            {
                "train_images": len(train),
                "val_accuracy": val_acc,
                "train_s": took,
                "settings": f"C={c}",
            },
        )
    )
    return records, {"C": c}


def grocery_record(
    model: str,
    predicted: np.ndarray,
    test: ImageSet,
    coarse_of: dict[str, str],
    extra: dict[str, Any],
) -> dict[str, Any]:
    truth = test.labels.astype(str)
    predicted = np.asarray(predicted).astype(str)
    coarse_true = np.array([coarse_of[t] for t in truth])
    coarse_pred = np.array([coarse_of[p] for p in predicted])
    classes = sorted(coarse_of)
    return {
        "task": "classify",
        "model": model,
        **extra,
        "accuracy": float((truth == predicted).mean()),
        "coarse_accuracy": float((coarse_true == coarse_pred).mean()),
        "macro_f1": classification_report(truth, predicted, classes)["macro_f1"],
    }


def grocery_cnn(
    threads: int, quick: bool
) -> tuple[ImageClassifier, dict[int, tuple[ImageSet, ImageSet]], list[dict[str, Any]]]:
    """Each candidate of the grid trained on train.txt, its best epoch kept on val.txt; the
    candidate with the best val accuracy wins. Returns it, the splits read per side, and
    one selection record per candidate."""
    grid = GROCERY_GRID[:1] if quick else GROCERY_GRID
    epochs = 2 if quick else GROCERY_EPOCHS
    data: dict[int, tuple[ImageSet, ImageSet]] = {}
    best: tuple[float, ImageClassifier] | None = None
    records = []
    for side, widths in grid:
        if side not in data:
            data[side] = (grocery_split("train", side), grocery_split("val", side))
        train, val = data[side]
        began = time.perf_counter()
        model = ImageClassifier(widths=widths, epochs=epochs, threads=threads, random_state=0).fit(
            train, validation=val
        )
        took = time.perf_counter() - began
        result = model.train_result_
        print(
            f"CNN {side}px {widths}: val accuracy {result.best_metric:.4f} at epoch "
            f"{result.best_epoch} ({took:.0f} s)",
            flush=True,
        )
        records.append(
            {
                "task": "select_on_val",
                "model": f"small resnet {side}px widths {'/'.join(map(str, widths))}",
                "side": side,
                "epochs": result.epochs,
                "best_epoch": result.best_epoch,
                "val_accuracy": result.best_metric,
                "train_s": took,
                "s_per_epoch": result.seconds_per_epoch,
                "model_mb": model.n_parameters * 4 / 2**20,
            }
        )
        if best is None or result.best_metric > best[0]:
            best = (result.best_metric, model)
    return best[1], data, records


def iconic_matching(model: ImageClassifier, test: ImageSet) -> dict[str, Any]:
    """Nearest iconic catalogue photo (cosine of the embeddings) for each test photo:
    share whose own class's iconic photo is first / among the first five."""
    from shopsense.data.sources.grocery_store import dataset_folder, read_classes
    from shopsense.images.io import ImageReader

    classes = read_classes()
    fmt = model.input_format
    reader = ImageReader(dataset_folder())
    iconic, _, problems = reader.read_many(classes["iconic"].tolist(), fmt.size, channels=3)
    if problems:
        raise ValueError(f"unreadable iconic photo: {problems[0]}")
    names = classes["class"].to_numpy(dtype=str)
    scores = model.embed(test) @ model.embed(iconic).T
    order = np.argsort(-scores, axis=1)[:, :5]
    hit = names[order] == test.labels.astype(str)[:, None]
    return {
        "task": "iconic_match",
        "model": "cnn embedding, nearest of 81 iconic photos",
        "items": len(test),
        "top1": float(hit[:, 0].mean()),
        "top5": float(hit.any(axis=1).mean()),
        "chance_top1": 1 / len(names),
    }


GROCERY_COLUMNS = [
    "task",
    "model",
    "settings",
    "side",
    "epochs",
    "best_epoch",
    "train_images",
    "val_accuracy",
    "accuracy",
    "coarse_accuracy",
    "macro_f1",
    "train_s",
    "s_per_epoch",
    "model_mb",
    "items",
    "precision_at_10",
    "top1",
    "top5",
    "chance_top1",
]


def grocery_markdown(records: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    frame = pd.DataFrame(records)
    lines = [
        "# Product images (Grocery Store)",
        "",
        f"Authors' split: train {meta['train']:,} / val {meta['val']:,} / test "
        f"{meta['test']:,} photos, 81 fine classes in 43 coarse ones; every setting chosen "
        f"on val, test used once. Chosen: {meta['chosen']}. {meta['threads']} torch "
        f"thread(s); total {meta['total_s']:.0f} s. {header(meta)}",
    ]
    for task, part in frame.groupby("task", sort=False):
        cols = [c for c in GROCERY_COLUMNS if c in part and part[c].notna().any()]
        lines += ["", f"## {task}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for _, row in part.iterrows():
            lines.append("| " + " | ".join(markdown_cell(row.get(c)) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def run_grocery(args: argparse.Namespace, argv: list[str] | None) -> None:
    """The grocery part: selection on val.txt, one test evaluation, search and matching."""
    from recommend_classic import run_meta

    from shopsense.data.sources.grocery_store import read_classes

    begin = time.perf_counter()
    torch.set_num_threads(args.threads)
    if args.quick:
        args.out = Path(__file__).parent / ".work" / "images" / "images.json"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    classes = read_classes()
    coarse_of = dict(zip(classes["class"], classes["coarse_class"], strict=True))
    records, logreg = grocery_baselines(coarse_of, args.threads, args.quick)
    model, data, selection = grocery_cnn(args.threads, args.quick)
    side = model.input_format.size
    train, val = data[side]
    test = grocery_split("test", side)
    chosen = selection[
        [r["val_accuracy"] for r in selection].index(model.train_result_.best_metric)
    ]
    began = time.perf_counter()
    predicted = model.predict(test)
    records.append(
        grocery_record(
            f"{chosen['model']} (chosen on val)",
            predicted,
            test,
            coarse_of,
            {
                "train_images": len(train),
                "val_accuracy": chosen["val_accuracy"],
                "epochs": chosen["epochs"],
                "best_epoch": chosen["best_epoch"],
                "train_s": chosen["train_s"],
                "s_per_epoch": chosen["s_per_epoch"],
                "model_mb": chosen["model_mb"],
            },
        )
    )
    print(
        f"CNN test accuracy {records[-1]['accuracy']:.4f} "
        f"({time.perf_counter() - began:.1f} s to score)",
        flush=True,
    )
    records += selection
    search_index = VisualSearch.build(model, test, backend="exact")
    records.append(
        {
            "task": "search",
            "model": "cnn embedding, same fine class",
            "items": len(test),
            "precision_at_10": search_index.precision_at_k(10),
        }
    )
    records.append(iconic_matching(model, test))
    meta = run_meta("images", args.threads, begin, argv)
    records = stamp([{**r, "dataset": GROCERY} for r in records], meta)
    meta |= {
        "train": len(train),
        "val": len(val),
        "test": len(test),
        "chosen": f"{chosen['model']}, epoch {chosen['best_epoch']}; logreg C={logreg['C']}",
    }
    write_records(args.out, GROCERY, records)
    md = grocery_markdown(records, meta)
    write_section(args.out.with_suffix(".md"), md)
    print(md)


def write_records(path: Path, dataset: str, records: list[dict[str, Any]]) -> None:
    """Replace `dataset`'s records in the results file, keeping every other data set's."""
    kept = json.loads(path.read_text()) if path.is_file() else []
    kept = [r for r in kept if r.get("dataset") != dataset]
    path.write_text(json.dumps(kept + records, indent=1, default=float) + "\n")


def write_section(path: Path, markdown: str) -> None:
    """Replace the section of the Markdown results that has `markdown`'s first heading,
    keeping the other data sets' sections."""
    title = markdown.splitlines()[0]
    sections: list[list[str]] = []
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.startswith("# ") or not sections:
                sections.append([])
            sections[-1].append(line)
    texts = ["\n".join(lines).rstrip() + "\n" for lines in sections if lines and lines[0] != title]
    texts.insert(0 if "Fashion-MNIST" in title else len(texts), markdown)
    path.write_text("\n".join(texts))


def main(argv: list[str] | None = None) -> None:
    from recommend_classic import run_meta

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch / ONNX Runtime threads")
    parser.add_argument("--quick", action="store_true", help="3,000 images, 2 epochs")
    parser.add_argument("--epochs", type=int, default=None, help="override the default epochs")
    parser.add_argument("--out", type=Path, default=RESULTS / "images.json")
    parser.add_argument("--part", choices=["fashion-mnist", "grocery"], default="fashion-mnist")
    parser.add_argument(
        "--reuse-selection",
        action="store_true",
        help="take the setting chosen by the last validation search "
        "(results/images_selection.json) instead of searching again (~50 min)",
    )
    args = parser.parse_args(argv)
    if args.part == "grocery":
        run_grocery(args, argv)
        return
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
    if args.reuse_selection:
        chosen, selection, search_s = recorded_selection(args.out)
    else:
        began = time.perf_counter()
        chosen, selection = select_on_validation(train, args.threads, args.quick)
        search_s = time.perf_counter() - began
        write_selection(args.out, selection, chosen, search_s, args.threads, argv)
    differ = defaults_differ(chosen)
    records = [baseline(train, test, args.threads)]
    began = time.perf_counter()
    model = ImageClassifier(**chosen, **params).fit(train)
    train_s = time.perf_counter() - began
    report = classification_report(test.labels, model.predict(test), list(CATEGORIES))
    result = model.train_result_
    records.append(
        {
            "task": "classify",
            "model": "small resnet (chosen on val)",
            "train_images": model.n_train_,
            "epochs": result.epochs,
            "best_epoch": result.best_epoch,
            "accuracy": report["accuracy"],
            "macro_f1": report["macro_f1"],
            "train_s": train_s,
            "s_per_epoch": result.seconds_per_epoch,
            "model_mb": model.n_parameters * 4 / 2**20,
        }
    )
    records += selection
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
    meta |= {
        "train_images": len(train),
        "test_images": len(test),
        "confusion_png": png.name,
        "search_s": search_s,
        "selection": "search recorded in images_selection.md, reused by this run"
        if args.reuse_selection
        else "select_on_val below",
        "chosen": json.dumps({k: chosen[k] for k in SEARCH_BASE}),
        "defaults": "The model's defaults are this setting."
        if not differ
        else f"The model's defaults differ in {', '.join(differ)}.",
    }
    records = stamp(records, meta)
    write_records(args.out, "fashion-mnist", records)
    md = to_markdown(records, meta, report["per_class_accuracy"])
    write_section(args.out.with_suffix(".md"), md)
    args.out.with_name(args.out.stem + "_report.json").write_text(
        json.dumps({"meta": meta, "classifier": report, "train": result.to_dict()}, indent=1)
    )
    print(md)


if __name__ == "__main__":
    main()
