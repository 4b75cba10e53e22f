"""Drafted replies name the complained-about aspect and quote the review."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from shopsense.reviews.replies import REMEDIES, THANKS, draft_replies, draft_reply
from shopsense.reviews.sentiment import SentimentClassifier
from tests.reviews.conftest import halves
from tests.reviews.test_aspects import _Lexical

APOLOGY = re.compile(r"sorry|apologi|歉|遗憾|失望|不便")


def _apologises(text: str) -> bool:
    return APOLOGY.search(text.lower()) is not None


def test_reply_names_the_complaint_not_the_praise() -> None:
    reply = draft_reply(
        "Love the colour but it runs small.", review_id="wc-7", sentiment=_Lexical()
    )
    assert reply.aspects == ("fit",) and reply.quoted == "it runs small."
    assert "size and fit" in reply.text and "it runs small" in reply.text
    assert REMEDIES["fit"][0] in reply.text and "wc-7" in reply.text
    assert "colour description" not in reply.text  # the praised look is not apologised for


def test_chinese_review_gets_a_chinese_reply() -> None:
    reply = draft_reply("快递太慢了，等了一个星期", sentiment=_Lexical())
    assert reply.language == "zh" and reply.aspects == ("delivery",)
    assert "物流" in reply.text and REMEDIES["delivery"][1] in reply.text


def test_different_complaints_get_different_replies() -> None:
    a = draft_reply("The fabric is thin.", label=0).text
    b = draft_reply("Delivery was late.", label=0).text
    assert a != b and "material" in a and "delivery" in b


def test_reviews_without_an_aspect_still_get_a_polite_draft() -> None:
    for text in ("", "😡😡😡", "Meh."):
        reply = draft_reply(text, label=0)
        assert reply.aspects == () and "what went wrong" in reply.text


def test_a_frame_of_reviews() -> None:
    frame = pd.DataFrame(
        {"review_id": ["1", "2", "3"], "text": ["Runs small.", "质量很差", "Perfect fit"]}
    )
    out = draft_replies(frame.assign(label=[0, 0, 1]), label_column="label")
    assert list(out["kind"]) == ["apology", "apology", "thanks"]
    assert list(out["aspects"]) == ["fit", "quality", ""] and out["reply"].str.len().min() > 80


def test_a_five_star_review_is_thanked_not_apologised_to() -> None:
    praise = "This dress is perfection! I get compliments on how it looks every time."
    for reply in (draft_reply(praise, label=1), draft_reply(praise, sentiment=_Lexical())):
        assert reply.kind == "thanks" and reply.text == THANKS[0] and reply.aspects == ()
        assert not _apologises(reply.text) and "let you down" not in reply.text
    assert draft_reply("质量很好，很喜欢", label=1).text == THANKS[1]
    assert not any(_apologises(t) for t in THANKS)


def test_the_rating_decides_when_given_else_the_model() -> None:
    grumble = "Runs small."  # the stand-in model reads "small" as negative
    assert draft_reply(grumble, sentiment=_Lexical(), label=0).kind == "apology"
    assert draft_reply(grumble, sentiment=_Lexical(), label=1).kind == "thanks"
    # one or two stars: the customer is unhappy, whatever the text's words
    assert draft_reply("Lovely colour", sentiment=_Lexical(), label=0).kind == "apology"
    assert draft_reply(grumble, sentiment=_Lexical(), label=float("nan")).kind == "apology"
    assert draft_reply("Lovely colour", sentiment=_Lexical(), label=None).kind == "thanks"
    with pytest.raises(ValueError, match="cannot tell whether the review is negative"):
        draft_reply(grumble)


def _replies_to_held_out(frame: pd.DataFrame, train: int) -> pd.DataFrame:
    """Drafts for the held-out reviews by a model trained on the others, with and without
    the reviews' ratings: label, with_rating (kind), model_only (kind), texts."""
    fit, test = halves(frame, train)
    model = SentimentClassifier("tfidf").fit(list(fit["text"]), fit["label"].to_numpy())
    rated = draft_replies(test, sentiment=model, label_column="label")
    unrated = draft_replies(test, sentiment=model)
    return pd.DataFrame(
        {
            "label": test["label"].to_numpy(),
            "with_rating": rated["kind"].to_numpy(),
            "model_only": unrated["kind"].to_numpy(),
            "reply": rated["reply"].to_numpy(),
            "reply_model_only": unrated["reply"].to_numpy(),
        }
    )


def _check_no_positive_review_is_apologised_to(
    out: pd.DataFrame, floor: float, ceiling: float
) -> None:
    """With ratings no positive review is apologised to; the model alone must find at least
    `floor` of the negatives while apologising to at most `ceiling` of the positives."""
    pos, neg = out[out["label"] == 1], out[out["label"] == 0]
    assert (pos["with_rating"] == "thanks").all() and (neg["with_rating"] == "apology").all()
    assert not pos["reply"].map(_apologises).any()
    assert (out["reply"].map(_apologises) == (out["with_rating"] == "apology")).all()
    # the model learns: without ratings most negatives get an apology, few positives do
    neg_rate = float((neg["model_only"] == "apology").mean())
    pos_rate = float((pos["model_only"] == "apology").mean())
    assert neg_rate >= floor and pos_rate <= ceiling, (neg_rate, pos_rate)


@pytest.mark.parametrize("language", ["en", "zh"])
def test_no_positive_shop_review_gets_an_apology(shop_reviews, language) -> None:
    frame = shop_reviews[shop_reviews["language"] == language].reset_index(drop=True)
    out = _replies_to_held_out(frame, int(0.6 * len(frame)))
    # 150 training reviews: a cautious model (measured 0.42 / 0.37 of negatives, 0.02 of
    # positives), still far from the trivial all-or-nothing drafts
    _check_no_positive_review_is_apologised_to(out, 0.3, 0.05)


def test_no_positive_public_review_gets_an_apology(en_reviews, zh_reviews) -> None:
    for frame in (en_reviews, zh_reviews):
        sample = frame.iloc[np.random.default_rng(3).permutation(len(frame))[:2500]]
        out = _replies_to_held_out(sample.reset_index(drop=True), 2000)
        # measured: en 0.88 / 0.18 (a "recommended" label is noisier), zh 0.90 / 0.10
        _check_no_positive_review_is_apologised_to(out, 0.8, 0.22)
