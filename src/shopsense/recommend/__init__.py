"""Recommendation: one contract (`Recommender`), many models, one explicit registry."""

from shopsense.recommend.base import Explanation, NotFittedError, Recommender
from shopsense.recommend.content import ContentBased
from shopsense.recommend.ease import EASE
from shopsense.recommend.factorization import ALS, BPR
from shopsense.recommend.neighbors import ItemKNN, UserKNN
from shopsense.recommend.popular import MostPopular

#: Every recommender by its registry name. Explicit on purpose: no lookup by import path.
MODELS: dict[str, type[Recommender]] = {
    m.name: m for m in (MostPopular, ItemKNN, UserKNN, ContentBased, ALS, BPR, EASE)
}

__all__ = [
    "ALS",
    "BPR",
    "EASE",
    "MODELS",
    "ContentBased",
    "Explanation",
    "ItemKNN",
    "MostPopular",
    "NotFittedError",
    "Recommender",
    "UserKNN",
]
