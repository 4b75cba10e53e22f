"""Recommendation: one contract (`Recommender`), many models, one explicit registry."""

from shopsense.recommend.base import Explanation, NotFittedError, Recommender
from shopsense.recommend.content import ContentBased
from shopsense.recommend.ease import EASE
from shopsense.recommend.factorization import ALS, BPR
from shopsense.recommend.gru4rec import GRU4Rec
from shopsense.recommend.neighbors import ItemKNN, UserKNN
from shopsense.recommend.popular import MostPopular
from shopsense.recommend.sasrec import SASRec

#: Every recommender by its registry name. Explicit on purpose: no lookup by import path.
MODELS: dict[str, type[Recommender]] = {
    m.name: m
    for m in (MostPopular, ItemKNN, UserKNN, ContentBased, ALS, BPR, EASE, GRU4Rec, SASRec)
}

__all__ = [
    "ALS",
    "BPR",
    "EASE",
    "MODELS",
    "ContentBased",
    "Explanation",
    "GRU4Rec",
    "ItemKNN",
    "MostPopular",
    "NotFittedError",
    "Recommender",
    "SASRec",
    "UserKNN",
]
