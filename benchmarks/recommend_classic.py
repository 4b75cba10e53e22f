"""Classic recommenders vs the peer library `implicit`, same split, same metric code.

Protocol: leave-last-out (each user's last event is test, the one before validation),
full ranking over every item the user has not had. For every model, a small grid of
hyper-parameters is fitted on train and scored on validation; the best (NDCG@10) is
refitted on train + validation and scored on test. The peer's models are wrapped so that
their scores go through exactly the same masking, top-k and metrics as ours.

Run:  .venv/bin/python benchmarks/recommend_classic.py [--datasets amazon-beauty-seq ...]
Writes benchmarks/results/recommend_classic.json (one flat record per dataset × model)
and recommend_classic.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from provenance import header, provenance, stamp
from threadpoolctl import threadpool_limits

from shopsense.config import Settings
from shopsense.data.sources import load_source
from shopsense.data.views import Interactions
from shopsense.eval.evaluate import evaluate
from shopsense.eval.splits import Split, leave_last_out
from shopsense.recommend import ALS, BPR, EASE, ContentBased, ItemKNN, MostPopular, UserKNN
from shopsense.recommend.base import Recommender

RESULTS = Path(__file__).parent / "results"
DATASETS = ("amazon-beauty-seq", "uci-online-retail", "movielens-100k")


# --------------------------------------------------------------------------- peer adapter
@dataclass
class _PeerConfig:
    kind: str = "als"
    params: str = "{}"


class ImplicitPeer(Recommender):
    """`implicit`'s models behind our contract, so both are scored identically."""

    name = "implicit"
    Config = _PeerConfig

    def _fit(self, train: Interactions, items: pd.DataFrame | None) -> None:
        import implicit.cpu.als
        import implicit.cpu.bpr
        import implicit.nearest_neighbours as nn

        params = json.loads(self.config.params)
        x = train.binary.tocsr()
        if self.config.kind == "als":
            model = implicit.cpu.als.AlternatingLeastSquares(**params, num_threads=0)
        elif self.config.kind == "bpr":
            model = implicit.cpu.bpr.BayesianPersonalizedRanking(**params, num_threads=0)
        elif self.config.kind == "cosine":
            model = nn.CosineRecommender(**params, num_threads=0)
        else:
            raise ValueError(self.config.kind)
        # implicit parallelises itself and asks for single-threaded BLAS underneath.
        with threadpool_limits(1, "blas"):
            model.fit(x, show_progress=False)
        self.peer_ = model
        self.x_ = x

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        if self.config.kind == "cosine":
            return (self.x_[user_idx] @ self.peer_.similarity).toarray()
        return self.peer_.user_factors[user_idx] @ self.peer_.item_factors.T

    def item_vectors(self) -> np.ndarray:
        return np.asarray(self.peer_.item_factors)


# --------------------------------------------------------------------------- grids
Factory = Callable[..., Recommender]
GRIDS: dict[str, tuple[str, Factory, dict[str, list[Any]]]] = {
    # name: (library, factory, grid)
    "popular": ("shopsense", MostPopular, {}),
    "itemknn": (
        "shopsense",
        ItemKNN,
        {"neighbors": [50, 200], "shrink": [0.0, 10.0], "weighting": ["none", "bm25"]},
    ),
    "userknn": ("shopsense", UserKNN, {"neighbors": [50, 200], "shrink": [0.0, 10.0]}),
    "content-tfidf": ("shopsense", ContentBased, {"encoder": ["tfidf"]}),
    "als": ("shopsense", ALS, {"factors": [64, 128], "alpha": [10.0, 40.0]}),
    "bpr": ("shopsense", BPR, {"factors": [64, 128]}),
    "ease": ("shopsense", EASE, {"l2": [50.0, 100.0, 250.0, 500.0]}),
    "implicit-cosine": (
        "implicit",
        lambda **p: ImplicitPeer(kind="cosine", params=json.dumps(p)),
        {"K": [20, 100, 200]},
    ),
    "implicit-als": (
        "implicit",
        lambda **p: ImplicitPeer(kind="als", params=json.dumps(p)),
        {
            "factors": [64, 128],
            "alpha": [10.0, 40.0],
            "regularization": [10.0],
            "random_state": [0],
        },
    ),
    "implicit-bpr": (
        "implicit",
        lambda **p: ImplicitPeer(kind="bpr", params=json.dumps(p)),
        # implicit's defaults (lr 0.01, 100 iterations) are far from converged on sparse
        # shop data; these settings were the best of a wider search on Beauty validation.
        {
            "factors": [64, 128],
            "learning_rate": [0.05],
            "regularization": [0.03],
            "iterations": [1000],
            "random_state": [0],
        },
    ),
}


def _grid(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]


# --------------------------------------------------------------------------- measuring
class PeakMemory:
    """Peak resident memory above the starting point, sampled every 5 ms (MiB)."""

    def __enter__(self) -> PeakMemory:
        self.start = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def mb(self) -> float:
        return (self.peak - self.start) / 2**20


def markdown_cell(value: Any) -> str:
    """A table cell: empty for missing values, four significant digits, thousands grouped."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def run_meta(script: str, threads: int, begin: float, argv: list[str] | None) -> dict[str, Any]:
    """Commit, command line and machine (see `provenance`), threads and wall time of a run."""
    return {**provenance(script, argv), "threads": threads, "total_s": time.perf_counter() - begin}


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# --------------------------------------------------------------------------- data
def load(name: str, root: Path) -> tuple[Interactions, pd.DataFrame]:
    source = load_source(name, root)
    events = source.tables["events"]
    # keep="first": a repeat purchase is not a recommendation; the held-out item is new.
    return Interactions.from_frame(events, keep="first"), source.tables["items"]


def run_model(
    name: str, split: Split, items: pd.DataFrame, dataset: str, log: Callable[[str], None]
) -> dict[str, Any]:
    library, factory, grid = GRIDS[name]
    best: tuple[float, dict[str, Any]] | None = None
    for params in _grid(grid) or [{}]:
        model = factory(**params).fit(split.train, items)
        val = evaluate(model, split.validation, k=10, metrics=["ndcg"]).metrics["ndcg@10"]
        log(f"  {name} {params}: validation ndcg@10 {val:.4f}")
        if best is None or val > best[0]:
            best = (val, params)
        del model
    assert best is not None
    val_ndcg, params = best
    train_view = split.train_and_validation()
    with PeakMemory() as mem:
        start = time.perf_counter()
        model = factory(**params).fit(train_view, items)
        train_s = time.perf_counter() - start
        report = evaluate(model, split.test, k=[10, 20], metrics=["hr", "ndcg", "recall"])
    return {
        "dataset": dataset,
        "model": name,
        "library": library,
        "params": json.dumps(params),
        "hr@10": round(report.metrics["hr@10"], 4),
        "ndcg@10": round(report.metrics["ndcg@10"], 4),
        "recall@20": round(report.metrics["recall@20"], 4),
        "val_ndcg@10": round(val_ndcg, 4),
        "train_s": round(train_s, 2),
        "score_s": round(report.seconds, 2),
        "users_per_s": round(report.n_users / report.seconds, 1),
        "peak_mb": round(mem.mb, 1),
        "test_users": report.n_users,
    }


def to_markdown(records: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    cols = ["model", "library", "hr@10", "ndcg@10", "recall@20", "val_ndcg@10", "train_s",
            "users_per_s", "peak_mb", "params"]  # fmt: skip
    lines = [
        "# Classic recommenders vs implicit",
        "",
        f"Leave-last-out, full ranking, best of a small grid on validation, refit on train + "
        f"validation, scored on test. {meta['threads']} threads; total "
        f"{meta['total_s']:.0f} s. {header(meta)}",
    ]
    frame = pd.DataFrame(records)
    for dataset, part in frame.groupby("dataset", sort=False):
        first = part.iloc[0]
        lines += [
            "",
            f"## {dataset} ({first['test_users']:,} test users)",
            "",
            "| " + " | ".join(cols) + " |",
            "|" + "---|" * len(cols),
        ]
        for _, row in part.sort_values("ndcg@10", ascending=False).iterrows():
            lines.append("| " + " | ".join(str(row[c]) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--models", nargs="+", default=list(GRIDS), choices=list(GRIDS))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=RESULTS / "recommend_classic.json")
    args = parser.parse_args(argv)
    root = Settings().data_root
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    records: list[dict[str, Any]] = []
    begin = time.perf_counter()
    import torch

    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        for dataset in args.datasets:
            data, items = load(dataset, root)
            split = leave_last_out(data)
            log(f"{dataset}: {data}; {split.summary()}")
            for name in args.models:
                record = run_model(name, split, items, dataset, log)
                log(f"{dataset} {name}: {record}")
                records.append(record)
    meta = run_meta("recommend_classic", args.threads, begin, argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    records = stamp(records, meta)
    args.out.write_text(json.dumps(records, indent=1) + "\n")
    md = to_markdown(records, meta)
    args.out.with_suffix(".md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
