"""ANN retrieval vs exact top-k for recommendation queries: recall@10 and the latency gain.

Question: when a dot-product recommender (here ALS) ranks a catalogue, how much of the exact
top-10 does an HNSW index find, and how much faster is it than scoring every item?

Protocol:
- Real catalogue: the largest item catalogue among the recommendation data sets
  (amazon-beauty-seq, diginetica-sample, uci-online-retail, movielens-100k; chosen at run
  time). ALS (64 factors) is fitted on all its events; the queries are the learned vectors
  of 2,000 random users, and each user's own items are excluded, as in a recommendation.
- Synthetic catalogue of 1,000,000 items: the real item vectors plus vectors sampled from a
  Gaussian mixture (16 components, full covariances) fitted to them; same users, same
  exclusions (their items keep their indices). A mixture keeps the clusters, the spread
  of norms and the correlations between dimensions that make maximum-inner-product search
  hard; jittered copies of the real vectors would instead put each true top-10 among
  near-duplicates of a few items.
- Every backend answers through `shopsense.ann.retrieve` (same oversampling, exclusion
  and exact fallback), so differences are the index alone: exact NumPy (ground truth and
  baseline), hnswlib (ours) at several ef_search, and the peer library faiss
  (IndexFlatIP exact, IndexHNSWFlat with the inner-product metric and the same M /
  ef_construction / ef_search).
- recall@10: share of the exact top-10 found, over all queries. p50/p99_ms: latency of
  one single-user query (`retrieve` on one row) on one thread, as the service answers a
  request, over the first 300 queries. qps: queries per second in batches of 256 on
  --threads threads. build_s: building the index; index_mb: its serialised size
  (ours stores the vectors twice: hnswlib's copy and the NumPy one used for exact
  rescoring and fallback). speedup: exact p50 / this p50.

Run:  .venv/bin/python benchmarks/ann.py [--quick] [--threads 2]
Writes benchmarks/results/ann.json (one flat record per data set × backend) and ann.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pandas as pd
import scipy.sparse as sp
from provenance import header, stamp
from recommend_classic import load, run_meta
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from shopsense.ann import ANNIndex, retrieve
from shopsense.config import Settings
from shopsense.data.sources import load_source
from shopsense.recommend import ALS

RESULTS = Path(__file__).parent / "results"
CANDIDATES = ("amazon-beauty-seq", "diginetica-sample", "uci-online-retail", "movielens-100k")
K = 10
BATCH = 256
HNSW = {"M": 16, "ef_construction": 100}  # ef_construction 100: a 1M build in minutes
EF_SEARCH = (32, 64, 128, 256, 512, 1024)


@dataclass(frozen=True)
class Scale:
    """How big a run is: the full one answers the question, --quick checks the script."""

    users: int = 2000
    latency_queries: int = 300
    synthetic_items: int = 1_000_000
    ef_search: tuple[int, ...] = EF_SEARCH


FULL = Scale()
QUICK = Scale(users=500, latency_queries=100, synthetic_items=100_000, ef_search=(32, 128))


# --------------------------------------------------------------------------- peer adapter
class FaissIndex:
    """faiss behind the attributes `retrieve` uses (vectors, n_items, dim, backend, search),
    so the peer goes through exactly the same exclusion and fallback code as ours."""

    def __init__(self, vectors: np.ndarray, kind: str, threads: int) -> None:
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.n_items, self.dim = self.vectors.shape
        self.backend = f"faiss-{kind}"
        faiss.omp_set_num_threads(threads)
        if kind == "flat":
            self.index = faiss.IndexFlatIP(self.dim)
        else:
            self.index = faiss.IndexHNSWFlat(self.dim, HNSW["M"], faiss.METRIC_INNER_PRODUCT)
            self.index.hnsw.efConstruction = HNSW["ef_construction"]
        self.index.add(self.vectors)
        self.ef_search = 16

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(self.index, faiss.IndexHNSWFlat):
            self.index.hnsw.efSearch = max(self.ef_search, k)
        scores, idx = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        scores[idx < 0] = -np.inf
        return idx.astype(np.int64), scores.astype(np.float32)

    def size_mb(self) -> float:
        return faiss.serialize_index(self.index).nbytes / 2**20


def ours_size_mb(index: ANNIndex) -> float:
    """Size of the saved index folder (what it also holds in memory)."""
    tmp = Path(tempfile.mkdtemp(prefix="ann-bench-"))
    try:
        folder = index.save(tmp / "index")
        return sum(p.stat().st_size for p in folder.iterdir()) / 2**20
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------- data
def largest_catalogue(root: Path) -> str:
    """The recommendation data set with the most distinct items."""
    sizes = {n: load_source(n, root).tables["events"]["item_id"].nunique() for n in CANDIDATES}
    return max(sizes, key=sizes.__getitem__)


def synthetic_catalogue(real: np.ndarray, n_items: int, seed: int = 0) -> np.ndarray:
    """`real` followed by n_items − len(real) draws from a Gaussian mixture fitted to it."""
    with one_thread():  # 64 × 64 covariances: more threads only contend
        gmm = GaussianMixture(16, covariance_type="full", random_state=seed).fit(real)
    rng = np.random.default_rng(seed)
    n_new = n_items - len(real)
    component = rng.choice(gmm.n_components, size=n_new, p=gmm.weights_)
    chol = np.linalg.cholesky(gmm.covariances_)
    out = np.empty((n_items, real.shape[1]), dtype=np.float32)
    out[: len(real)] = real
    new = out[len(real) :]
    for c in range(gmm.n_components):
        rows = np.flatnonzero(component == c)
        z = rng.standard_normal((len(rows), real.shape[1]))
        new[rows] = gmm.means_[c] + z @ chol[c].T
    return out


# --------------------------------------------------------------------------- measuring
def timed_batches(
    index: Any, queries: np.ndarray, exclude: sp.csr_matrix
) -> tuple[np.ndarray, float]:
    """retrieve over all queries in batches of BATCH: (idx, queries per second)."""
    out = np.empty((len(queries), K), dtype=np.int64)
    start = time.perf_counter()
    for s in range(0, len(queries), BATCH):
        out[s : s + BATCH], _ = retrieve(
            index, queries[s : s + BATCH], K, exclude=exclude[s : s + BATCH]
        )
    return out, len(queries) / (time.perf_counter() - start)


@contextmanager
def one_thread() -> Iterator[None]:
    """BLAS and faiss's OpenMP on one thread, as the service scores one request
    (serve_threads = 1); a second thread only adds synchronisation to a single query."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        faiss.omp_set_num_threads(before)


def single_latency(index: Any, queries: np.ndarray, rows: list[sp.csr_matrix]) -> np.ndarray:
    """Seconds per one-user `retrieve` on one thread, one query at a time (after 5 warm-up
    queries)."""
    with one_thread():
        return _single_latency(index, queries, rows)


def _single_latency(index: Any, queries: np.ndarray, rows: list[sp.csr_matrix]) -> np.ndarray:
    for i in range(5):
        retrieve(index, queries[i : i + 1], K, exclude=rows[i])
    times = np.empty(len(rows))
    for i, row in enumerate(rows):
        start = time.perf_counter()
        retrieve(index, queries[i : i + 1], K, exclude=row)
        times[i] = time.perf_counter() - start
    return times


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    hits = [
        len(set(f[f >= 0]) & set(t[t >= 0])) / max((t >= 0).sum(), 1)
        for f, t in zip(found, truth, strict=True)
    ]
    return float(np.mean(hits))


def measure(
    index: Any,
    queries: np.ndarray,
    exclude: sp.csr_matrix,
    truth: np.ndarray | None,
    scale: Scale,
) -> dict[str, Any]:
    """recall@10 (vs `truth`; 1.0 when this is the truth), latency and throughput."""
    found, qps = timed_batches(index, queries, exclude)
    rows = [exclude[i : i + 1] for i in range(min(scale.latency_queries, len(queries)))]
    times = single_latency(index, queries, rows) * 1e3
    return {
        "found": found,
        "recall@10": 1.0 if truth is None else round(recall_at_k(found, truth), 4),
        "p50_ms": round(float(np.median(times)), 3),
        "p99_ms": round(float(np.percentile(times, 99)), 3),
        "qps": round(qps, 1),
    }


def run_catalogue(
    dataset: str,
    vectors: np.ndarray,
    queries: np.ndarray,
    exclude: sp.csr_matrix,
    scale: Scale,
    threads: int,
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Every backend on one catalogue; the exact NumPy run is the ground truth."""
    base = {"dataset": dataset, "n_items": len(vectors), "dim": vectors.shape[1]}
    records: list[dict[str, Any]] = []

    def add(library: str, backend: str, params: dict, build_s: float, mb: float, res: dict):
        record = base | {"library": library, "backend": backend, "params": json.dumps(params)}
        record |= {k: v for k, v in res.items() if k != "found"}
        record |= {"build_s": round(build_s, 2), "index_mb": round(mb, 1)}
        records.append(record)
        log(f"  {record}")

    exact = ANNIndex(vectors, "exact", threads=threads)
    truth_run = measure(exact, queries, exclude, None, scale)
    truth = truth_run["found"]
    add("shopsense", "exact", {}, 0.0, vectors.nbytes / 2**20, truth_run)

    start = time.perf_counter()
    flat = FaissIndex(vectors, "flat", threads)
    add("faiss", "flat-ip", {}, time.perf_counter() - start, flat.size_mb(),
        measure(flat, queries, exclude, truth, scale))  # fmt: skip

    ours = ANNIndex(vectors, "hnsw", threads=threads, **HNSW)
    mb = ours_size_mb(ours)
    for ef in scale.ef_search:
        ours.ef_search = ef
        res = measure(ours, queries, exclude, truth, scale)
        add("shopsense", "hnsw", HNSW | {"ef_search": ef}, ours.build_seconds, mb, res)
    del ours

    start = time.perf_counter()
    peer = FaissIndex(vectors, "hnsw", threads)
    build_s = time.perf_counter() - start
    log(f"  faiss build {build_s:.1f} s")
    mb = peer.size_mb()
    for ef in scale.ef_search:
        peer.ef_search = ef
        res = measure(peer, queries, exclude, truth, scale)
        add("faiss", "hnsw", HNSW | {"ef_search": ef}, build_s, mb, res)
    del peer

    exact_p50 = records[0]["p50_ms"]
    for r in records:
        r["speedup"] = round(exact_p50 / r["p50_ms"], 1)
    return records


# --------------------------------------------------------------------------- report
def to_markdown(records: list[dict[str, Any]], meta: dict[str, Any], scale: Scale) -> str:
    cols = ["library", "backend", "params", "recall@10", "p50_ms", "p99_ms", "speedup", "qps",
            "build_s", "index_mb"]  # fmt: skip
    lines = [
        "# ANN retrieval vs exact top-k (ALS vectors, seen items excluded)",
        "",
        f"{scale.users:,} real user queries (learned ALS vectors), k = {K}, each user's own "
        f"items excluded, every backend through `shopsense.ann.retrieve`. recall@10 against "
        f"exact top-10; p50/p99 of single-query latency on one thread over "
        f"{scale.latency_queries} queries; qps in batches of {BATCH} on all threads; "
        f"speedup = exact p50 / p50; build_s on all threads. "
        f"{meta['threads']} threads; total {meta['total_s']:.0f} s. {header(meta)}",
    ]
    frame = pd.DataFrame(records)
    for dataset, part in frame.groupby("dataset", sort=False):
        first = part.iloc[0]
        lines += [
            "",
            f"## {dataset} ({first['n_items']:,} items × {first['dim']} dims)",
            "",
            "| " + " | ".join(cols) + " |",
            "|" + "---|" * len(cols),
        ]
        for _, row in part.iterrows():
            lines.append("| " + " | ".join(str(row[c]) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100k synthetic items, 500 users")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--out", type=Path, default=RESULTS / "ann.json")
    args = parser.parse_args(argv)
    scale = QUICK if args.quick else FULL
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    begin = time.perf_counter()
    root = Settings().data_root
    records: list[dict[str, Any]] = []
    with threadpool_limits(args.threads):
        dataset = largest_catalogue(root)
        data, _ = load(dataset, root)
        start = time.perf_counter()
        model = ALS(factors=args.factors).fit(data)
        log(f"{dataset}: {data}; ALS({args.factors}) fitted in {time.perf_counter() - start:.1f} s")
        rng = np.random.default_rng(0)
        users = np.sort(
            rng.choice(model.n_users, size=min(scale.users, model.n_users), replace=False)
        )
        queries, seen = model.user_queries(users), model.seen_[users].tocsr()
        real = model.item_embeddings()
        records += run_catalogue(dataset, real, queries, seen, scale, args.threads, log)

        start = time.perf_counter()
        synthetic = synthetic_catalogue(real, scale.synthetic_items)
        log(f"synthetic catalogue {synthetic.shape} in {time.perf_counter() - start:.1f} s")
        seen = sp.csr_matrix(
            (seen.data, seen.indices, seen.indptr), shape=(len(users), len(synthetic))
        )
        name = f"synthetic-{scale.synthetic_items // 1000}k (GMM of {dataset} ALS)"
        records += run_catalogue(name, synthetic, queries, seen, scale, args.threads, log)
    meta = run_meta("ann", args.threads, begin, argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    records = stamp(records, meta)
    args.out.write_text(json.dumps(records, indent=1) + "\n")
    md = to_markdown(records, meta, scale)
    args.out.with_suffix(".md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
