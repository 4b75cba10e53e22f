"""Drafted replies name the complained-about aspect and quote the review."""

from __future__ import annotations

from shopsense.reviews.replies import REMEDIES, draft_replies, draft_reply
from tests.reviews.test_aspects import _Lexical


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
    import pandas as pd

    frame = pd.DataFrame({"review_id": ["1", "2"], "text": ["Runs small.", "质量很差"]})
    out = draft_replies(frame)
    assert list(out["aspects"]) == ["fit", "quality"] and out["reply"].str.len().min() > 80
