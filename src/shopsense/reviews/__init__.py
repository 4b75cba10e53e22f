"""Reviews and customer questions: sentiment (Chinese and English), aspects customers
praise or complain about, answers with sources, and drafted replies to negative reviews.

The public names load on first use (PEP 562), so `shopsense reviews --help` and the other
sub-modules do not pay for torch and scikit-learn."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shopsense.reviews.aspects import AspectExtractor, find_aspects
    from shopsense.reviews.qa import AnswerIndex
    from shopsense.reviews.replies import Reply, draft_reply
    from shopsense.reviews.sentiment import SentimentClassifier, sentiment_metrics
    from shopsense.reviews.splits import SPLIT_SEED, ReviewSplit, split_reviews
    from shopsense.reviews.tokenize import Tokenizer, Vocabulary

_WHERE = {
    "AspectExtractor": "aspects",
    "find_aspects": "aspects",
    "AnswerIndex": "qa",
    "Reply": "replies",
    "draft_reply": "replies",
    "SentimentClassifier": "sentiment",
    "sentiment_metrics": "sentiment",
    "SPLIT_SEED": "splits",
    "ReviewSplit": "splits",
    "split_reviews": "splits",
    "Tokenizer": "tokenize",
    "Vocabulary": "tokenize",
}

__all__ = [
    "SPLIT_SEED",
    "AnswerIndex",
    "AspectExtractor",
    "Reply",
    "ReviewSplit",
    "SentimentClassifier",
    "Tokenizer",
    "Vocabulary",
    "draft_reply",
    "find_aspects",
    "sentiment_metrics",
    "split_reviews",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
