"""What customers praise or complain about, per product: aspects with example sentences.

A review is cut into sentences, and a sentence into clauses at contrast words ("but",
"however", 但是, 不过 ...), because one sentence often praises one thing and blames another
("love the colour but it runs small"). A clause mentions an aspect when it holds one of the
aspect's cue words (`LEXICON`, English and Chinese, written by hand for shop reviews); its
polarity is the sentiment model's P(positive) of the clause: praise at >= `praise_at`,
complaint at <= `complain_at`, neutral between. Without a model the review's own label
decides (1 positive, 0 negative; see `shopsense.data.texts.review_labels`).

    >>> extractor = AspectExtractor(sentiment=model)
    >>> extractor.mentions(["Love the colour but it runs small."])
    >>> extractor.summarize(reviews_of_one_item)     # one row per aspect, with examples
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from shopsense.reviews.tokenize import has_han


class Scorer(Protocol):
    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...


#: aspect -> (English cue patterns, Chinese cue words). English patterns are regular
#: expressions matched at word starts on lower-cased text; Chinese cues are substrings.
LEXICON: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "quality": (
        (
            r"quality",
            r"well[- ]made",
            r"(?:cheaply|poorly|badly) made",
            r"durab",
            r"flims",
            r"fell apart",
            r"falling (?:apart|off)",
            r"came apart",
            r"rip(?:s|ped)?\b",
            r"tore\b",
            r"torn\b",
            r"holes?\b",
            r"unravel",
            r"pill(?:s|ed|ing)?\b",
            r"seams?\b",
            r"stitch",
            r"broke",
            r"defect",
            r"construct",
            r"sturdy",
            r"shoddy",
            r"shrunk",
            r"shrink",
            r"wrinkl",
            r"fad(?:e|ed|ing)\b",
            r"discolou?r",
            r"stain",
            r"bled\b",
            r"bleed",
            r"buttons?\b",
            r"zipper",
            r"craftsmanship",
            r"last(?:ed)? (?:long|years)",
        ),
        (
            "质量",
            "品质",
            "做工",
            "质感",
            "耐用",
            "破了",
            "坏了",
            "次品",
            "瑕疵",
            "开线",
            "线头",
            "掉色",
            "褪色",
            "起球",
            "正品",
            "假货",
            "做工粗糙",
        ),
    ),
    "fit": (
        (
            r"fit",
            r"siz(?:e|es|ed|ing)\b",
            r"runs? (?:small|large|big|true|short|long)",
            r"true to size",
            r"tts\b",
            r"too (?:small|big|large|tight|loose|short|long|wide)",
            r"tight",
            r"loose",
            r"snug",
            r"baggy",
            r"boxy",
            r"roomy",
            r"length",
            r"(?:too |so |a bit |little |super |very )(?:long|short|wide)",
            r"shorter",
            r"longer",
            r"waist",
            r"bust\b",
            r"hips?\b",
            r"shoulders?\b",
            r"chest",
            r"torso",
            r"inseam",
            r"sleeves? (?:are|were|is|was) ",
            r"arm ?holes?",
            r"petite",
            r"xx?s\b",
            r"xx?l\b",
            r"wide\b",
            r"slimmer",
            r"shape\b",
            r"exposed",
            r"pulled",
        ),
        (
            "尺码",
            "尺寸",
            "大小",
            "偏大",
            "偏小",
            "合身",
            "码数",
            "太紧",
            "太松",
            "紧身",
            "宽松",
            "太长",
            "太短",
            "号码",
            "大了",
            "小了",
        ),
    ),
    "fabric": (
        (
            r"fabric",
            r"material",
            r"cotton",
            r"linen",
            r"silk",
            r"wool",
            r"polyester",
            r"rayon",
            r"knit\b",
            r"thin\b",
            r"thick",
            r"sheer",
            r"see[- ]through",
            r"itch",
            r"scratch",
            r"soft",
            r"stretch",
            r"lightweight",
            r"heavyweight",
            r"textur",
            r"slinky",
            r"lint\b",
            r"cling",
            r"feels? (?:great|nice|cheap|good|soft|rough)",
        ),
        ("面料", "材质", "布料", "料子", "纯棉", "棉质", "起毛", "透气", "薄", "厚实", "手感"),
    ),
    "look": (
        (
            r"colou?r",
            r"pattern",
            r"print\b",
            r"prints\b",
            r"style",
            r"design",
            r"looks?\b",
            r"looked",
            r"beautiful",
            r"pretty",
            r"gorgeous",
            r"cute",
            r"flatter",
            r"unflatter",
            r"stylish",
            r"elegant",
            r"chic\b",
            r"ugly",
            r"frump",
            r"lovely",
            r"stunning",
            r"feminine",
            r"embroider",
            r"neckline",
            r"cut of",
            r"tacky",
            r"kitsch",
            r"shape of",
            r"flair",
            r"flare",
            r"bell shape",
            r"photo",
            r"picture",
            r"appear",
        ),
        ("颜色", "款式", "样式", "好看", "漂亮", "色差", "外观", "难看", "设计", "图片", "样子"),
    ),
    "comfort": (
        (r"comfort", r"comfy", r"uncomfort", r"cozy", r"cosy", r"irritat", r"warm\b", r"breathab"),
        ("舒服", "舒适", "不舒服", "透气性"),
    ),
    "price": (
        (
            r"pric",
            r"expensive",
            r"cheap\b(?! (?:material|fabric|looking))",
            r"value",
            r"worth",
            r"money",
            r"on sale",
            r"\bsale\b",
            r"deal\b",
            r"cost",
            r"bargain",
            r"overpriced",
            r"\$\d",
            r"\d+% off",
            r"clearance",
            r"wallet",
            r"penny",
        ),
        ("价格", "价钱", "便宜", "太贵", "性价比", "划算", "价位", "值得", "实惠", "贵了"),
    ),
    "delivery": (
        (
            r"ship",
            r"deliver",
            r"arriv",
            r"package",
            r"packaging",
            r"receiv",
            r"back-?order",
            r"came (?:quickly|fast|late|on time)",
            r"tracking",
            r"courier",
        ),
        ("物流", "快递", "送货", "发货", "到货", "包装", "配送", "送到", "速度"),
    ),
    "service": (
        (
            r"customer service",
            r"service",
            r"staff",
            r"refund",
            r"exchange",
            r"seller",
            r"support team",
            r"sales ?(?:person|associate|woman|man)",
            r"rude",
            r"helpful",
        ),
        ("客服", "服务", "售后", "退货", "换货", "态度", "退款", "前台"),
    ),
}
ASPECTS: tuple[str, ...] = tuple(LEXICON)

_EN = {
    aspect: re.compile(r"(?<![a-z])(?:" + "|".join(patterns) + ")")
    for aspect, (patterns, _) in LEXICON.items()
}
_SENTENCES = re.compile(r"(?<=[.!?。！？；;])\s*|\n+|(?<=\.\.\.)")
_CONTRAST = re.compile(
    r"\s*(?:,?\s*\b(?:but|however|although|though|except|yet|unfortunately)\b|但是|但|不过|可是|就是|却|而且|，|；)\s*",
    re.IGNORECASE,
)


def sentences(text: str | None) -> list[str]:
    """The sentences of a review (empty pieces dropped)."""
    if not text:
        return []
    return [s.strip() for s in _SENTENCES.split(str(text)) if s and s.strip(" .!?。！？;；")]


def clauses(sentence: str) -> list[str]:
    """A sentence cut at contrast words: each piece keeps its own polarity."""
    parts = [p.strip(" ,，、") for p in _CONTRAST.split(sentence)]
    return [p for p in parts if p] or [sentence]


def find_aspects(text: str) -> list[str]:
    """Aspects whose cue words occur in `text`, in `ASPECTS` order."""
    lower = text.lower()
    found = [a for a in ASPECTS if _EN[a].search(lower)]
    if has_han(text):
        found += [a for a in ASPECTS if a not in found and any(c in text for c in LEXICON[a][1])]
        found.sort(key=ASPECTS.index)
    return found


@dataclass
class AspectExtractor:
    """Aspect mentions with polarity, and their per-product summary."""

    sentiment: Scorer | None = None
    """A fitted sentiment model (`predict_proba`) that reads each clause; None: use the
    review's label."""
    praise_at: float = 0.6
    """Clauses scored at least this positive are praise."""
    complain_at: float = 0.4
    """Clauses scored at most this positive are complaints."""

    def mentions(
        self,
        texts: Sequence[str],
        *,
        review_ids: Sequence[Any] | None = None,
        labels: Sequence[float | None] | None = None,
    ) -> pd.DataFrame:
        """One row per (clause, aspect): review_id, sentence, clause, aspect, score
        (P(positive), NaN without a model), polarity ("praise", "complaint", "neutral")."""
        ids = list(range(len(texts))) if review_ids is None else list(review_ids)
        known = [None] * len(texts) if labels is None else list(labels)
        rows = []
        for rid, text, label in zip(ids, texts, known, strict=True):
            for sentence in sentences(text):
                for clause in clauses(sentence):
                    for aspect in find_aspects(clause):
                        rows.append((rid, sentence, clause, aspect, label))
        frame = pd.DataFrame(rows, columns=["review_id", "sentence", "clause", "aspect", "label"])
        if self.sentiment is not None and len(frame):
            unique = frame["clause"].unique()
            scores = dict(zip(unique, self.sentiment.predict_proba(list(unique)), strict=True))
            frame["score"] = frame["clause"].map(scores).astype(float)
        else:
            frame["score"] = _label_score(frame["label"])
        frame["polarity"] = np.select(
            [frame["score"] >= self.praise_at, frame["score"] <= self.complain_at],
            ["praise", "complaint"],
            "neutral",
        )
        return frame.drop(columns="label")

    def summarize(
        self,
        texts: Sequence[str],
        *,
        review_ids: Sequence[Any] | None = None,
        labels: Sequence[float | None] | None = None,
        examples: int = 2,
    ) -> pd.DataFrame:
        """Per aspect mentioned: mentions, praise, complaints, praise_share (of the polar
        mentions) and up to `examples` sentences of each side, the most confident first.
        Sorted by mentions."""
        found = self.mentions(texts, review_ids=review_ids, labels=labels)
        columns = ["aspect", "mentions", "praise", "complaints", "praise_share",
                   "praised_in", "complained_in"]  # fmt: skip
        if found.empty:
            return pd.DataFrame(columns=columns)
        out = []
        for aspect, group in found.groupby("aspect", sort=False):
            good = group[group["polarity"] == "praise"].sort_values("score", ascending=False)
            bad = group[group["polarity"] == "complaint"].sort_values("score")
            polar = len(good) + len(bad)
            out.append(
                {
                    "aspect": aspect,
                    "mentions": len(group),
                    "praise": len(good),
                    "complaints": len(bad),
                    "praise_share": len(good) / polar if polar else float("nan"),
                    "praised_in": _examples(good, examples),
                    "complained_in": _examples(bad, examples),
                }
            )
        frame = pd.DataFrame(out, columns=columns)
        return frame.sort_values(["mentions", "aspect"], ascending=[False, True], ignore_index=True)


def _examples(group: pd.DataFrame, n: int) -> list[dict[str, Any]]:
    picked = group.drop_duplicates("sentence").head(n)
    return [
        {"review_id": str(r.review_id), "sentence": r.sentence, "score": round(float(r.score), 3)}
        for r in picked.itertuples()
    ]


def _label_score(labels: pd.Series) -> pd.Series:
    """A review's label as a pseudo-probability: 1 positive, 0 negative, unknown 0.5."""
    return pd.to_numeric(labels, errors="coerce").clip(0, 1).fillna(0.5).astype(float)
