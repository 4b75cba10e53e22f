"""Recommendation: one contract (`Recommender`), many models, one explicit registry."""

from shopsense.recommend.autoencoders import MultDAE, MultVAE
from shopsense.recommend.base import Explanation, NotFittedError, Recommender
from shopsense.recommend.content import ContentBased
from shopsense.recommend.ease import EASE
from shopsense.recommend.factorization import ALS, BPR
from shopsense.recommend.gru4rec import GRU4Rec
from shopsense.recommend.ncf import NeuMF
from shopsense.recommend.neighbors import ItemKNN, UserKNN
from shopsense.recommend.popular import MostPopular
from shopsense.recommend.sasrec import SASRec

#: Every recommender by its registry name. Explicit on purpose: no lookup by import path.
_CLASSIC = (MostPopular, ItemKNN, UserKNN, ContentBased, ALS, BPR, EASE)
_NEURAL = (NeuMF, MultVAE, MultDAE, GRU4Rec, SASRec)
MODELS: dict[str, type[Recommender]] = {m.name: m for m in (*_CLASSIC, *_NEURAL)}

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
    "MultDAE",
    "MultVAE",
    "NeuMF",
    "NotFittedError",
    "Recommender",
    "SASRec",
    "UserKNN",
]
