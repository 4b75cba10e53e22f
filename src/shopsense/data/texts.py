"""The text views: reviews as a sentiment model reads them, and the passages questions
are answered from.

- `read_reviews`: the store's reviews (of one language), in load order.
- `review_labels` / `review_texts`: each review's sentiment label and the text a model
  reads; `labelled_reviews` keeps the labelled ones as arrays (texts, labels, categories).
- `passages_from_store` / `item_passages`: what the shop already knows about a product,
  as passages: answered questions, reviews and the catalogue description.

How the reviews are split for training (`shopsense.reviews.splits`) and how passages are
ranked (`shopsense.reviews.qa`) are model-side and stay in the reviews pillar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from shopsense.data.store import Store

#: Columns of every passage frame (answers also carry the `question` they answer).
PASSAGE_COLUMNS = ("item_id", "source", "source_id", "text", "match_text")


# --------------------------------------------------------------------------- reviews
def read_reviews(store: Store, language: str | None = None, where: str | None = None):
    """The store's reviews (of one language; `where`: an extra SQL condition), in
    review_id load order."""
    clauses = [f"language = '{quote(language)}'"] if language else []
    if where:
        clauses.append(where)
    return store.read("reviews", where=" AND ".join(clauses) or None)


def review_labels(reviews: pd.DataFrame) -> pd.Series:
    """Sentiment label per review: 1 positive, 0 negative, NaN unknown. The reviewer's
    "recommended" answer where given; else a 0/1 polarity corpus keeps its rating; else
    stars: 4-5 positive, 1-2 negative, 3 unknown."""
    rating = pd.to_numeric(reviews["rating"], errors="coerce")
    if rating.max() > 1:
        label = pd.Series(np.where(rating >= 4, 1.0, np.where(rating <= 2, 0.0, np.nan)))
    else:
        label = rating.astype(float).reset_index(drop=True)
    label.index = reviews.index
    rec = reviews.get("recommended", None)
    if rec is not None:
        known = rec.notna()
        label[known] = rec[known].astype(float)
    return label


def review_texts(reviews: pd.DataFrame) -> list[str]:
    """What a model reads: "title. text" (a title such as "Runs small" is a verdict)."""
    title = reviews["title"].fillna("").astype(str).str.strip()
    text = reviews["text"].fillna("").astype(str)
    return [f"{t}. {b}" if t else b for t, b in zip(title, text, strict=True)]


@dataclass(frozen=True)
class LabelledReviews:
    """The reviews with a known sentiment, as a model reads them.

    reviews: those rows, re-indexed 0..n-1. texts: (n,) object "title. text".
    labels: (n,) int 1 positive / 0 negative. categories: (n,) str, "" where unknown."""

    reviews: pd.DataFrame
    texts: np.ndarray
    labels: np.ndarray
    categories: np.ndarray

    def __len__(self) -> int:
        return len(self.reviews)


def labelled_reviews(reviews: pd.DataFrame) -> LabelledReviews:
    """The reviews whose label is known (see `review_labels`), in their order."""
    labels = review_labels(reviews)
    keep = labels.notna().to_numpy()
    kept, y = reviews[keep].reset_index(drop=True), labels[keep].astype(int).to_numpy()
    texts = np.asarray(review_texts(kept), dtype=object)
    cats = kept["category"].fillna("").astype(str).to_numpy()
    return LabelledReviews(kept, texts, y, cats)


# -------------------------------------------------------------------------- passages
def passages_from_store(
    questions: pd.DataFrame | None = None,
    reviews: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Passages (item_id, source, source_id, text, match_text) from the store's tables:
    answered questions, review texts (title + text) and item descriptions."""
    parts = []
    if questions is not None and len(questions):
        q = questions[questions["answer"].fillna("").str.strip() != ""]
        parts.append(
            pd.DataFrame(
                {
                    "item_id": q["item_id"].astype(str),
                    "source": "answer",
                    "source_id": q["question_id"].astype(str),
                    "text": q["answer"].astype(str),
                    "match_text": q["question"].astype(str) + " " + q["answer"].astype(str),
                    "question": q["question"].astype(str),
                }
            )
        )
    if reviews is not None and len(reviews):
        title = reviews["title"].fillna("").astype(str) if "title" in reviews else ""
        body = reviews["text"].fillna("").astype(str)
        text = (title + ". " + body).str.strip(". ") if "title" in reviews else body
        parts.append(
            pd.DataFrame(
                {
                    "item_id": reviews["item_id"].astype(str),
                    "source": "review",
                    "source_id": reviews["review_id"].astype(str),
                    "text": text,
                    "match_text": text,
                }
            )
        )
    if items is not None and len(items):
        desc = items[items["description"].fillna("").str.strip() != ""]
        text = (desc["title"].fillna("") + ". " + desc["description"]).str.strip(". ")
        parts.append(
            pd.DataFrame(
                {
                    "item_id": desc["item_id"].astype(str),
                    "source": "description",
                    "source_id": desc["item_id"].astype(str),
                    "text": text,
                    "match_text": text,
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=[*PASSAGE_COLUMNS, "question"])
    out = pd.concat(parts, ignore_index=True)
    return out[out["match_text"].str.strip() != ""].reset_index(drop=True)


def item_passages(store: Store, item_id: str) -> pd.DataFrame:
    """The passages about one item; KeyError when the store knows nothing about it."""
    where = f"item_id = '{quote(item_id)}'"
    passages = passages_from_store(
        store.read("questions", where=where),
        store.read("reviews", where=where),
        store.read("items", where=where),
    )
    if passages.empty:
        raise KeyError(
            f"the store knows nothing about item {item_id!r} (no Q&A, reviews or description)"
        )
    return passages


def quote(value: str) -> str:
    """`value` as the inside of an SQL string literal."""
    return str(value).replace("'", "''")
