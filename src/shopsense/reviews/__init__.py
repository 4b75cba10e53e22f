"""Reviews and customer questions: sentiment (Chinese and English), aspects customers
praise or complain about, answers with sources, and drafted replies to negative reviews."""

from shopsense.reviews.aspects import AspectExtractor, find_aspects
from shopsense.reviews.qa import AnswerIndex, passages_from_store
from shopsense.reviews.replies import Reply, draft_reply
from shopsense.reviews.sentiment import SentimentClassifier, sentiment_metrics
from shopsense.reviews.splits import SPLIT_SEED, ReviewSplit, split_reviews
from shopsense.reviews.tokenize import Tokenizer, Vocabulary

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
    "passages_from_store",
    "sentiment_metrics",
    "split_reviews",
]
