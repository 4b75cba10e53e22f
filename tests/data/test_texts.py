"""The text views over the shop's own reviews and questions (English and Chinese, shipped
with the tests): reviews read per language, their labels and model texts, and passages."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from shopsense.data.store import Store
from shopsense.data.texts import (
    PASSAGE_COLUMNS,
    item_passages,
    labelled_reviews,
    passages_from_store,
    read_reviews,
    review_labels,
    review_texts,
)
from tests import shop


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Iterator[Store]:
    path = tmp_path_factory.mktemp("texts") / "shop.duckdb"
    with Store(path) as s:
        s.write_frame("reviews", shop.reviews().drop(columns="label"), source="shop")
        s.write_frame("questions", shop.questions(), source="shop")
        yield s


def test_reviews_are_read_per_language_in_load_order(store) -> None:
    every = read_reviews(store)
    assert len(every) == 520 and every["review_id"].is_monotonic_increasing
    zh = read_reviews(store, "zh")
    assert len(zh) == 260 and set(zh["language"]) == {"zh"}
    one = read_reviews(store, "en", where="rating >= 5")
    assert len(one) > 0 and set(one["language"]) == {"en"} and (one["rating"] >= 5).all()
    assert read_reviews(store, "en'; --").empty  # the language is a value, never SQL


def test_labels_from_stars_polarity_and_recommendation() -> None:
    stars = pd.DataFrame({"rating": [5.0, 3.0, 1.0], "recommended": pd.array([None, None, True])})
    labels = review_labels(stars)
    assert labels.iloc[0] == 1.0 and pd.isna(labels.iloc[1])
    assert labels.iloc[2] == 1.0  # the reviewer's answer wins over one star
    polarity = pd.DataFrame({"rating": [0.0, 1.0], "recommended": pd.array([None, None])})
    assert review_labels(polarity).tolist() == [0.0, 1.0]


def test_stored_labels_match_the_stars(store) -> None:
    reviews = read_reviews(store)
    expected = shop.reviews().set_index("review_id")["label"]
    want = expected.loc[reviews["review_id"].tolist()].to_numpy()
    np.testing.assert_array_equal(review_labels(reviews).to_numpy(), want)


def test_a_title_is_read_before_the_text() -> None:
    frame = pd.DataFrame({"title": ["Runs small", None, "  "], "text": ["order up", "ok", None]})
    assert review_texts(frame) == ["Runs small. order up", "ok", ""]


def test_labelled_reviews_keep_the_known_labels_as_arrays(store) -> None:
    reviews = read_reviews(store, "en")
    corpus = labelled_reviews(reviews)
    known = review_labels(reviews).notna()
    assert len(corpus) == int(known.sum()) < len(reviews)
    assert corpus.labels.dtype.kind == "i" and set(np.unique(corpus.labels)) == {0, 1}
    assert corpus.reviews.index.tolist() == list(range(len(corpus)))
    assert corpus.texts[0] == review_texts(reviews[known].iloc[:1])[0]
    assert (corpus.reviews["rating"].to_numpy()[corpus.labels == 1] >= 4).all()
    assert corpus.categories.dtype.kind in "OU" and len(corpus.categories) == len(corpus)


def test_passages_name_their_source() -> None:
    questions = pd.DataFrame(
        {
            "question_id": ["q1", "q2"],
            "item_id": ["a", "a"],
            "question": ["does it fit", "is it quiet"],
            "answer": ["yes", "  "],
        }
    )
    reviews = pd.DataFrame(
        {"review_id": ["r1"], "item_id": ["a"], "title": ["Loud"], "text": ["fan"]}
    )
    items = pd.DataFrame(
        {"item_id": ["a", "b"], "title": ["Hood", "Lid"], "description": ["30 in", ""]}
    )
    passages = passages_from_store(questions, reviews, items)
    assert set(PASSAGE_COLUMNS) <= set(passages.columns)
    rows = list(zip(passages["source"], passages["source_id"], passages["text"], strict=True))
    assert rows == [
        ("answer", "q1", "yes"),
        ("review", "r1", "Loud. fan"),
        ("description", "a", "Hood. 30 in"),
    ]
    assert passages_from_store().empty and set(PASSAGE_COLUMNS) <= set(
        passages_from_store().columns
    )


def test_item_passages_read_one_item_and_refuse_an_unknown_one(store) -> None:
    item = shop.questions()["item_id"].iloc[0]
    passages = item_passages(store, item)
    assert (passages["item_id"] == item).all()
    assert {"answer", "review"} <= set(passages["source"])
    with pytest.raises(KeyError, match="knows nothing about item 'NO-SUCH'"):
        item_passages(store, "NO-SUCH")
