"""Neighbourhood collaborative filtering: item-based and user-based kNN.

Item-based: Sarwar, Karypis, Konstan & Riedl, "Item-based collaborative filtering
recommendation algorithms", WWW 2001; Deshpande & Karypis, "Item-based top-N
recommendation algorithms", TOIS 2004. User-based: Herlocker, Konstan, Borchers & Riedl,
"An algorithmic framework for performing collaborative filtering", SIGIR 1999.
Shrunk cosine: similarity = dot / (|a| |b| + shrink), which damps pairs seen together
only a few times. Optional TF-IDF or BM25 weighting of the user×item matrix (Robertson &
Zaragoza 2009) down-weights heavy users and very popular items.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from shopsense.data.views import Interactions
from shopsense.estimator import register
from shopsense.recommend.base import Recommender, csr_from_state, csr_state

WEIGHTINGS = ("none", "tfidf", "bm25")


def weight_matrix(
    matrix: sp.csr_matrix, weighting: str, bm25_k1: float = 1.2, bm25_b: float = 0.75
) -> sp.csr_matrix:
    """Re-weight a users×items matrix: `none`, `tfidf` or `bm25` (items as terms)."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, not {weighting!r}")
    m = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    if weighting == "none":
        return m
    n_users = m.shape[0]
    df = np.bincount(m.indices, minlength=m.shape[1]).astype(np.float32)
    idf = np.log(n_users / np.maximum(df, 1.0)).astype(np.float32)
    if weighting == "tfidf":
        m.data = np.sqrt(m.data) * idf[m.indices]
        return m
    lengths = np.asarray(m.sum(axis=1)).ravel()
    norm = (1.0 - bm25_b) + bm25_b * lengths / max(lengths.mean(), 1e-12)
    row_norm = np.repeat(norm, np.diff(m.indptr)).astype(np.float32)
    m.data = m.data * (bm25_k1 + 1.0) / (bm25_k1 * row_norm + m.data) * idf[m.indices]
    return m


def weight_new_rows(
    rows: sp.csr_matrix,
    reference: sp.csr_matrix,
    weighting: str,
    bm25_k1: float = 1.2,
    bm25_b: float = 0.75,
) -> sp.csr_matrix:
    """Weight 0/1 history rows of users the model was not fitted on like `weight_matrix`
    weighted the training rows: the item statistics (IDF, mean length) come from
    `reference`, the fitted matrix, so a folded-in user is scored on the fitted scale."""
    m = sp.csr_matrix(rows, dtype=np.float32, copy=True)
    if weighting == "none":
        return m
    n_users = max(reference.shape[0], 1)
    df = np.bincount(reference.indices, minlength=reference.shape[1]).astype(np.float32)
    idf = np.log(n_users / np.maximum(df, 1.0)).astype(np.float32)
    if weighting == "tfidf":
        m.data = np.sqrt(m.data) * idf[m.indices]
        return m
    mean_length = max(float(np.diff(reference.indptr).mean()), 1e-12)
    lengths = np.asarray(m.sum(axis=1)).ravel()
    norm = (1.0 - bm25_b) + bm25_b * lengths / mean_length
    row_norm = np.repeat(norm, np.diff(m.indptr)).astype(np.float32)
    m.data = m.data * (bm25_k1 + 1.0) / (bm25_k1 * row_norm + m.data) * idf[m.indices]
    return m


def top_k_per_row(matrix: sp.csr_matrix, k: int | None) -> sp.csr_matrix:
    """Keep the k largest entries of each row of a sparse matrix (vectorised)."""
    m = sp.csr_matrix(matrix)
    m.eliminate_zeros()
    if k is None or k <= 0:
        return m
    counts = np.diff(m.indptr)
    if counts.max(initial=0) <= k:
        return m
    rows = np.repeat(np.arange(m.shape[0]), counts)
    order = np.lexsort((-m.data, rows))
    rank = np.arange(len(order)) - m.indptr[rows[order]]
    keep = order[rank < k]
    return sp.csr_matrix((m.data[keep], (rows[keep], m.indices[keep])), shape=m.shape)


def shrunk_cosine(a: sp.csr_matrix, b: sp.csr_matrix, shrink: float) -> sp.csr_matrix:
    """Rows of a against rows of b: dot / (|a_i| |b_j| + shrink), sparse."""
    dot = sp.csr_matrix(a @ b.T, dtype=np.float32)
    na = np.sqrt(np.asarray(a.multiply(a).sum(axis=1)).ravel()).astype(np.float32)
    nb = np.sqrt(np.asarray(b.multiply(b).sum(axis=1)).ravel()).astype(np.float32)
    rows = np.repeat(np.arange(dot.shape[0]), np.diff(dot.indptr))
    dot.data /= na[rows] * nb[dot.indices] + shrink + 1e-12
    return dot


@dataclass
class ItemKNNConfig:
    neighbors: int = 100
    """Similar items kept per item (0 keeps all)."""
    shrink: float = 10.0
    """Added to the cosine denominator; damps similarities from few co-occurrences."""
    weighting: str = "none"
    """Weighting of the user×item matrix before similarities: none, tfidf or bm25."""
    binary: bool = True
    """Use 0/1 interactions (True) or the summed event weights (False)."""


@register("itemknn")
class ItemKNN(Recommender):
    """Scores item i for user u as Σ_j x_uj · sim(j, i) over the user's items j."""

    name = "itemknn"
    Config = ItemKNNConfig

    def _fit(self, train: Interactions, items: pd.DataFrame | None) -> None:
        c = self.config
        x = weight_matrix(train.binary if c.binary else train.csr, c.weighting)
        self.user_items_ = x
        by_item = x.T.tocsr()
        sim = shrunk_cosine(by_item, by_item, c.shrink)
        sim.setdiag(0.0)
        # Row j holds the neighbours of history item j that it pushes up.
        self.similarity_ = top_k_per_row(sim, c.neighbors).astype(np.float32)

    scores_histories = True

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        return (self.user_items_[user_idx] @ self.similarity_).toarray()

    def _score_histories(self, histories: list[np.ndarray]) -> np.ndarray:
        rows = weight_new_rows(
            self.history_matrix(histories), self.user_items_, self.config.weighting
        )
        return (rows @ self.similarity_).toarray()

    def _similarity(self, item_idx: np.ndarray) -> np.ndarray:
        return self.similarity_[item_idx].toarray()

    def _contributions(self, user: int, item: int, history: np.ndarray) -> np.ndarray:
        x = self.user_items_[user].toarray().ravel()[history]
        return x * self.similarity_[history][:, [item]].toarray().ravel()

    def _state(self) -> dict[str, np.ndarray]:
        return {**csr_state("x", self.user_items_), **csr_state("sim", self.similarity_)}

    def _set_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.user_items_ = csr_from_state("x", arrays)
        self.similarity_ = csr_from_state("sim", arrays)


@dataclass
class UserKNNConfig:
    neighbors: int = 50
    """Most similar users whose items are summed for a user."""
    shrink: float = 10.0
    """Added to the cosine denominator; damps similarities from few shared items."""
    weighting: str = "none"
    """Weighting of the user×item matrix before similarities: none, tfidf or bm25."""
    binary: bool = True
    """Use 0/1 interactions (True) or the summed event weights (False)."""


@register("userknn")
class UserKNN(Recommender):
    """Scores item i for user u as Σ_v sim(u, v) · x_vi over u's nearest users v.

    Neighbours are found at scoring time, one batch of users against all users, so the
    model keeps only the (sparse) user×item matrix.
    """

    name = "userknn"
    Config = UserKNNConfig
    batch_size = 512

    def _fit(self, train: Interactions, items: pd.DataFrame | None) -> None:
        c = self.config
        self.user_items_ = weight_matrix(train.binary if c.binary else train.csr, c.weighting)

    scores_histories = True

    def _neighbours(self, user_idx: np.ndarray) -> sp.csr_matrix:
        x = self.user_items_
        sim = shrunk_cosine(x[user_idx], x, self.config.shrink)
        rows = np.repeat(np.arange(len(user_idx)), np.diff(sim.indptr))
        sim.data[sim.indices == user_idx[rows]] = 0.0  # a user is not their own neighbour
        return top_k_per_row(sim, self.config.neighbors)

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        return (self._neighbours(user_idx) @ self.user_items_).toarray()

    def _score_histories(self, histories: list[np.ndarray]) -> np.ndarray:
        x = self.user_items_
        rows = weight_new_rows(self.history_matrix(histories), x, self.config.weighting)
        nb = top_k_per_row(shrunk_cosine(rows, x, self.config.shrink), self.config.neighbors)
        return (nb @ x).toarray()

    def _similarity(self, item_idx: np.ndarray) -> np.ndarray:
        by_item = self.user_items_.T.tocsr()
        return shrunk_cosine(by_item[item_idx], by_item, self.config.shrink).toarray()

    def _contributions(self, user: int, item: int, history: np.ndarray) -> np.ndarray:
        # Neighbours who share history item j and bought the target vote through j.
        nb = self._neighbours(np.array([user]))
        votes = nb.multiply(self.user_items_[:, [item]].T.toarray()).tocsr()
        shared = votes @ self.seen_[:, history]
        return np.asarray(shared.todense()).ravel()

    def _state(self) -> dict[str, np.ndarray]:
        return csr_state("x", self.user_items_)

    def _set_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.user_items_ = csr_from_state("x", arrays)
