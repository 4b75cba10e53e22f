"""Top-k ranking metrics, vectorised over users.

Every metric takes `recommended`, an (n_users, k) array of item indices in rank order
(-1 pads rows with fewer than k items), and `truth`, an (n_users, n_items) sparse matrix
whose non-zeros are the relevant items of each row. It returns one value per row; the
caller averages. Rows with no relevant item should not be passed (they are undefined
for recall and NDCG).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp


def hits(recommended: np.ndarray, truth: sp.csr_matrix) -> np.ndarray:
    """(n, k) bool: is the item at each rank relevant for that row."""
    truth = sp.csr_matrix(truth)
    recommended = np.asarray(recommended)
    n, _k = recommended.shape
    if truth.shape[0] != n:
        raise ValueError(f"recommended has {n} rows but truth has {truth.shape[0]}")
    n_items = truth.shape[1]
    truth.sort_indices()
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(truth.indptr))
    keys = rows * n_items + truth.indices.astype(np.int64)  # sorted because rows/indices are
    query = np.arange(n, dtype=np.int64)[:, None] * n_items + recommended.astype(np.int64)
    pos = np.searchsorted(keys, query)
    pos = np.clip(pos, 0, max(len(keys) - 1, 0))
    found = keys[pos] == query if len(keys) else np.zeros_like(query, dtype=bool)
    return found & (recommended >= 0)


def _n_relevant(truth: sp.csr_matrix) -> np.ndarray:
    return np.diff(sp.csr_matrix(truth).indptr).astype(np.float64)


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def hit_rate(recommended: np.ndarray, truth: sp.csr_matrix) -> np.ndarray:
    """1 if any of the top k is relevant, else 0."""
    return hits(recommended, truth).any(axis=1).astype(np.float64)


def recall(recommended: np.ndarray, truth: sp.csr_matrix) -> np.ndarray:
    """Relevant items in the top k / all relevant items of the row."""
    return hits(recommended, truth).sum(axis=1) / np.maximum(_n_relevant(truth), 1)


def precision(recommended: np.ndarray, truth: sp.csr_matrix) -> np.ndarray:
    """Relevant items in the top k / k."""
    return hits(recommended, truth).sum(axis=1) / recommended.shape[1]


def ndcg(recommended: np.ndarray, truth: sp.csr_matrix) -> np.ndarray:
    """Binary-relevance NDCG: DCG of the list over DCG of the ideal list of min(k, |rel|)."""
    h = hits(recommended, truth)
    k = recommended.shape[1]
    disc = _discounts(k)
    dcg = (h * disc).sum(axis=1)
    ideal_cum = np.concatenate([[0.0], np.cumsum(disc)])
    n_ideal = np.minimum(_n_relevant(truth), k).astype(np.int64)
    idcg = ideal_cum[n_ideal]
    return np.divide(dcg, idcg, out=np.zeros_like(dcg), where=idcg > 0)


def mrr(recommended: np.ndarray, truth: sp.csr_matrix) -> np.ndarray:
    """1 / rank of the first relevant item in the top k (0 if none)."""
    h = hits(recommended, truth)
    first = h.argmax(axis=1)
    return np.where(h.any(axis=1), 1.0 / (first + 1), 0.0)


def average_precision(recommended: np.ndarray, truth: sp.csr_matrix) -> np.ndarray:
    """AP@k: mean of precision@i over the ranks i that hit, over min(k, |rel|)."""
    h = hits(recommended, truth).astype(np.float64)
    k = recommended.shape[1]
    prec_at_i = np.cumsum(h, axis=1) / np.arange(1, k + 1)
    denom = np.minimum(_n_relevant(truth), k)
    return np.divide((prec_at_i * h).sum(axis=1), denom, out=np.zeros(len(h)), where=denom > 0)


def coverage(recommended: np.ndarray, n_items: int) -> float:
    """Share of the catalogue that appears in at least one list (a catalogue-level metric)."""
    shown = np.unique(recommended[recommended >= 0])
    return len(shown) / n_items if n_items else 0.0


PerUserMetric = Callable[[np.ndarray, sp.csr_matrix], np.ndarray]

METRICS: dict[str, PerUserMetric] = {
    "hr": hit_rate,
    "recall": recall,
    "precision": precision,
    "ndcg": ndcg,
    "mrr": mrr,
    "map": average_precision,
}
