"""Task views: the shapes models learn from, built from the store or from a frame.

`Interactions` is the view every recommender takes: the event log as index arrays
(user, item, weight, time) over a fixed vocabulary of user and item ids. Models never see
raw ids or file paths; they see indices, and the view maps back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

if TYPE_CHECKING:
    from shopsense.data.store import Store


@dataclass(frozen=True, eq=False)
class Interactions:
    """Users × items event log over a fixed id vocabulary.

    Events are kept one per row, ordered by user, then time, then arrival, so splits and
    sequences come straight from the arrays. Two views built on the same vocabulary
    (e.g. the train and test parts of a split) share index spaces.

    Attributes:
        user_ids: index -> user id (strings).
        item_ids: index -> item id (strings).
        user_idx, item_idx: per event, int32 indices into the vocabularies.
        weights: per event, float32 strength (1 for a plain event, a rating, ...).
        timestamps: per event, int64 nanoseconds since the Unix epoch.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    user_idx: np.ndarray
    item_idx: np.ndarray
    weights: np.ndarray
    timestamps: np.ndarray
    _user_index: dict[str, int] | None = field(default=None, repr=False, compare=False)
    _item_index: dict[str, int] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = len(self.user_idx)
        for name in ("item_idx", "weights", "timestamps"):
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"Interactions: {name} has {len(getattr(self, name))} rows, not {n}"
                )

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        user_col: str = "user_id",
        item_col: str = "item_id",
        time_col: str | None = "timestamp",
        weight_col: str | None = None,
        user_ids: Sequence[str] | np.ndarray | None = None,
        item_ids: Sequence[str] | np.ndarray | None = None,
        keep: str = "all",
    ) -> Interactions:
        """Build from a frame of events.

        Args:
            weight_col: column giving each event's weight; None counts every event as 1.
            user_ids, item_ids: a fixed vocabulary (events with unknown ids are dropped);
                by default the sorted distinct ids of the frame.
            keep: "all" events, or "first" to keep only the first event of each
                (user, item) pair — purchase logs with repeat buys use this so that the
                held-out item of leave-last-out is new to the user.
        """
        if keep not in ("all", "first"):
            raise ValueError(f"keep must be 'all' or 'first', not {keep!r}")
        missing = [c for c in (user_col, item_col, time_col, weight_col) if c and c not in frame]
        if missing:
            raise KeyError(f"frame has no column(s) {missing}; it has {list(frame.columns)}")
        users = frame[user_col].astype(str).to_numpy()
        items = frame[item_col].astype(str).to_numpy()
        if user_ids is None:
            user_ids = np.unique(users)
        if item_ids is None:
            item_ids = np.unique(items)
        user_ids = np.asarray(user_ids, dtype=str)
        item_ids = np.asarray(item_ids, dtype=str)
        u = _lookup(user_ids, users)
        i = _lookup(item_ids, items)
        ts = np.arange(len(frame), dtype=np.int64) if time_col is None else _to_ns(frame[time_col])
        if weight_col is None:
            w = np.ones(len(frame), dtype=np.float32)
        else:
            w = pd.to_numeric(frame[weight_col], errors="coerce").fillna(1.0).to_numpy(np.float32)
        known = (u >= 0) & (i >= 0)
        u, i, w, ts = u[known], i[known], w[known], ts[known]
        # Stable sort: user, then time, then arrival order.
        order = np.lexsort((np.arange(len(u)), ts, u))
        u, i, w, ts = u[order], i[order], w[order], ts[order]
        if keep == "first" and len(u):
            pair = u.astype(np.int64) * len(item_ids) + i
            _, first = np.unique(pair, return_index=True)
            first.sort()
            u, i, w, ts = u[first], i[first], w[first], ts[first]
        return cls(user_ids, item_ids, u.astype(np.int32), i.astype(np.int32), w, ts)

    @classmethod
    def from_store(
        cls,
        store: Store,
        *,
        event_types: Iterable[str] | None = None,
        weight_col: str | None = None,
        keep: str = "all",
    ) -> Interactions:
        """Build from the store's `events` table, optionally only some event types."""
        where = None
        if event_types is not None:
            kinds = ", ".join(f"'{t!s}'" for t in event_types)
            where = f"event_type IN ({kinds})"
        frame = store.read("events", ["user_id", "item_id", "value", "timestamp"], where=where)
        if frame.empty:
            raise ValueError(
                f"the store {getattr(store, 'path', '')} has no events"
                + (f" of type {list(event_types)}" if event_types is not None else "")
                + "; load some with `shopsense ingest events FILE` or `shopsense data load`"
            )
        return cls.from_frame(frame, weight_col=weight_col, keep=keep)

    def with_events(self, mask: np.ndarray) -> Interactions:
        """The events selected by a boolean mask, on the same vocabulary."""
        return Interactions(
            self.user_ids,
            self.item_ids,
            self.user_idx[mask],
            self.item_idx[mask],
            self.weights[mask],
            self.timestamps[mask],
            self._user_index,
            self._item_index,
        )

    def concat(self, other: Interactions) -> Interactions:
        """Events of both views (same vocabulary), re-ordered by user and time."""
        if other.n_users != self.n_users or other.n_items != self.n_items:
            raise ValueError("can only concatenate views on the same vocabulary")
        u = np.concatenate([self.user_idx, other.user_idx])
        i = np.concatenate([self.item_idx, other.item_idx])
        w = np.concatenate([self.weights, other.weights])
        ts = np.concatenate([self.timestamps, other.timestamps])
        order = np.lexsort((np.arange(len(u)), ts, u))
        return Interactions(
            self.user_ids, self.item_ids, u[order], i[order], w[order], ts[order],
            self._user_index, self._item_index,
        )  # fmt: skip

    # ----------------------------------------------------------------- shape and maps
    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_events(self) -> int:
        return len(self.user_idx)

    def __len__(self) -> int:
        return self.n_events

    def __repr__(self) -> str:
        return (
            f"Interactions({self.n_users} users × {self.n_items} items, {self.n_events} events, "
            f"{self.csr.nnz} pairs)"
        )

    @cached_property
    def user_index(self) -> dict[str, int]:
        """user id -> index."""
        return self._user_index or {u: k for k, u in enumerate(self.user_ids.tolist())}

    @cached_property
    def item_index(self) -> dict[str, int]:
        """item id -> index."""
        return self._item_index or {t: k for k, t in enumerate(self.item_ids.tolist())}

    def users_to_index(self, ids: Iterable[str], *, strict: bool = True) -> np.ndarray:
        """Indices of user ids; unknown ids raise KeyError, or map to -1 when not strict."""
        return ids_to_index(self.user_index, ids, "user", strict)

    def items_to_index(self, ids: Iterable[str], *, strict: bool = True) -> np.ndarray:
        """Indices of item ids; unknown ids raise KeyError, or map to -1 when not strict."""
        return ids_to_index(self.item_index, ids, "item", strict)

    # ----------------------------------------------------------------- matrices
    @cached_property
    def csr(self) -> sp.csr_matrix:
        """users × items float32 matrix, weights of repeated pairs summed."""
        m = sp.csr_matrix(
            (self.weights, (self.user_idx, self.item_idx)),
            shape=(self.n_users, self.n_items),
            dtype=np.float32,
        )
        m.sum_duplicates()
        m.sort_indices()
        return m

    @cached_property
    def binary(self) -> sp.csr_matrix:
        """users × items 0/1 float32 matrix: did the user interact with the item at all."""
        m = self.csr.copy()
        m.data[:] = 1.0
        return m

    @cached_property
    def active_users(self) -> np.ndarray:
        """Indices of users with at least one event in this view."""
        return np.unique(self.user_idx)

    @cached_property
    def sequence_indptr(self) -> np.ndarray:
        """CSR-style offsets: user u's time-ordered items are item_idx[indptr[u]:indptr[u+1]]."""
        counts = np.bincount(self.user_idx, minlength=self.n_users)
        return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def sequence(self, user: int) -> np.ndarray:
        """Item indices of one user, oldest first."""
        p = self.sequence_indptr
        return self.item_idx[p[user] : p[user + 1]]

    def sequences(self) -> list[np.ndarray]:
        """Every user's item indices, oldest first (empty arrays for users with no events)."""
        p = self.sequence_indptr
        return np.split(self.item_idx, p[1:-1])

    def item_popularity(self) -> np.ndarray:
        """Number of distinct users per item."""
        return np.diff(self.binary.tocsc().indptr).astype(np.float32)


def _lookup(vocabulary: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Vectorised id -> index over a vocabulary; -1 where absent."""
    if len(vocabulary) == 0:
        return np.full(len(values), -1, dtype=np.int64)
    order = np.argsort(vocabulary, kind="stable")
    sorted_vocab = vocabulary[order]
    pos = np.searchsorted(sorted_vocab, values)
    pos = np.clip(pos, 0, len(vocabulary) - 1)
    found = sorted_vocab[pos] == values
    return np.where(found, order[pos], -1).astype(np.int64)


def ids_to_index(index: dict[str, int], ids: Iterable[str], kind: str, strict: bool) -> np.ndarray:
    """Map ids through `index`; unknown ids raise KeyError, or become -1 when not strict."""
    if isinstance(ids, str):
        raise TypeError(f"pass a list of {kind} ids, not a single string")
    ids = [str(x) for x in ids]
    out = np.fromiter((index.get(x, -1) for x in ids), dtype=np.int64, count=len(ids))
    if strict and (out < 0).any():
        unknown = [x for x, k in zip(ids, out, strict=True) if k < 0]
        raise KeyError(f"unknown {kind} id(s): {unknown[:10]}{' ...' if len(unknown) > 10 else ''}")
    return out


def _to_ns(column: pd.Series) -> np.ndarray:
    """Any time-like column as int64 nanoseconds since the epoch (numbers = seconds)."""
    if pd.api.types.is_numeric_dtype(column):
        return (column.to_numpy(dtype=np.float64) * 1e9).astype(np.int64)
    values = pd.to_datetime(column)
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values.astype("datetime64[ns]").to_numpy().astype(np.int64)
