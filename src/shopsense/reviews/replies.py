"""Drafted replies to negative reviews that name what the customer complained about.

Only a negative review gets an apology. The customer's own rating decides when it says
something (`label` 0: 1-2 stars, 1: 4-5 stars); a 3-star or unrated review is negative when
the sentiment model reads it so (P(positive) < 0.5); with neither the review is not guessed
at (ValueError). Every other review gets a short thank-you that apologises for nothing
(`Reply.kind` "thanks"): an apology to "This dress is perfection!" reads as a broken bot,
and a thank-you to a one-star review as a deaf one.

For a negative review the complaint is found by the aspect extractor (the clause with the
lowest sentiment, or the review's label without a model); the draft then
1. thanks the customer and quotes the complained-about clause, so the reply is about this
   review and no other;
2. apologises for that aspect with a sentence written for it (`REMEDIES`: what a care team
   can actually offer for a fit problem differs from a late parcel);
3. invites the customer to contact the team, with the review's reference.

English and Chinese templates; a review in Chinese gets a Chinese draft. The draft is a
starting point for an agent to edit, never sent automatically.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd

from shopsense.reviews.aspects import AspectExtractor, Scorer, find_aspects
from shopsense.reviews.tokenize import detect_language

#: aspect -> (English remedy, Chinese remedy)
REMEDIES: dict[str, tuple[str, str]] = {
    "quality": (
        "That is not the standard we hold our products to, and we would like to replace it "
        "or refund you, and pass the details to our quality team.",
        "这不符合我们的品质标准，我们可以为您换货或退款，并会把问题反馈给质检团队。",
    ),
    "fit": (
        "Sizing should not be guesswork: we can exchange it for another size free of charge, "
        "and we will use your notes to improve the size guide.",
        "尺码不合适确实让人失望，我们可以免费为您换一个尺码，也会根据您的反馈完善尺码表。",
    ),
    "fabric": (
        "We will share your notes on the material with our buyers, and you are welcome to "
        "return or exchange it.",
        "我们会把您对面料的意见转达给采购团队，您也可以随时申请退换。",
    ),
    "look": (
        "It should look the way it was shown; we will check the photos and colour description, "
        "and you can return it at no cost.",
        "商品应该与展示的一致，我们会核对图片和颜色描述，您可以免费退货。",
    ),
    "comfort": (
        "Something you wear or use every day has to be comfortable, so we are happy to take "
        "it back or exchange it.",
        "日常使用的东西必须舒适，我们很乐意为您办理退换。",
    ),
    "price": (
        "We want our prices to be fair; if the price dropped after your purchase, our team "
        "can look at a price adjustment for you.",
        "我们希望价格公道，如果您购买后降价，我们的团队可以为您核实补差价。",
    ),
    "delivery": (
        "We are sorry the delivery let you down; we will look into what happened with the "
        "carrier and make sure your next order arrives on time.",
        "很抱歉配送让您失望，我们会和快递公司核查原因，保证下次准时送达。",
    ),
    "service": (
        "That is not how we want anyone to be treated; a team lead will review what happened "
        "and contact you personally.",
        "这不是我们应有的服务态度，主管会核实情况并亲自与您联系。",
    ),
}
ASPECT_NAMES: dict[str, tuple[str, str]] = {
    "quality": ("the quality", "质量"),
    "fit": ("the size and fit", "尺码"),
    "fabric": ("the material", "面料"),
    "look": ("how it looks", "外观"),
    "comfort": ("the comfort", "舒适度"),
    "price": ("the price", "价格"),
    "delivery": ("the delivery", "物流"),
    "service": ("our service", "服务"),
}


@dataclass(frozen=True)
class Reply:
    """A drafted reply and what it answers."""

    text: str
    aspects: tuple[str, ...]
    """The complained-about aspects the reply names (worst first)."""
    quoted: str | None
    """The clause of the review the reply quotes."""
    language: str
    kind: str = "apology"
    """"apology" (a negative review) or "thanks" (any other: no apology, no remedy)."""


#: Thank-you drafts for reviews that are not negative: warm, apologise for nothing.
THANKS = (
    "Thank you for taking the time to review your order - we read every review and pass "
    "it on to the team that chose the product.",
    "感谢您抽出时间评价这次购物，我们会认真阅读每一条评价并转达给选品团队。",
)


def is_negative(
    review: str, *, sentiment: Scorer | None = None, label: float | None = None
) -> bool:
    """Whether a review gets an apology: its rating (`label`, 0 negative / 1 positive, None
    or NaN unknown) when known - the customer said it themselves -, else the sentiment
    model's reading. ValueError when neither is given."""
    known = label is not None and label == label  # NaN: a 3-star or unrated review
    if known:
        return float(label) < 0.5  # type: ignore[arg-type]
    if sentiment is None:
        raise ValueError(
            "cannot tell whether the review is negative: give a sentiment model or its rating"
        )
    return float(sentiment.predict_proba([review or ""])[0]) < 0.5


def draft_reply(
    review: str,
    *,
    review_id: str | None = None,
    sentiment: Scorer | None = None,
    label: float | None = None,
    language: str | None = None,
    max_aspects: int = 2,
) -> Reply:
    """A reply to one review: for a negative one (see `is_negative`) an apology naming its
    complaints, for any other a thank-you. `label` is the review's own polarity from its
    rating (0 negative, 1 positive), also used for clauses when no `sentiment` is given."""
    language = language or detect_language(review or "")
    zh = language == "zh"
    if not is_negative(review, sentiment=sentiment, label=label):
        return Reply(THANKS[1] if zh else THANKS[0], (), None, "zh" if zh else "en", "thanks")
    label = 0.0  # negative: a clause without a model is a complaint
    extractor = AspectExtractor(sentiment=sentiment)
    found = extractor.mentions([review or ""], review_ids=[review_id], labels=[label])
    complaints = found[found["polarity"] == "complaint"].sort_values("score", kind="stable")
    if complaints.empty:  # no polar clause: fall back to any aspect the review names
        complaints = found.sort_values("score", kind="stable")
    aspects = tuple(dict.fromkeys(complaints["aspect"]))[:max_aspects]
    quoted = str(complaints["clause"].iloc[0]) if len(complaints) else None
    text = _compose(aspects, quoted, review_id, zh)
    return Reply(text=text, aspects=aspects, quoted=quoted, language="zh" if zh else "en")


def _compose(aspects: tuple[str, ...], quoted: str | None, review_id: str | None, zh: bool) -> str:
    ref = review_id or _digest(quoted or "")
    if zh:
        opening = "感谢您花时间留下评价。"
        if quoted:
            opening += f"您提到“{_trim(quoted, 60)}”，"
        if aspects:
            named = "和".join(ASPECT_NAMES[a][1] for a in aspects)
            body = f"对于{named}方面给您带来的不便，我们深表歉意。" + "".join(
                REMEDIES[a][1] for a in aspects
            )
        else:
            body = "对于这次不愉快的购物体验，我们深表歉意，请告诉我们哪里做得不好。"
        return f"{opening}{body}请联系客服并提供评价编号 {ref}，我们会尽快处理。"
    opening = "Thank you for taking the time to tell us about your order."
    if quoted:
        opening += f' You wrote that "{_trim(quoted, 120)}".'
    if aspects:
        named = " and ".join(ASPECT_NAMES[a][0] for a in aspects)
        body = f" We are sorry that {named} let you down. " + " ".join(
            REMEDIES[a][0] for a in aspects
        )
    else:
        body = (
            " We are sorry it did not meet your expectations; please tell us what went wrong "
            "so we can put it right."
        )
    return f"{opening}{body} Please contact our care team quoting reference {ref}."


def _trim(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]


def draft_replies(
    reviews: pd.DataFrame, *, sentiment: Scorer | None = None, label_column: str | None = None
) -> pd.DataFrame:
    """Drafts for a frame of reviews (review_id, text[, language]): review_id, kind,
    aspects, quoted, reply. `label_column` holds each review's rating polarity (0/1/NaN)."""
    rows = []
    for rec in reviews.itertuples(index=False):
        label = getattr(rec, label_column) if label_column else None
        reply = draft_reply(
            rec.text,
            review_id=str(rec.review_id),
            sentiment=sentiment,
            label=label,
            language=getattr(rec, "language", None),
        )
        rows.append(
            {
                "review_id": str(rec.review_id),
                "kind": reply.kind,
                "aspects": ", ".join(reply.aspects),
                "quoted": reply.quoted,
                "reply": reply.text,
            }
        )
    return pd.DataFrame(rows, columns=["review_id", "kind", "aspects", "quoted", "reply"])


__all__ = ["REMEDIES", "THANKS", "Reply", "draft_replies", "draft_reply", "find_aspects",
           "is_negative"]  # fmt: skip
