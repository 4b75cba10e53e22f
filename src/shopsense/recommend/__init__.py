"""Recommendation: one contract (`Recommender`), many models, one explicit registry.

Names are imported on first use (PEP 562): importing `shopsense.recommend.ease` or reading
`shopsense.recommend.Recommender` loads no other model, so a process that loads or serves a
classic model never imports torch. `MODELS` imports every model, the neural ones included.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shopsense.recommend.autoencoders import MultDAE, MultVAE
    from shopsense.recommend.base import Explanation, NotFittedError, Recommender
    from shopsense.recommend.bpr import BPR
    from shopsense.recommend.content import ContentBased
    from shopsense.recommend.ease import EASE
    from shopsense.recommend.factorization import ALS
    from shopsense.recommend.gru4rec import GRU4Rec
    from shopsense.recommend.ncf import NeuMF
    from shopsense.recommend.neighbors import ItemKNN, UserKNN
    from shopsense.recommend.popular import MostPopular
    from shopsense.recommend.sasrec import SASRec

    MODELS: dict[str, type[Recommender]]

#: where each public name is defined
_WHERE = {
    "Explanation": "base",
    "NotFittedError": "base",
    "Recommender": "base",
    "MostPopular": "popular",
    "ItemKNN": "neighbors",
    "UserKNN": "neighbors",
    "ContentBased": "content",
    "ALS": "factorization",
    "BPR": "bpr",
    "EASE": "ease",
    "NeuMF": "ncf",
    "MultVAE": "autoencoders",
    "MultDAE": "autoencoders",
    "GRU4Rec": "gru4rec",
    "SASRec": "sasrec",
}
#: Every recommender, classic ones first. Explicit on purpose: no lookup by import path.
_CLASSIC = ("MostPopular", "ItemKNN", "UserKNN", "ContentBased", "ALS", "BPR", "EASE")
_NEURAL = ("NeuMF", "MultVAE", "MultDAE", "GRU4Rec", "SASRec")


def _models() -> dict[str, type[Recommender]]:
    """Every recommender by its registry name (imports them all)."""
    classes = [__getattr__(name) for name in (*_CLASSIC, *_NEURAL)]
    return {cls.name: cls for cls in classes}


def __getattr__(name: str) -> Any:
    if name == "MODELS":
        value: Any = _models()
    elif name in _WHERE:
        value = getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


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
