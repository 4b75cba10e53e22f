"""Aspects: found in the hand-labelled sentences with usable precision and recall, with a
polarity that follows the sentiment model, summarised per product with examples."""

from __future__ import annotations

import pandas as pd
import pytest

from shopsense.reviews.aspects import ASPECTS, AspectExtractor, clauses, find_aspects, sentences
from tests.reviews.conftest import ASPECT_SAMPLE


class _Lexical:
    """A stand-in scorer for the polarity tests: fixed words, so the test shows how scores
    become praise/complaint without training a model."""

    def predict_proba(self, texts):
        import numpy as np

        bad = ("small", "thin", "late", "poor", "小", "慢")
        return np.array([0.1 if any(b in t for b in bad) else 0.9 for t in texts])


def _gold() -> pd.DataFrame:
    sample = pd.read_csv(ASPECT_SAMPLE, keep_default_na=False)
    assert len(sample) == 150 and sample["review_id"].str.startswith("wc-").all()
    return sample


def test_hand_labelled_sample_is_found_with_usable_precision_and_recall() -> None:
    sample = _gold()
    gold = [{x.split(":")[0] for x in a.split(";") if a} for a in sample["aspects"]]
    pred = [{a for c in clauses(s) for a in find_aspects(c)} for s in sample["sentence"]]
    for aspect in ("fit", "look", "fabric", "quality"):
        tp = sum(aspect in g and aspect in p for g, p in zip(gold, pred, strict=True))
        fp = sum(aspect not in g and aspect in p for g, p in zip(gold, pred, strict=True))
        fn = sum(aspect in g and aspect not in p for g, p in zip(gold, pred, strict=True))
        assert tp / (tp + fp) >= 0.7 and tp / (tp + fn) >= 0.8, (aspect, tp, fp, fn)


def test_sentences_clauses_and_cues_in_both_languages() -> None:
    assert sentences("Love it! Runs small. 物流很快。质量一般") == [
        "Love it!", "Runs small.", "物流很快。", "质量一般"
    ]  # fmt: skip
    assert clauses("love the colour but it runs small") == ["love the colour", "it runs small"]
    assert find_aspects("love the colour but it runs small") == ["fit", "look"]
    assert find_aspects("物流很快，价格便宜") == ["price", "delivery"]
    assert find_aspects("") == [] and find_aspects("😍😍") == []
    assert sentences(None) == [] and sentences("") == []


def test_polarity_follows_the_scorer_and_summary_has_examples() -> None:
    texts = ["Love the colour but it runs small.", "The fabric is thin. Great colour!", "尺码偏小"]
    extractor = AspectExtractor(sentiment=_Lexical())
    found = extractor.mentions(texts, review_ids=["r1", "r2", "r3"])
    pol = {(r.review_id, r.aspect): r.polarity for r in found.itertuples()}
    assert pol[("r1", "look")] == "praise" and pol[("r1", "fit")] == "complaint"
    assert pol[("r2", "fabric")] == "complaint" and pol[("r3", "fit")] == "complaint"
    summary = extractor.summarize(texts, review_ids=["r1", "r2", "r3"])
    fit = summary.set_index("aspect").loc["fit"]
    assert fit["complaints"] == 2 and fit["praise"] == 0 and fit["praise_share"] == 0
    assert {e["review_id"] for e in fit["complained_in"]} == {"r1", "r3"}
    assert set(summary["aspect"]) <= set(ASPECTS)


def test_without_a_model_the_review_label_decides() -> None:
    found = AspectExtractor().mentions(["Runs small.", "Great fit."], labels=[0, None])
    assert list(found["polarity"]) == ["complaint", "neutral"]
    assert AspectExtractor().summarize([]).empty


@pytest.mark.parametrize("text", ["", "😡😡😡", "x" * 100_000])
def test_odd_texts_give_no_mentions_and_no_error(text: str) -> None:
    assert AspectExtractor().mentions([text]).empty
