"""The recommender contract, written once.

A model file holds only its own maths: `_fit` learns from an `Interactions` view, `_score`
returns scores for a batch of users over all items, and `_state`/`_set_state` list the
arrays that make it up. Everything else — id maps, excluding what a user already has,
batched top-k, similar items, explanations, saving and loading — lives here, so every
model behaves the same at the edges.
"""

from __future__ import annotations

import dataclasses
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm.auto import tqdm

from shopsense.data.views import Interactions, ids_to_index
from shopsense.estimator import Estimator, NotFittedError
from shopsense.persist import atomic_write_stream, write_json

CONFIG_FILE = "model.json"
ARRAYS_FILE = "arrays.npz"

__all__ = [
    "ARRAYS_FILE",
    "CONFIG_FILE",
    "Explanation",
    "NotFittedError",
    "Recommender",
    "csr_from_state",
    "csr_state",
    "sparse_rows_times_dense",
    "top_k",
]


@dataclass(frozen=True)
class Explanation:
    """Why a model scores an item for a user, in terms of the user's own items."""

    user: str
    item: str
    score: float
    because: list[tuple[str, float]] = field(default_factory=list)
    reason: str = "history"  # "history": items of the user; "popular": no personal signal

    def text(self, titles: Mapping[str, str] | None = None, verb: str = "bought") -> str:
        """A sentence for a person, e.g. "because you bought X, Y"."""
        name = lambda i: (titles or {}).get(i) or i  # noqa: E731
        if self.reason == "popular" or not self.because:
            return f"{name(self.item)} is popular with other customers"
        items = [name(i) for i, w in self.because if w > 0] or [name(self.because[0][0])]
        return f"because you {verb} " + ", ".join(items)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Recommender(Estimator, ABC):
    """Base of every recommender: `fit`, `score`, `recommend`, `similar_items`, `explain`,
    `save`, `load`.

    Hyper-parameters live in the model's `Config` dataclass: `Model(**params)` stores them
    and does nothing else; checks happen in `fit`. Learned attributes end in `_`.
    """

    name: ClassVar[str]
    Config: ClassVar[type]
    fitted_attribute: ClassVar[str] = "item_ids_"
    #: scores computed for this many users at a time (bounds memory: batch × items floats)
    batch_size: int = 1024

    def __init__(self, **params: Any) -> None:
        self.config = self.Config(**params)

    # ----------------------------------------------------------------- parameters
    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ----------------------------------------------------------------- fitting
    def fit(self, train: Interactions, items: pd.DataFrame | None = None) -> Self:
        """Learn from `train`; `items` (the catalogue table) is used by content models."""
        if train.n_events == 0:
            raise ValueError(f"{type(self).__name__}.fit: the training view has no events")
        self.user_ids_ = np.asarray(train.user_ids)
        self.item_ids_ = np.asarray(train.item_ids)
        self.seen_ = train.binary.astype(np.float32)
        self._user_index: dict[str, int] | None = None
        self._item_index: dict[str, int] | None = None
        try:
            self._fit(train, items)
        except BaseException:
            del self.item_ids_  # a failed fit leaves the model unfitted, not half-fitted
            raise
        return self

    @abstractmethod
    def _fit(self, train: Interactions, items: pd.DataFrame | None) -> None:
        """The model's own learning."""

    @abstractmethod
    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        """(len(user_idx), n_items) float32 scores; higher is better."""

    def _state(self) -> dict[str, np.ndarray]:
        """Learned arrays to persist (besides ids and the seen matrix)."""
        return {}

    def _set_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Restore what `_state` returned (nothing, for a model without arrays)."""

    # ----------------------------------------------------------------- history
    #: True when scores follow a user's history at once (sequence models, autoencoders);
    #: False when users are learned parameters, so new events only change what is excluded.
    folds_in: ClassVar[bool] = False

    def with_history(self, data: Interactions) -> Self:
        """Score users from `data`'s events from now on, without retraining.

        `data` must be on the model's vocabulary (e.g. train + validation of the split the
        model was trained on). Seen items are always taken from it; whether the scores
        themselves change depends on `folds_in`.
        """
        self._check_fitted()
        if data.n_users != self.n_users or data.n_items != self.n_items:
            raise ValueError(
                f"with_history: the view has {data.n_users} users × {data.n_items} items, "
                f"the model {self.n_users} × {self.n_items}; use the same vocabulary"
            )
        self.seen_ = data.binary.astype(np.float32)
        self._history_changed(data)
        return self

    def _history_changed(self, data: Interactions) -> None:
        """Models that fold in new events refresh their per-user inputs here."""

    # ----------------------------------------------------------------- fold-in
    #: True when `score_histories` scores a user from an item history alone, so customers
    #: who are new, or who acted since training, get personal scores without retraining.
    scores_histories: ClassVar[bool] = False

    def history_of(self, user_idx: int) -> np.ndarray:
        """Item indices the model holds as one user's history (oldest first where the model
        keeps the order, i.e. sequence models; otherwise in index order)."""
        self._check_fitted()
        u, p = int(user_idx), self.seen_.indptr  # direct slicing: no sparse matrix per call
        return self.seen_.indices[p[u] : p[u + 1]].astype(np.int64)

    def score_histories(self, histories: Sequence[np.ndarray | Sequence[int]]) -> np.ndarray:
        """Scores of every item, (len(histories), n_items) float32, for users given only as
        item-index histories (oldest first): fold-in, no retraining.

        Raises NotImplementedError for models that learn a vector per user from training
        (NeuMF, BPR): they cannot place a history they were not trained on.
        """
        self._check_fitted()
        if not self.scores_histories:
            raise NotImplementedError(
                f"{type(self).__name__} learns one vector per training user; it cannot score "
                "a new history without retraining"
            )
        rows = [np.asarray(h, dtype=np.int64).ravel() for h in histories]
        for h in rows:
            if h.size and (h.min() < 0 or h.max() >= self.n_items):
                raise IndexError(f"history item index out of range [0, {self.n_items})")
        if not rows:
            return np.zeros((0, self.n_items), dtype=np.float32)
        return np.asarray(self._score_histories(rows), dtype=np.float32)

    def _score_histories(self, histories: list[np.ndarray]) -> np.ndarray:
        """The model's own fold-in; only called when `scores_histories` is True."""
        raise NotImplementedError

    def history_matrix(self, histories: Sequence[np.ndarray]) -> sp.csr_matrix:
        """Histories as a (len, n_items) 0/1 float32 matrix (repeats counted once)."""
        lengths = [len(h) for h in histories]
        rows = np.repeat(np.arange(len(histories)), lengths)
        cols = np.concatenate(histories) if histories else np.zeros(0, np.int64)
        m = sp.csr_matrix(
            (np.ones(len(cols), np.float32), (rows, cols)),
            shape=(len(histories), self.n_items),
            dtype=np.float32,
        )
        m.sum_duplicates()
        m.data[:] = 1.0
        return m

    # ----------------------------------------------------------------- retrieval
    def item_embeddings(self) -> np.ndarray | None:
        """(n_items, d) float32 vectors with score(u, i) = query(u) · vector(i), exactly.

        Models whose scores are such a dot product (matrix factorisation, sequence models)
        return them so that an approximate nearest-neighbour index can retrieve top-k
        without scoring the whole catalogue; others return None.
        """
        return None

    #: True when `user_queries` runs a network over the history (sequence models): a
    #: service then computes every known user's query once at load instead of per request
    queries_are_costly: ClassVar[bool] = False

    def user_queries(self, user_idx: np.ndarray | Sequence[int]) -> np.ndarray:
        """(n, d) query vectors of users, paired with `item_embeddings`."""
        raise NotImplementedError(f"{type(self).__name__} has no query vectors")

    def history_queries(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """(n, d) query vectors of users given as item-index histories (fold-in)."""
        raise NotImplementedError(f"{type(self).__name__} cannot embed a new history")

    # ----------------------------------------------------------------- ids
    @property
    def n_users(self) -> int:
        self._check_fitted()
        return len(self.user_ids_)

    @property
    def n_items(self) -> int:
        self._check_fitted()
        return len(self.item_ids_)

    def user_index(self, users: Iterable[str], *, strict: bool = True) -> np.ndarray:
        """Indices of user ids (KeyError for unknown ids, or -1 when not strict)."""
        self._check_fitted()
        if self._user_index is None:
            self._user_index = {u: k for k, u in enumerate(self.user_ids_.tolist())}
        return ids_to_index(self._user_index, users, "user", strict)

    def item_index(self, items: Iterable[str], *, strict: bool = True) -> np.ndarray:
        """Indices of item ids (KeyError for unknown ids, or -1 when not strict)."""
        self._check_fitted()
        if self._item_index is None:
            self._item_index = {t: k for k, t in enumerate(self.item_ids_.tolist())}
        return ids_to_index(self._item_index, items, "item", strict)

    # ----------------------------------------------------------------- scoring
    def score(self, user_idx: np.ndarray | Sequence[int]) -> np.ndarray:
        """Scores of every item for the given user indices, (n, n_items) float32."""
        self._check_fitted()
        user_idx = np.asarray(user_idx, dtype=np.int64)
        if user_idx.size and (user_idx.min() < 0 or user_idx.max() >= self.n_users):
            raise IndexError(f"user index out of range [0, {self.n_users})")
        return np.asarray(self._score(user_idx), dtype=np.float32)

    def recommend_indices(
        self,
        user_idx: np.ndarray | Sequence[int],
        k: int = 10,
        *,
        exclude_seen: bool = True,
        exclude: sp.csr_matrix | None = None,
        progress: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k item indices and scores for each user index, in batches.

        `exclude` is an extra (n_users × n_items) matrix of items never to return.
        Rows with fewer than k candidates are padded with index -1 and score -inf.
        """
        self._check_fitted()
        if k < 1:
            raise ValueError("k must be at least 1")
        user_idx = np.asarray(user_idx, dtype=np.int64)
        k = min(k, self.n_items)
        out_idx = np.empty((len(user_idx), k), dtype=np.int64)
        out_score = np.empty((len(user_idx), k), dtype=np.float32)
        starts = range(0, len(user_idx), self.batch_size)
        quiet = not progress or len(starts) < 10  # a bar only where waiting is noticeable
        bar = tqdm(starts, desc=f"scoring {self.name}", unit="batch", leave=False, disable=quiet)
        for s in bar:
            batch = user_idx[s : s + self.batch_size]
            scores = self.score(batch)
            if exclude_seen:
                _mask(scores, self.seen_[batch])
            if exclude is not None:
                _mask(scores, exclude[batch])
            idx, val = top_k(scores, k)
            out_idx[s : s + len(batch)] = idx
            out_score[s : s + len(batch)] = val
        return out_idx, out_score

    def recommend(
        self, users: Iterable[str], k: int = 10, *, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k item ids and scores for each user id: arrays of shape (n_users, k).

        Padding (fewer than k candidates) is the empty string with score -inf.
        """
        idx, scores = self.recommend_indices(self.user_index(users), k, exclude_seen=exclude_seen)
        return self._ids(idx), scores

    def _ids(self, idx: np.ndarray) -> np.ndarray:
        ids = self.item_ids_[np.maximum(idx, 0)]
        return np.where(idx >= 0, ids, "")

    # ----------------------------------------------------------------- similar items
    def item_vectors(self) -> np.ndarray | None:
        """Dense item representations used for similarity, or None if the model has none."""
        return None

    def _similarity(self, item_idx: np.ndarray) -> np.ndarray:
        """(len(item_idx), n_items) similarity of the given items to every item."""
        vectors = self.item_vectors()
        if vectors is None:
            raise NotImplementedError(f"{type(self).__name__} has no notion of item similarity")
        vectors = np.asarray(vectors, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1)
        norms[norms == 0] = 1.0
        unit = vectors / norms[:, None]
        return unit[item_idx] @ unit.T

    def similar_items(self, items: Iterable[str], k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The k items most similar to each given item (itself excluded): ids, scores."""
        item_idx = self.item_index(items)
        k = min(k, self.n_items - 1)
        out_idx = np.empty((len(item_idx), k), dtype=np.int64)
        out_score = np.empty((len(item_idx), k), dtype=np.float32)
        for s in range(0, len(item_idx), self.batch_size):
            batch = item_idx[s : s + self.batch_size]
            sim = np.asarray(self._similarity(batch), dtype=np.float32)
            sim[np.arange(len(batch)), batch] = -np.inf
            out_idx[s : s + len(batch)], out_score[s : s + len(batch)] = top_k(sim, k)
        return self._ids(out_idx), out_score

    # ----------------------------------------------------------------- explanations
    def _contributions(self, user: int, item: int, history: np.ndarray) -> np.ndarray:
        """How much each history item pushes `item` up for `user`.

        Models whose score is a sum over the user's items (item-kNN, EASE, ALS) override
        this with the exact terms; the default is the similarity of the items.
        """
        return self._similarity(np.array([item]))[0, history]

    def explain(self, user: str, item: str, n: int = 3) -> Explanation:
        """Why `item` is recommended to `user`: the user's items that contribute most."""
        u = int(self.user_index([user])[0])
        i = int(self.item_index([item])[0])
        score = float(self.score(np.array([u]))[0, i])
        history = self.seen_[u].indices
        if len(history) == 0:
            return Explanation(user, item, score, [], reason="popular")
        contrib = np.asarray(self._contributions(u, i, history), dtype=np.float64)
        order = np.argsort(-contrib, kind="stable")[:n]
        because = [(str(self.item_ids_[history[j]]), float(contrib[j])) for j in order]
        return Explanation(user, item, score, because)

    # ----------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Write config JSON + arrays (npz, no pickle) into the folder `path`."""
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        arrays = {f"state.{k}": np.asarray(v) for k, v in self._state().items()}
        arrays["user_ids"] = self.user_ids_.astype(str)
        arrays["item_ids"] = self.item_ids_.astype(str)
        arrays["seen.indptr"] = self.seen_.indptr
        arrays["seen.indices"] = self.seen_.indices
        for key, value in arrays.items():
            if value.dtype == object:
                raise TypeError(f"{type(self).__name__}: state {key!r} is an object array")
        atomic_write_stream(path / ARRAYS_FILE, lambda f: np.savez(f, **arrays))
        meta = {"model": self.name, "config": self.get_params()}
        write_json(path / CONFIG_FILE, meta)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a folder written by `save`: same scores as the model that was saved."""
        path = Path(path)
        meta = json.loads((path / CONFIG_FILE).read_text())
        if meta.get("model") != cls.name:
            raise ValueError(f"{path} holds a {meta.get('model')!r} model, not {cls.name!r}")
        model = cls(**meta["config"])
        with np.load(path / ARRAYS_FILE, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        model.user_ids_ = arrays.pop("user_ids")
        model.item_ids_ = arrays.pop("item_ids")
        indptr, indices = arrays.pop("seen.indptr"), arrays.pop("seen.indices")
        model.seen_ = sp.csr_matrix(
            (np.ones(len(indices), np.float32), indices, indptr),
            shape=(len(model.user_ids_), len(model.item_ids_)),
        )
        model._user_index = None
        model._item_index = None
        model._set_state({k.removeprefix("state."): v for k, v in arrays.items()})
        return model


#: gathering rows costs memory per stored entry; beyond this many gathered floats a sparse
#: product is cheaper
_GATHER_FLOATS = 1 << 22


def sparse_rows_times_dense(x: sp.csr_matrix, rows: np.ndarray, dense: np.ndarray) -> np.ndarray:
    """`x[rows] @ dense` as a dense float32 array.

    For a few rows (the service scores one customer per request) it sums the gathered rows
    of `dense` directly, which skips building a sparse matrix: about ten times faster than
    SciPy's slicing + product at that size. Larger batches use the sparse product.
    """
    rows = np.asarray(rows, dtype=np.int64)
    starts, ends = x.indptr[rows], x.indptr[rows + 1]
    lengths = ends - starts
    if int(lengths.sum()) * dense.shape[1] > _GATHER_FLOATS:
        return np.asarray(x[rows] @ dense, dtype=np.float32)
    total = int(lengths.sum())
    offsets = np.cumsum(lengths) - lengths  # where each row starts among the gathered
    take = np.repeat(starts - offsets, lengths) + np.arange(total)
    # (rows × entries) coefficients times the gathered rows: one small BLAS product
    coef = np.zeros((len(rows), total), dtype=np.float32)
    coef[np.repeat(np.arange(len(rows)), lengths), np.arange(total)] = x.data[take]
    return np.asarray(coef @ dense[x.indices[take]], dtype=np.float32)


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top-k of a dense score matrix, best first, via argpartition.

    Entries that are -inf (excluded) come back as index -1.
    """
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
    idx = np.where(np.isneginf(val), -1, idx)
    return idx, val


def _mask(scores: np.ndarray, rows: sp.csr_matrix) -> None:
    """Set scores of the non-zeros of `rows` (a batch × items matrix) to -inf, in place."""
    rows = sp.csr_matrix(rows)
    r = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
    scores[r, rows.indices] = -np.inf


def csr_state(prefix: str, m: sp.csr_matrix) -> dict[str, np.ndarray]:
    """A sparse matrix as plain arrays for `_state` (no pickle)."""
    m = sp.csr_matrix(m)
    return {
        f"{prefix}.data": m.data.astype(np.float32),
        f"{prefix}.indices": m.indices,
        f"{prefix}.indptr": m.indptr,
        f"{prefix}.shape": np.asarray(m.shape, dtype=np.int64),
    }


def csr_from_state(prefix: str, arrays: Mapping[str, np.ndarray]) -> sp.csr_matrix:
    """Inverse of `csr_state`."""
    return sp.csr_matrix(
        (arrays[f"{prefix}.data"], arrays[f"{prefix}.indices"], arrays[f"{prefix}.indptr"]),
        shape=tuple(arrays[f"{prefix}.shape"]),
    )
