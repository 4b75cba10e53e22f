"""One model ready to answer requests: the fitted model, its catalogue, and live histories.

A `ServedModel` is built once per (model, version) and then only read, except for its
live histories, which events update under a lock. Scoring is vectorised per request:
users the model knows and who have not acted since training are scored by the model in
one batch; users with newer events (or new users with events) are folded in from their
history with `score_histories`; users with neither get the most popular items, and every
answer says which of these it is (`source`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from shopsense.data.views import Interactions
from shopsense.recommend.base import Recommender, top_k
from shopsense.registry import ModelVersion

log = logging.getLogger("shopsense.serve")

#: how an answer was made, reported with every recommendation
SOURCES = ("model", "fold_in", "cold_start")


@dataclass(frozen=True)
class Answer:
    """Top-k for one user: item indices (-1 = padding), scores, and how they were made."""

    items: np.ndarray
    scores: np.ndarray
    source: str
    history: np.ndarray  # item indices the answer treats as the user's history


@dataclass(frozen=True)
class Filters:
    """Restrictions on what may be recommended: categories and a price range."""

    categories: tuple[str, ...] = ()
    min_price: float | None = None
    max_price: float | None = None

    @property
    def active(self) -> bool:
        return bool(self.categories) or self.min_price is not None or self.max_price is not None


class ServedModel:
    """A loaded model version plus what serving needs around it."""

    def __init__(
        self,
        model: Recommender,
        version: ModelVersion,
        catalogue: pd.DataFrame,
        events: pd.DataFrame | None = None,
        retriever: Any | None = None,
        query_cache_users: int = 0,
    ) -> None:
        self.model = model
        self.version = version
        self.retriever = retriever
        self._queries_cache, self._item_vectors = _query_cache(model, query_cache_users)
        info = catalogue.reindex(index=model.item_ids_, columns=["title", "category", "price"])
        self.titles = info["title"].to_numpy(dtype=object)
        self.categories = info["category"].to_numpy(dtype=object)
        self.prices = pd.to_numeric(info["price"], errors="coerce").to_numpy(np.float64)
        self.popularity = np.asarray(model.seen_.sum(axis=0), dtype=np.float32).ravel()
        self._popular_order = np.argsort(-self.popularity, kind="stable")
        self._lock = threading.Lock()
        self._live: dict[str, np.ndarray] = {}
        self._masks: dict[Filters, np.ndarray] = {}
        self._catalogue = catalogue
        self._text: tuple[Any, sp.csr_matrix, dict[str, int]] | None = None
        self.events_version = 0  # the store's events version the live histories reflect
        if events is not None and len(events):
            self._live = _changed_histories(model, events)

    # ----------------------------------------------------------------- identity
    @property
    def name(self) -> str:
        return self.version.name

    @property
    def label(self) -> str:
        return f"{self.version.name}/{self.version.version}"

    @property
    def live_users(self) -> int:
        return len(self._live)

    # ----------------------------------------------------------------- histories
    def add_events(self, user_ids: Sequence[str], item_ids: Sequence[str]) -> None:
        """Append events (in time order) to the users' live histories: their next
        recommendations use them at once."""
        items = self.model.item_index(item_ids, strict=False)
        users = self.model.user_index(user_ids, strict=False)
        with self._lock:
            for user, u, i in zip(user_ids, users, items, strict=True):
                history = self._live.get(user)
                if history is None:
                    history = self.model.history_of(u) if u >= 0 else np.zeros(0, np.int64)
                if i >= 0:
                    history = np.append(history, np.int64(i))
                self._live[user] = history

    def follow(self, events: pd.DataFrame) -> None:
        """Replace the live histories with those the store's events give (a read-only
        service follows the events another service writes)."""
        live = _changed_histories(self.model, events) if len(events) else {}
        with self._lock:
            self._live = live

    def history(self, user: str) -> np.ndarray:
        """The item indices this model reads as the user's history (live or trained)."""
        with self._lock:
            live = self._live.get(user)
        if live is not None:
            return live
        u = int(self.model.user_index([user], strict=False)[0])
        return self.model.history_of(u) if u >= 0 else np.zeros(0, np.int64)

    def is_live(self, user: str) -> bool:
        """Whether the user has events newer than the model."""
        with self._lock:
            return user in self._live

    def answers_at_once(self, user: str) -> bool:
        """Whether the user's answer is a sub-millisecond computation (a product with the
        model's matrices), so that it is cheaper to compute than to hand to a thread; False
        when it runs a network over a history."""
        if not self.model.queries_are_costly:
            return True
        with self._lock:
            live = user in self._live
        return not live and self._queries_cache is not None and self.knows(user)

    def knows(self, user: str) -> bool:
        return int(self.model.user_index([user], strict=False)[0]) >= 0

    # ----------------------------------------------------------------- filters
    def allowed(self, filters: Filters) -> np.ndarray | None:
        """Boolean mask of items that pass the filters (None when nothing is filtered)."""
        if not filters.active:
            return None
        mask = self._masks.get(filters)
        if mask is None:
            mask = np.ones(self.model.n_items, dtype=bool)
            if filters.categories:
                mask &= np.isin(self.categories, list(filters.categories))
            if filters.min_price is not None:
                mask &= self.prices >= filters.min_price
            if filters.max_price is not None:
                mask &= self.prices <= filters.max_price
            if len(self._masks) > 256:  # a bounded cache: filters repeat, but not forever
                self._masks.clear()
            self._masks[filters] = mask
        return mask

    # ----------------------------------------------------------------- recommending
    def recommend(
        self,
        users: Sequence[str],
        k: int,
        *,
        exclude_seen: bool = True,
        filters: Filters | None = None,
    ) -> list[Answer]:
        """Top-k for each user, batched by how each user can be scored."""
        model = self.model
        k = min(k, model.n_items)
        allowed = self.allowed(filters or Filters())
        idx = model.user_index(users, strict=False)
        with self._lock:
            live = [self._live.get(u) for u in users]
        answers: list[Answer | None] = [None] * len(users)

        scored = [r for r, u in enumerate(idx) if u >= 0 and live[r] is None]
        folded = [r for r, h in enumerate(live) if h is not None and len(h)]
        if not model.scores_histories:  # exclusions only: the model scores, live items excluded
            scored += [r for r in folded if idx[r] >= 0]
            folded = []
        if scored:
            rows = np.asarray(scored)
            histories = [live[r] for r in scored]  # None: the model's own history
            self._fill(answers, rows, self._by_user(idx[rows], histories, k, exclude_seen, allowed))
        if folded:
            rows = np.asarray(folded)
            histories = [live[r] for r in folded]
            self._fill(answers, rows, self._by_history(histories, k, exclude_seen, allowed))
        for r, answer in enumerate(answers):
            if answer is None:
                answers[r] = self._popular(live[r], k, exclude_seen, allowed)
        return answers  # type: ignore[return-value]

    def _by_user(
        self,
        user_idx: np.ndarray,
        live: list[np.ndarray | None],
        k: int,
        exclude_seen: bool,
        allowed: np.ndarray | None,
    ) -> list[Answer]:
        model = self.model
        histories = [
            h if h is not None else model.history_of(u) for u, h in zip(user_idx, live, strict=True)
        ]
        if self.retriever is not None:
            exclude = model.history_matrix(histories) if exclude_seen else None
            items, scores = self.retriever(
                self._queries(user_idx), k, exclude=exclude, allowed=allowed
            )
        else:
            scores_all = self._scores(user_idx)
            items, scores = _masked_top_k(
                scores_all, k, histories if exclude_seen else None, allowed
            )
        return [Answer(items[r], scores[r], "model", histories[r]) for r in range(len(user_idx))]

    def _queries(self, user_idx: np.ndarray) -> np.ndarray:
        """Query vectors of trained users: from the cache when the model has one."""
        if self._queries_cache is not None:
            return self._queries_cache[user_idx]
        return self.model.user_queries(user_idx)

    def _scores(self, user_idx: np.ndarray) -> np.ndarray:
        """Scores of every item for trained users; with a query cache a sequence model's
        score is one product with the item vectors instead of a pass of its network."""
        if self._queries_cache is not None:
            return self._queries_cache[user_idx] @ self._item_vectors.T
        return self.model.score(user_idx)

    def _by_history(
        self,
        histories: list[np.ndarray],
        k: int,
        exclude_seen: bool,
        allowed: np.ndarray | None,
    ) -> list[Answer]:
        model = self.model
        if self.retriever is not None:
            exclude = model.history_matrix(histories) if exclude_seen else None
            queries = model.history_queries(histories)
            items, scores = self.retriever(queries, k, exclude=exclude, allowed=allowed)
        else:
            scores_all = model.score_histories(histories)
            items, scores = _masked_top_k(
                scores_all, k, histories if exclude_seen else None, allowed
            )
        return [Answer(items[r], scores[r], "fold_in", histories[r]) for r in range(len(histories))]

    def _popular(
        self, history: np.ndarray | None, k: int, exclude_seen: bool, allowed: np.ndarray | None
    ) -> Answer:
        history = history if history is not None else np.zeros(0, np.int64)
        order = self._popular_order
        keep = np.ones(len(order), dtype=bool)
        if allowed is not None:
            keep &= allowed[order]
        if exclude_seen and len(history):
            keep &= ~np.isin(order, history)
        items = order[keep][:k]
        scores = self.popularity[items]
        pad = k - len(items)
        if pad > 0:
            items = np.concatenate([items, np.full(pad, -1)])
            scores = np.concatenate([scores, np.full(pad, -np.inf, np.float32)])
        return Answer(items.astype(np.int64), scores.astype(np.float32), "cold_start", history)

    @staticmethod
    def _fill(answers: list[Answer | None], rows: np.ndarray, found: list[Answer]) -> None:
        for r, answer in zip(rows, found, strict=True):
            answers[int(r)] = answer

    # ----------------------------------------------------------------- explanations
    def because(
        self, user: str, item: int, history: np.ndarray, n: int = 3
    ) -> list[tuple[int, float]]:
        """The history items that push `item` up most: (item index, contribution), best first.

        Users the model was trained on get the model's exact decomposition; folded-in
        histories get the model's item-to-item similarity.
        """
        if len(history) == 0:
            return []
        model = self.model
        u = int(model.user_index([user], strict=False)[0])
        unique = np.unique(history)
        try:
            with self._lock:
                trained = u >= 0 and user not in self._live
            if trained:
                contrib = model._contributions(u, int(item), unique)
            else:
                contrib = model._similarity(np.array([int(item)]))[0, unique]
        except NotImplementedError:
            return []
        contrib = np.asarray(contrib, dtype=np.float64).ravel()
        order = np.argsort(-contrib, kind="stable")[:n]
        return [(int(unique[j]), float(contrib[j])) for j in order if contrib[j] > 0]

    def similar_by_text(self, item: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The model's items whose catalogue text (title, category, brand, description) is
        most like a catalogue item the model has never seen: the cold-start answer for new
        items. KeyError when the item is not in the catalogue either."""
        vectorizer, model_items, rows = self._item_text()
        if item not in rows:
            raise KeyError(f"item {item!r} is neither in {self.label} nor in the catalogue")
        query = vectorizer.transform([_text_of(self._catalogue.loc[[item]])[0]])
        sim = np.asarray((query @ model_items.T).todense(), dtype=np.float32)
        sim[sim <= 0] = -np.inf  # no shared word: not similar at all
        idx, val = top_k(sim, min(k, self.model.n_items))
        return idx[0], val[0]

    def _item_text(self) -> tuple[Any, sp.csr_matrix, dict[str, int]]:
        """TF-IDF over the whole catalogue's text, built on first use (about a second for
        tens of thousands of items) and kept."""
        if self._text is None:
            from sklearn.feature_extraction.text import TfidfVectorizer

            texts = _text_of(self._catalogue)
            vectorizer = TfidfVectorizer(sublinear_tf=True, min_df=1, dtype=np.float32)
            vectorizer.fit(texts)
            own = self._catalogue.reindex(self.model.item_ids_)
            model_items = sp.csr_matrix(vectorizer.transform(_text_of(own)))
            rows = {str(i): n for n, i in enumerate(self._catalogue.index)}
            self._text = (vectorizer, model_items, rows)
        return self._text

    def similar(self, item: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices and scores of the k items most like `item` (KeyError if unknown)."""
        i = self.model.item_index([item])
        k = min(k, self.model.n_items - 1)
        sim = np.asarray(self.model._similarity(i), dtype=np.float32)
        sim[0, i[0]] = -np.inf
        idx, val = top_k(sim, k)
        return idx[0], val[0]


def _query_cache(
    model: Recommender, max_users: int, batch: int = 1024
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Every trained user's query vector and the item vectors, computed once, for models
    whose queries cost a network pass (`queries_are_costly`); (None, None) otherwise or
    when the model has more than `max_users` users. Memory: n_users × d float32."""
    if not model.queries_are_costly or model.n_users > max_users:
        return None, None
    items = model.item_embeddings()
    if items is None:
        return None, None
    start = time.perf_counter()
    queries = np.empty((model.n_users, items.shape[1]), dtype=np.float32)
    for s in range(0, model.n_users, batch):
        queries[s : s + batch] = model.user_queries(np.arange(s, min(s + batch, model.n_users)))
    log.info(
        "%s: query vectors of %d users cached in %.1f s (%.0f MB)",
        model.name, model.n_users, time.perf_counter() - start, queries.nbytes / 1e6,
    )  # fmt: skip
    return queries, np.ascontiguousarray(items, dtype=np.float32)


def _text_of(catalogue: pd.DataFrame) -> list[str]:
    """One text per catalogue row from whichever text columns it has."""
    columns = [c for c in ("title", "category", "brand", "description") if c in catalogue]
    if not columns:
        return [""] * len(catalogue)
    parts = catalogue[columns].astype("string").fillna("")
    return parts.agg(" ".join, axis=1).str.strip().tolist()


def _masked_top_k(
    scores: np.ndarray,
    k: int,
    exclude: Sequence[np.ndarray] | None,
    allowed: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of a fresh score matrix (masked in place) after removing each row's `exclude`
    item indices and the items `allowed` rules out."""
    scores = np.asarray(scores, dtype=np.float32)
    if not (scores.flags.owndata and scores.flags.writeable):  # a view: maybe model state
        scores = scores.copy()
    if exclude is not None:
        lengths = [len(h) for h in exclude]
        if sum(lengths):
            rows = np.repeat(np.arange(len(exclude)), lengths)
            scores[rows, np.concatenate(exclude)] = -np.inf
    if allowed is not None:
        scores[:, ~allowed] = -np.inf
    return top_k(scores, k)


def _changed_histories(model: Recommender, events: pd.DataFrame) -> dict[str, np.ndarray]:
    """Histories of users whose stored events go beyond what the model was trained on.

    `events` is the store's event log (user_id, item_id, timestamp). Users the model does
    not know, and known users with items it has not seen them with, are returned with
    their full stored history on the model's items, oldest first.
    """
    view = Interactions.from_frame(
        events, user_ids=np.unique(events["user_id"].astype(str)), item_ids=model.item_ids_
    )
    idx = model.user_index(view.user_ids, strict=False)
    known = idx >= 0
    changed = ~known
    if known.any():
        stored = view.binary[np.flatnonzero(known)]
        trained = model.seen_[idx[known]]
        # items stored for the user that the model did not train on
        new_pairs = stored - stored.multiply(trained)
        changed[np.flatnonzero(known)] = np.diff(sp.csr_matrix(new_pairs).indptr) > 0
    out: dict[str, np.ndarray] = {}
    indptr = view.sequence_indptr
    for u in np.flatnonzero(changed):
        history = view.item_idx[indptr[u] : indptr[u + 1]].astype(np.int64)
        if len(history) or not known[u]:
            out[str(view.user_ids[u])] = history
    return out
