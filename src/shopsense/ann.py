"""Top-k maximum-inner-product retrieval over item vectors, for catalogues too large to score.

Dot-product recommenders (ALS, BPR, SASRec, GRU4Rec) score an item as query · vector, so
their top-k is a maximum-inner-product search. Scoring every item costs n_items × d per
query: fine for ten thousand items, too slow for a million. `ANNIndex` answers the same
question from an HNSW graph (hnswlib, space "ip") in a fraction of a millisecond, or exactly
(NumPy) where the catalogue is small or exactness matters; `retrieve` adds what a
recommendation needs on top: no item the customer already has, only items a filter allows,
and always k items when k eligible items exist.

    >>> index = ANNIndex(model.item_embeddings())                       # doctest: +SKIP
    >>> idx, scores = retrieve(index, model.user_queries(users), 10,    # doctest: +SKIP
    ...                        exclude=model.seen_[users])

Scores are always true inner products (recomputed from the stored vectors), so they equal
`model.score` up to float32 rounding whichever backend found the items.

This module deliberately imports nothing from `shopsense.recommend` (that pulls in torch):
a serving process can load an index without the models.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Literal

import hnswlib
import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

__all__ = ["ANNIndex", "exact_top_k", "retrieve"]

logger = logging.getLogger(__name__)

Backend = Literal["hnsw", "exact"]
BACKENDS: tuple[str, ...] = ("hnsw", "exact")

FORMAT_VERSION = 1
PARAMS_FILE = "index.json"
VECTORS_FILE = "vectors.npy"
GRAPH_FILE = "hnsw.bin"

#: Exact scoring holds at most this many float32 scores at once (64 MiB): the number of
#: queries per block shrinks as the catalogue grows, so memory stays bounded.
EXACT_BLOCK_FLOATS = 1 << 24
#: A progress bar is shown while building an HNSW graph of at least this many items.
PROGRESS_MIN_ITEMS = 100_000
#: Items added to the graph per call while building (one progress-bar step).
BUILD_CHUNK = 10_000
#: When a row needs more ANN candidates than this fraction of the catalogue, it is scored
#: exactly instead: an HNSW search with ef that large is no faster than brute force.
EXACT_ABOVE_FRACTION = 0.2


class ANNIndex:
    """An index over (n_items, d) vectors answering top-k by inner product.

    Backends:
      - "hnsw": hnswlib graph in inner-product space. Approximate; query time grows with
        log(n_items) · ef_search instead of n_items.
      - "exact": NumPy matrix product + argpartition, in blocks of bounded memory. Exact;
        the right choice up to tens of thousands of items (0.1 ms a query at 12k items).

    Parameters (HNSW; stored but unused by "exact"):
      - M (16): graph links per node. More links → higher recall at a given ef_search,
        more memory (≈ 2·M·4 bytes per item on top of the vector) and slower builds.
        12–48 is the useful range (hnswlib's guidance).
      - ef_construction (200): candidate-list size while building. Higher → a better graph
        (recall) for a slower build; it does not affect query time. The benchmark builds
        a million items with 100 to keep the build to minutes.
      - ef_search (128): candidate-list size while searching (hnswlib uses max(ef, k)).
        The main recall/latency knob, and the only one that can change after the build:
        recall@10 against exact was 0.97–0.99 at 128 on ALS vectors of MovieLens and
        Amazon Beauty, 0.93–0.99 at 64 (see docs/retrieval.md for a million items).
      - threads (1): threads for building and for batch queries; -1 means every core.
        One by default because a serving process usually parallelises over requests.
      - random_state (0): seed of the graph's level assignment. Builds with threads = 1
        are repeatable; multi-threaded builds insert in a nondeterministic order.

    The index is immutable (rebuild it when the model is retrained); concurrent searches
    from several threads are safe.
    """

    def __init__(
        self,
        vectors: np.ndarray,
        backend: Backend = "hnsw",
        *,
        M: int = 16,
        ef_construction: int = 200,
        ef_search: int = 128,
        threads: int = 1,
        random_state: int = 0,
        progress: bool | None = None,
    ) -> None:
        """Build the index; `progress` None shows a bar from PROGRESS_MIN_ITEMS items on."""
        self._configure(
            _check_vectors(vectors), backend, M, ef_construction, ef_search, threads, random_state
        )
        if backend == "hnsw":
            self._graph = self._build_graph(progress)
            self._graph.set_ef(self._ef_search)

    # ------------------------------------------------------------------ construction
    def _configure(
        self,
        vectors: np.ndarray,
        backend: str,
        m: int,
        ef_construction: int,
        ef_search: int,
        threads: int,
        random_state: int,
    ) -> None:
        """Check and store the parameters (shared by building and loading)."""
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
        if m < 2 or ef_construction < 1 or ef_search < 1:
            raise ValueError("ANNIndex needs M >= 2, ef_construction >= 1 and ef_search >= 1")
        if threads < 1 and threads != -1:
            raise ValueError("threads must be >= 1, or -1 for every core")
        self.vectors = vectors
        self.backend = backend
        self.M = m
        self.ef_construction = int(ef_construction)
        self._ef_search = int(ef_search)
        self._graph: hnswlib.Index | None = None
        self.threads = int(threads)
        self.random_state = int(random_state)
        self.build_seconds = 0.0

    def _build_graph(self, progress: bool | None) -> hnswlib.Index:
        """Insert every vector into a fresh hnswlib graph, in chunks so a bar can follow."""
        n, d = self.vectors.shape
        graph = hnswlib.Index(space="ip", dim=d)
        graph.init_index(
            max_elements=n,
            M=self.M,
            ef_construction=self.ef_construction,
            random_seed=self.random_state,
        )
        show = n >= PROGRESS_MIN_ITEMS if progress is None else progress
        start = time.perf_counter()
        with tqdm(total=n, desc="hnsw build", unit="item", disable=not show, leave=False) as bar:
            for s in range(0, n, BUILD_CHUNK):
                chunk = self.vectors[s : s + BUILD_CHUNK]
                graph.add_items(chunk, np.arange(s, s + len(chunk)), num_threads=self.threads)
                bar.update(len(chunk))
        self.build_seconds = time.perf_counter() - start
        logger.info(
            "built hnsw index: %d items × %d dims, M=%d, ef_construction=%d, %d thread(s), %.1f s",
            n, d, self.M, self.ef_construction, self.threads, self.build_seconds,
        )  # fmt: skip
        return graph

    # ------------------------------------------------------------------ properties
    @property
    def n_items(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def ef_search(self) -> int:
        """Search-time candidate-list size; the one knob that can change after the build."""
        return self._ef_search

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        if int(value) < 1:
            raise ValueError("ef_search must be >= 1")
        self._ef_search = int(value)
        if self._graph is not None:
            # hnswlib searches with max(ef, k), so ef is set once here, never per query,
            # and concurrent searches need no lock.
            self._graph.set_ef(self._ef_search)

    def __len__(self) -> int:
        return self.n_items

    def params(self) -> dict[str, Any]:
        """The parameters that rebuild this index (and what `save` writes as JSON)."""
        return {
            "backend": self.backend,
            "M": self.M,
            "ef_construction": self.ef_construction,
            "ef_search": self.ef_search,
            "threads": self.threads,
            "random_state": self.random_state,
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"ANNIndex({self.n_items} items × {self.dim} dims, {args})"

    # ------------------------------------------------------------------ search
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k items by inner product for each query row, best first.

        Returns (idx int64 (n, k), scores float32 (n, k)); scores are true inner products.
        When k exceeds the catalogue, the extra columns are index -1 with score -inf.
        """
        queries = _check_queries(queries, self.dim)
        k = _check_k(k)
        if self.backend == "exact" or len(queries) == 0:
            return exact_top_k(self.vectors, queries, k)
        return self._graph_search(queries, k)

    def _graph_search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """hnswlib's candidates, rescored exactly and re-sorted (its 1 − ip is lossy)."""
        assert self._graph is not None
        kk = min(k, self.n_items)
        try:
            idx, _ = self._graph.knn_query(queries, k=kk, num_threads=self.threads)
        except RuntimeError:
            # hnswlib raises when the graph walk finds fewer than k items (tiny or
            # degenerate graphs): answer exactly rather than fail the request.
            logger.warning("hnsw search found fewer than %d items; scoring exactly", kk)
            return exact_top_k(self.vectors, queries, k)
        idx = idx.astype(np.int64)
        scores = np.empty(idx.shape, dtype=np.float32)
        step = max(1, EXACT_BLOCK_FLOATS // (kk * self.dim))  # bounds the gathered vectors
        for s in range(0, len(idx), step):
            gathered = self.vectors[idx[s : s + step]]
            scores[s : s + step] = np.einsum("nd,nkd->nk", queries[s : s + step], gathered)
        order = np.argsort(-scores, axis=1, kind="stable")
        r = np.arange(len(idx))[:, None]
        return _pad(idx[r, order], scores[r, order], k)

    # ------------------------------------------------------------------ persistence
    def save(self, folder: str | Path) -> Path:
        """Write the index into `folder`: JSON parameters, the vectors (.npy) and, for HNSW,
        hnswlib's own graph file. No pickle.

        Atomic: everything is written into a temporary sibling folder which is then renamed
        into place, so a crash never leaves a half-written index. An existing index folder
        is replaced; a non-empty folder that is not an index is refused.
        """
        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        if folder.exists() and any(folder.iterdir()) and not (folder / PARAMS_FILE).is_file():
            raise FileExistsError(f"{folder} exists and is not an ANN index folder")
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".tmp"))
        try:
            with open(tmp / VECTORS_FILE, "wb") as f:
                np.save(f, self.vectors, allow_pickle=False)
                _sync(f)
            files = [VECTORS_FILE]
            if self._graph is not None:
                self._graph.save_index(str(tmp / GRAPH_FILE))
                _fsync_path(tmp / GRAPH_FILE)
                files.append(GRAPH_FILE)
            meta = {"format": FORMAT_VERSION, "n_items": self.n_items, "dim": self.dim}
            meta |= {"params": self.params(), "files": files}
            with open(tmp / PARAMS_FILE, "w") as f:
                f.write(json.dumps(meta, indent=2) + "\n")
                _sync(f)
            _swap_in(tmp, folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return folder

    @classmethod
    def load(cls, folder: str | Path, *, threads: int | None = None) -> ANNIndex:
        """Read a folder written by `save`; same results as the saved index.

        `threads` overrides the saved thread count (the loading machine may differ).
        """
        folder = Path(folder)
        if not (folder / PARAMS_FILE).is_file():
            raise FileNotFoundError(f"{folder} holds no ANN index ({PARAMS_FILE} missing)")
        meta = json.loads((folder / PARAMS_FILE).read_text())
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"{folder}: index format {meta.get('format')!r} is not supported")
        vectors = _check_vectors(np.load(folder / VECTORS_FILE, allow_pickle=False))
        if vectors.shape != (meta["n_items"], meta["dim"]):
            raise ValueError(f"{folder}: vectors are {vectors.shape}, the index says otherwise")
        p = dict(meta["params"])
        if threads is not None:
            p["threads"] = threads
        index = cls.__new__(cls)
        index._configure(
            vectors, p["backend"], p["M"], p["ef_construction"], p["ef_search"],
            p["threads"], p["random_state"],
        )  # fmt: skip
        if index.backend == "hnsw":
            index._graph = _load_graph(folder / GRAPH_FILE, index.n_items, index.dim)
            index._graph.set_ef(index.ef_search)
        return index


def retrieve(
    index: ANNIndex,
    queries: np.ndarray,
    k: int,
    *,
    exclude: sp.spmatrix | sp.sparray | None = None,
    allowed: np.ndarray | None = None,
    oversample: float = 2.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k items per query that are not excluded and are allowed: recommendations.

    `exclude` is a sparse (n_queries, n_items) matrix whose stored entries are never
    returned for that row (e.g. `model.seen_[users]`); `allowed` a boolean mask over items
    (e.g. a category or price filter).

    The ANN is asked for k + (excluded items in the row) candidates — enough for k
    survivors whatever it returns — and, with `allowed`, for `oversample` / (allowed
    fraction) times that, since a filter keeps only about that fraction of them. Rows
    where fewer than k survive although k eligible items exist, and rows whose candidate
    count would approach the catalogue, are scored exactly, all together. So every row has
    min(k, eligible items) results, best first, padded with -1 / -inf like `search`.
    """
    queries = _check_queries(queries, index.dim)
    k = _check_k(k)
    if oversample < 1:
        raise ValueError("oversample must be >= 1")
    n, n_q = index.n_items, len(queries)
    exclude = _check_exclude(exclude, n_q, n)
    allowed = _check_allowed(allowed, n)
    n_allowed = n if allowed is None else int(allowed.sum())
    excluded = _row_counts(exclude, n_q, None)
    eligible = n_allowed - _row_counts(exclude, n_q, allowed)
    out_idx = np.full((n_q, k), -1, dtype=np.int64)
    out_scores = np.full((n_q, k), -np.inf, dtype=np.float32)
    if n_q == 0 or n_allowed == 0:
        return out_idx, out_scores

    wanted = (k + excluded).astype(np.float64)
    if allowed is not None:
        wanted = np.ceil(wanted * oversample * n / n_allowed)
    use_exact = (wanted > EXACT_ABOVE_FRACTION * n) | (index.backend == "exact")
    need_exact = use_exact.copy()
    # One ANN call per power-of-two candidate count: heavy users do not inflate the others.
    buckets = np.where(use_exact, 0, 2 ** np.ceil(np.log2(np.maximum(wanted, 16))))
    for size in np.unique(buckets[~use_exact]):
        rows = np.flatnonzero(buckets == size)
        cand, cand_scores = index.search(queries[rows], int(min(size, n)))
        keep = _eligible(cand, _take_rows(exclude, rows, n_q), allowed, n)
        out_idx[rows], out_scores[rows] = _first_k(cand, cand_scores, keep, k)
        need_exact[rows] = keep.sum(axis=1) < np.minimum(k, eligible[rows])

    rows = np.flatnonzero(need_exact)
    if len(rows):
        if not use_exact[rows].all():
            logger.debug("retrieve: %d row(s) fell back to exact scoring", len(rows))
        out_idx[rows], out_scores[rows] = exact_top_k(
            index.vectors,
            queries[rows],
            k,
            exclude=_take_rows(exclude, rows, n_q),
            allowed=allowed,
        )
    return out_idx, out_scores


# ---------------------------------------------------------------------- exact scoring
def exact_top_k(
    vectors: np.ndarray,
    queries: np.ndarray,
    k: int,
    *,
    exclude: sp.csr_matrix | None = None,
    allowed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by inner product, blocked over queries so at most EXACT_BLOCK_FLOATS
    scores exist at once. A selective `allowed` mask scores only the allowed items.

    Inputs are assumed checked (see `ANNIndex.search` / `retrieve`)."""
    columns = position = None
    if allowed is not None and allowed.mean() < 0.5:
        columns = np.flatnonzero(allowed)
        position = np.full(len(vectors), -1, dtype=np.int64)  # item → its column in scores
        position[columns] = np.arange(len(columns))
        vectors = vectors[columns]
    n = len(vectors)
    out_idx = np.full((len(queries), k), -1, dtype=np.int64)
    out_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    step = max(1, EXACT_BLOCK_FLOATS // max(n, 1))
    for s in range(0, len(queries), step):
        scores = queries[s : s + step] @ vectors.T
        if allowed is not None and columns is None:
            scores[:, ~allowed] = -np.inf
        if exclude is not None:
            _mask(scores, _row_block(exclude, s, s + step), position)
        idx, val = _top_k(scores, k)
        if columns is not None:
            idx = np.where(idx >= 0, columns[np.maximum(idx, 0)], -1)
        out_idx[s : s + step, : idx.shape[1]] = idx
        out_scores[s : s + step, : idx.shape[1]] = val
    return out_idx, out_scores


def _top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top-k via argpartition, best first; -inf entries come back as index -1.

    The same as `shopsense.recommend.base.top_k`, kept here so that this module does not
    import the recommender package (and torch with it)."""
    n, m = scores.shape
    k = min(k, m)
    if k < m:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(m), (n, m)).copy()
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    idx = np.take_along_axis(part, order, axis=1)
    val = np.take_along_axis(part_scores, order, axis=1)
    return np.where(np.isneginf(val), -1, idx), val


def _mask(scores: np.ndarray, rows: sp.csr_matrix, position: np.ndarray | None) -> None:
    """Set the scores of `rows`' stored entries to -inf, in place; with `position` (item →
    column, -1 where the item is not scored), item ids are first mapped to their column."""
    r = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
    c = rows.indices.astype(np.int64)
    if position is not None:
        c = position[c]
        r, c = r[c >= 0], c[c >= 0]
    scores[r, c] = -np.inf


# ---------------------------------------------------------------------- retrieve helpers
def _eligible(
    cand: np.ndarray, exclude: sp.csr_matrix | None, allowed: np.ndarray | None, n: int
) -> np.ndarray:
    """Which ANN candidates (rows, c) are real items, allowed and not excluded.

    Exclusion is a sorted-key lookup: in canonical CSR, row · n + column is already sorted,
    so one searchsorted answers every candidate at once."""
    keep = cand >= 0
    if allowed is not None:
        keep &= allowed[np.maximum(cand, 0)]
    if exclude is not None and exclude.nnz:
        r = np.repeat(np.arange(exclude.shape[0], dtype=np.int64), np.diff(exclude.indptr))
        banned = r * n + exclude.indices
        keys = np.arange(len(cand), dtype=np.int64)[:, None] * n + cand
        pos = np.minimum(np.searchsorted(banned, keys), len(banned) - 1)
        keep &= banned[pos] != keys
    return keep


def _row_block(m: sp.csr_matrix, start: int, stop: int) -> sp.csr_matrix:
    """Rows start:stop of a CSR matrix, as a view (scipy's slicing copies and is slow)."""
    stop = min(stop, m.shape[0])
    if start == 0 and stop == m.shape[0]:
        return m
    indptr = m.indptr[start : stop + 1]
    lo, hi = indptr[0], indptr[-1]
    return sp.csr_matrix(
        (m.data[lo:hi], m.indices[lo:hi], indptr - lo), shape=(stop - start, m.shape[1])
    )


def _take_rows(m: sp.csr_matrix | None, rows: np.ndarray, n_rows: int) -> sp.csr_matrix | None:
    """Rows of a canonical CSR matrix, without scipy's fancy-indexing overhead (which is
    most of the cost of a single-query `retrieve`)."""
    if m is None or len(rows) == n_rows:
        return m
    starts, ends = m.indptr[rows], m.indptr[rows + 1]
    lengths = ends - starts
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    take = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1])
    return sp.csr_matrix(
        (m.data[take], m.indices[take], indptr), shape=(len(rows), m.shape[1]), copy=False
    )


def _first_k(
    cand: np.ndarray, scores: np.ndarray, keep: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The first k kept candidates of each row (candidates are sorted best first)."""
    order = np.argsort(~keep, axis=1, kind="stable")[:, :k]
    r = np.arange(len(cand))[:, None]
    kept = keep[r, order]
    idx = np.where(kept, cand[r, order], -1)
    val = np.where(kept, scores[r, order], -np.inf)
    return _pad(idx, val, k)


def _row_counts(
    exclude: sp.csr_matrix | None, n_rows: int, allowed: np.ndarray | None
) -> np.ndarray:
    """Excluded items per row (only those `allowed`, when a mask is given)."""
    if exclude is None:
        return np.zeros(n_rows, dtype=np.int64)
    if allowed is None:
        return np.diff(exclude.indptr).astype(np.int64)
    r = np.repeat(np.arange(n_rows), np.diff(exclude.indptr))
    return np.bincount(r, weights=allowed[exclude.indices], minlength=n_rows).astype(np.int64)


# ---------------------------------------------------------------------- checks
def _check_vectors(vectors: np.ndarray | None) -> np.ndarray:
    """(n, d) finite float32 C-contiguous with n, d >= 1: what every backend needs."""
    if vectors is None:
        raise ValueError(
            "no item vectors: this model's scores are not a dot product "
            "(item_embeddings() returned None), so an ANN index cannot serve it"
        )
    v = np.asarray(vectors)
    if v.ndim != 2:
        raise ValueError(f"item vectors must be a 2-D (n_items, d) matrix; got shape {v.shape}")
    if v.shape[0] == 0 or v.shape[1] == 0:
        raise ValueError(f"cannot index an empty matrix of shape {v.shape}")
    v = np.ascontiguousarray(v, dtype=np.float32)
    bad = ~np.isfinite(v).all(axis=1)
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} item vector(s) contain NaN or inf (first: row "
            f"{int(np.flatnonzero(bad)[0])}); was the model trained to convergence?"
        )
    return v


def _check_queries(queries: np.ndarray, dim: int) -> np.ndarray:
    """(n, d) float32 C-contiguous, finite; a clear error for anything else."""
    q = np.asarray(queries)
    if q.ndim != 2 or q.shape[1] != dim:
        raise ValueError(
            f"queries must have shape (n, {dim}); got {q.shape} "
            "(a single query is q.reshape(1, -1))"
        )
    q = np.ascontiguousarray(q, dtype=np.float32)
    if not np.isfinite(q).all():
        raise ValueError("queries contain NaN or infinite values")
    return q


def _check_k(k: int) -> int:
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer; got {k!r}")
    return int(k)


def _check_exclude(
    exclude: sp.spmatrix | sp.sparray | None, n_rows: int, n_items: int
) -> sp.csr_matrix | None:
    """Canonical CSR of shape (n_rows, n_items), or None."""
    if exclude is None:
        return None
    if not sp.issparse(exclude):
        raise TypeError("exclude must be a scipy sparse matrix (n_queries × n_items)")
    if exclude.shape != (n_rows, n_items):
        raise ValueError(f"exclude has shape {exclude.shape}; expected {(n_rows, n_items)}")
    m = exclude.tocsr()
    if not m.has_canonical_format:
        m = m.copy()
        m.sum_duplicates()
    return m


def _check_allowed(allowed: np.ndarray | None, n_items: int) -> np.ndarray | None:
    """A boolean mask of length n_items, or None (an index array is refused, not guessed)."""
    if allowed is None:
        return None
    a = np.asarray(allowed)
    if a.dtype != np.bool_ or a.shape != (n_items,):
        raise ValueError(
            f"allowed must be a boolean mask of shape ({n_items},); got {a.dtype} {a.shape}"
        )
    return a


def _pad(idx: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Widen (n, j ≤ k) results to k columns of -1 / -inf."""
    idx, scores = idx.astype(np.int64), scores.astype(np.float32)
    if idx.shape[1] >= k:
        return idx, scores
    extra = k - idx.shape[1]
    idx = np.pad(idx, ((0, 0), (0, extra)), constant_values=-1)
    scores = np.pad(scores, ((0, 0), (0, extra)), constant_values=-np.inf)
    return idx, scores


# ---------------------------------------------------------------------- files
def _load_graph(path: Path, n: int, d: int) -> hnswlib.Index:
    """hnswlib's graph file, checked against the vectors it belongs to."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the index folder is incomplete")
    graph = hnswlib.Index(space="ip", dim=d)
    graph.load_index(str(path), max_elements=n)
    if graph.get_current_count() != n:
        raise ValueError(f"{path} holds {graph.get_current_count()} items, the vectors {n}")
    return graph


def _sync(f: Any) -> None:
    f.flush()
    os.fsync(f.fileno())


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _swap_in(tmp: Path, folder: Path) -> None:
    """Rename the finished `tmp` folder to `folder`, replacing an older index there.

    rename(2) replaces only an empty folder, so an existing index is first moved aside,
    then deleted once the new one is in place (and moved back if that rename fails)."""
    if not folder.exists() or not any(folder.iterdir()):
        os.replace(tmp, folder)
        return
    old = folder.with_name(f".{folder.name}.{uuid.uuid4().hex}.old")
    os.rename(folder, old)
    try:
        os.rename(tmp, folder)
    except BaseException:
        os.rename(old, folder)
        raise
    shutil.rmtree(old, ignore_errors=True)
