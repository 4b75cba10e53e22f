"""Answer retrieval: real held-out questions find their own answer far above chance, and
every hit names a source that exists."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shopsense.data.texts import passages_from_store
from shopsense.reviews.qa import (
    AnswerIndex,
    evaluate_answers,
    held_out_questions,
    retrieval_metrics,
)
from tests import shop


@pytest.fixture(scope="module")
def results(qa_questions: pd.DataFrame) -> pd.DataFrame:
    return evaluate_answers(qa_questions).set_index(["method", "scope"])


def test_held_out_questions_find_their_answer_far_above_chance(results, qa_questions) -> None:
    per_item = qa_questions.groupby("item_id").size().mean()
    chance = float(np.mean([1 / k for k in range(1, int(per_item) + 1)]))  # ~ random MRR
    for method in ("bm25", "embedding", "hybrid"):
        item = results.loc[(method, "item")]
        corpus = results.loc[(method, "corpus")]
        assert item["mrr_at_10"] > chance + 0.2, (method, item["mrr_at_10"], chance)
        assert corpus["recall_at_5"] > 0.15 and item["recall_at_5"] >= corpus["recall_at_5"]
    assert results.loc[("embedding", "item"), "mrr_at_10"] > 0.6


def test_sources_exist_and_item_scope_is_respected() -> None:
    questions = pd.DataFrame(
        {
            "question_id": ["q1", "q2", "q3"],
            "item_id": ["a", "a", "b"],
            "question": ["does it fit a 30 inch cabinet", "is it quiet", "does it fit"],
            "answer": ["yes it fits a 30 inch opening", "very quiet at night", "no"],
        }
    )
    reviews = pd.DataFrame(
        {"review_id": ["r1"], "item_id": ["a"], "title": ["Loud"], "text": ["the fan is loud"]}
    )
    items = pd.DataFrame({"item_id": ["a"], "title": ["Hood"], "description": ["30 inch hood"]})
    passages = passages_from_store(questions, reviews, items)
    assert set(passages["source"]) == {"answer", "review", "description"}
    for method in ("bm25", "embedding", "hybrid"):
        index = AnswerIndex(method=method).build(passages)
        hits = index.search(["will this fit my 30 inch cabinet?", "how noisy is it?"], ["a", "a"])
        assert (hits["item_id"] == "a").all()
        known = {("answer", q) for q in questions["question_id"]}
        known |= {("review", "r1"), ("description", "a")}
        assert set(zip(hits["source"], hits["source_id"], strict=True)) <= known
        first = hits[hits["question"] == 0].iloc[0]
        assert first["source_id"] == "q1" and first["answered_question"].startswith("does it fit")
        only = index.search(["fan noise"], ["a"], k=3, sources=["review"])
        assert list(only["source_id"]) == ["r1"]
    with pytest.raises(KeyError, match="no passages"):
        index.search(["x"], ["zzz"])
    with pytest.raises(ValueError, match="unknown method"):
        AnswerIndex(method="tfidf")
    with pytest.raises(RuntimeError, match="build"):
        AnswerIndex().search(["x"])


def test_metrics_and_held_out_questions() -> None:
    m = retrieval_metrics([np.array([3, 1]), np.array([0, 2]), np.array([5])], [1, 2, 9])
    assert m["mrr_at_10"] == pytest.approx((0.5 + 0.5 + 0) / 3)
    assert m["recall_at_5"] == pytest.approx(2 / 3) and m["recall_at_1"] == 0
    held = held_out_questions(100)
    assert len(held) == 20 and np.array_equal(held, held_out_questions(100))


def test_the_shops_own_questions_find_their_answers() -> None:
    """English and Chinese questions of the test shop, held out per item (15 of 80)."""
    results = evaluate_answers(shop.questions()).set_index(["method", "scope"])
    answers = shop.questions()["answer"].notna().sum()
    for method in ("bm25", "embedding"):
        corpus = results.loc[(method, "corpus")]
        assert corpus["recall_at_5"] >= 0.4 > 5 / answers, (method, corpus.to_dict())
        assert results.loc[(method, "item"), "mrr_at_10"] >= 0.6
