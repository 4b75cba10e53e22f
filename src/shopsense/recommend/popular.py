"""MostPopular: every user gets the items most users interacted with.

The trivial baseline every other model must beat, and the cold-start fallback.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shopsense.data.views import Interactions
from shopsense.estimator import register
from shopsense.recommend.base import Explanation, Recommender


@dataclass
class MostPopularConfig:
    """MostPopular has nothing to tune."""


@register("popular")
class MostPopular(Recommender):
    """Scores an item by the number of distinct users who interacted with it."""

    name = "popular"
    Config = MostPopularConfig

    def _fit(self, train: Interactions, items: pd.DataFrame | None) -> None:
        self.popularity_ = train.item_popularity()

    scores_histories = True

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.popularity_, (len(user_idx), self.n_items)).copy()

    def _score_histories(self, histories: list[np.ndarray]) -> np.ndarray:
        return np.broadcast_to(self.popularity_, (len(histories), self.n_items)).copy()

    def _similarity(self, item_idx: np.ndarray) -> np.ndarray:
        # Co-occurrence (cosine over buyers) is the only similarity a popularity model knows.
        by_item = self.seen_.T.tocsr()
        norms = np.sqrt(np.asarray(by_item.multiply(by_item).sum(axis=1))).ravel()
        norms[norms == 0] = 1.0
        co = (by_item[item_idx] @ by_item.T).toarray()
        return co / norms[item_idx, None] / norms[None, :]

    def explain(self, user: str, item: str, n: int = 3) -> Explanation:
        i = int(self.item_index([item])[0])
        return Explanation(user, item, float(self.popularity_[i]), [], reason="popular")

    def _state(self) -> dict[str, np.ndarray]:
        return {"popularity": self.popularity_}

    def _set_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.popularity_ = arrays["popularity"]
