"""Visual search: "looks like this" over the catalogue's photos.

The classifier's pooled features, L2-normalised, are the embedding; an `ANNIndex`
(hnswlib, inner product = cosine on unit vectors) answers nearest neighbours in well under
a millisecond. A query is an item of the catalogue (its own photo is left out of the
answer) or any new photo.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Self

import numpy as np
import pandas as pd

from shopsense.ann import ANNIndex
from shopsense.data.images import ImageSet
from shopsense.persist import atomic_write

ITEMS_FILE = "items.json"
INDEX_DIR = "index"


class VisualSearch:
    """Nearest catalogue photos by embedding.

    `item_ids[i]` and `labels[i]` describe row i of the index (an item may have several
    photos, so ids can repeat)."""

    def __init__(
        self, index: ANNIndex, item_ids: np.ndarray, labels: np.ndarray | None = None
    ) -> None:
        if len(item_ids) != index.n_items:
            raise ValueError(f"{len(item_ids)} item ids for an index of {index.n_items} vectors")
        self.index = index
        self.item_ids = np.asarray(item_ids, dtype=object)
        self.labels = None if labels is None else np.asarray(labels, dtype=object)
        self._rows: dict[str, int] = {}
        for i, item in enumerate(self.item_ids):
            self._rows.setdefault(str(item), i)

    @classmethod
    def build(
        cls, model: object, view: ImageSet, *, backend: str = "hnsw", ef_search: int = 128
    ) -> VisualSearch:
        """Embed every photo of `view` with `model` and index them."""
        vectors = model.embed(view)  # type: ignore[attr-defined]
        index = ANNIndex(vectors, backend, ef_search=ef_search)  # type: ignore[arg-type]
        return cls(index, view.item_ids, view.labels)

    def __len__(self) -> int:
        return self.index.n_items

    def vector_of(self, item_id: str) -> np.ndarray:
        """The stored embedding of an item's (first) photo; KeyError if unknown."""
        row = self._rows.get(str(item_id))
        if row is None:
            raise KeyError(f"item {item_id!r} has no photo in the search index")
        return self.index.vectors[row]

    def search(
        self, queries: np.ndarray, k: int = 10, *, exclude_rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rows, scores) of the k nearest photos per query embedding; `exclude_rows[i]`
        (a row of the index, or -1) is left out of query i's answer."""
        extra = 0 if exclude_rows is None else 1
        rows, scores = self.index.search(np.atleast_2d(queries), k + extra)
        if exclude_rows is None:
            return rows, scores
        keep = rows != np.asarray(exclude_rows)[:, None]
        order = np.argsort(~keep, axis=1, kind="stable")[:, :k]
        r = np.arange(len(rows))[:, None]
        return rows[r, order], scores[r, order]

    def similar_items(self, item_id: str, k: int = 10) -> pd.DataFrame:
        """The k photos that look most like `item_id`'s, the item itself left out."""
        row = self._rows.get(str(item_id))
        if row is None:
            raise KeyError(f"item {item_id!r} has no photo in the search index")
        rows, scores = self.search(self.index.vectors[row], k, exclude_rows=np.array([row]))
        return self._frame(rows[0], scores[0])

    def similar_to(self, embedding: np.ndarray, k: int = 10) -> pd.DataFrame:
        """The k catalogue photos nearest to a new photo's embedding."""
        rows, scores = self.search(np.asarray(embedding, dtype=np.float32).reshape(1, -1), k)
        return self._frame(rows[0], scores[0])

    def _frame(self, rows: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
        ok = rows >= 0
        rows, scores = rows[ok], scores[ok]
        return pd.DataFrame(
            {
                "item_id": self.item_ids[rows],
                "category": self.labels[rows] if self.labels is not None else None,
                "similarity": scores.astype(float),
            }
        )

    def precision_at_k(self, k: int = 10, *, sample: int | None = None, seed: int = 0) -> float:
        """Mean share of each photo's k neighbours (itself left out) listed in its own
        category: how well the embedding groups a catalogue."""
        if self.labels is None:
            raise ValueError("precision needs the photos' categories")
        labels = np.array([None if v is None or v != v else str(v) for v in self.labels])
        rows = np.flatnonzero(labels != None)  # noqa: E711 - unlabelled photos ask nothing
        if len(rows) == 0:
            raise ValueError("precision needs the photos' categories; none is labelled")
        if sample is not None and sample < len(rows):
            rows = np.sort(np.random.default_rng(seed).choice(rows, sample, replace=False))
        found, _ = self.search(self.index.vectors[rows], k, exclude_rows=rows)
        valid = found >= 0
        same = (labels[np.maximum(found, 0)] == labels[rows][:, None]) & valid
        return float(same.sum(axis=1).mean() / k)

    # ----------------------------------------------------------------- persistence
    def save(self, folder: str | Path) -> Path:
        """The ANN index plus the item ids and categories of its rows (JSON)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.index.save(folder / INDEX_DIR)
        payload = {
            "item_ids": [str(i) for i in self.item_ids],
            "labels": None
            if self.labels is None
            else [None if v is None else str(v) for v in self.labels],
        }
        text = json.dumps(payload)
        atomic_write(folder / ITEMS_FILE, lambda tmp: Path(tmp).write_text(text))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> Self:
        folder = Path(folder)
        if not (folder / ITEMS_FILE).is_file():
            raise FileNotFoundError(f"{folder} holds no visual search index ({ITEMS_FILE})")
        payload = json.loads((folder / ITEMS_FILE).read_text())
        labels = payload.get("labels")
        return cls(
            ANNIndex.load(folder / INDEX_DIR),
            np.asarray(payload["item_ids"], dtype=object),
            None if labels is None else np.asarray(labels, dtype=object),
        )
