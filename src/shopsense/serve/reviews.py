"""Reviews and customer questions in the service.

- POST /v1/reviews/sentiment: score texts (a read: nothing is stored, so no key);
- GET /v1/items/{item_id}/aspects: what customers praise and complain about;
- POST /v1/questions/answer: the best passages about an item for a question, with sources.

Handlers call `shopsense.reviews.workflows` and nothing else; models come from the registry
on every call (a sentiment model loads in well under a second), so a newly trained version
answers at once.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, Field, field_validator

from shopsense.serve.state import NotReady

router = APIRouter(prefix="/v1", tags=["reviews"])


class SentimentIn(BaseModel):
    texts: list[Annotated[str, Field(max_length=20_000)]] = Field(
        min_length=1, max_length=256, description="reviews or messages to score"
    )

    @field_validator("texts")
    @classmethod
    def _not_blank(cls, texts: list[str]) -> list[str]:
        """An empty text has no sentiment: scoring it would only echo the model's prior."""
        blank = [i for i, t in enumerate(texts) if not t.strip()]
        if blank:
            raise ValueError(f"texts {blank} are empty or whitespace; nothing to score")
        return texts


class SentimentScore(BaseModel):
    text: str
    language: str = Field(
        description="detected from the script: zh or en (a language "
        "without a model is refused with 422)"
    )
    score: float = Field(description="P(positive)")
    sentiment: str = Field(description="positive or negative")
    model: str = Field(description="name/version of the model that scored it")


class SentimentOut(BaseModel):
    scores: list[SentimentScore]


class Example(BaseModel):
    review_id: str
    sentence: str
    score: float


class AspectOut(BaseModel):
    aspect: str
    mentions: int
    praise: int
    complaints: int
    praise_share: float | None
    praised_in: list[Example]
    complained_in: list[Example]


class AspectsOut(BaseModel):
    item_id: str
    aspects: list[AspectOut]
    language: str | None = Field(None, description="the language the aspects were read in")
    reviews_left_out: int = Field(
        0, description="reviews in other languages, not read (no model of theirs is used)"
    )


class QuestionIn(BaseModel):
    question: str = Field(min_length=1, max_length=2_000)
    item_id: str = Field(min_length=1, max_length=200)
    k: int = Field(5, ge=1, le=50)
    method: str = Field("embedding", pattern="^(bm25|embedding|hybrid)$")


class Source(BaseModel):
    type: str = Field(description="answer (a past Q&A), review or description")
    id: str = Field(description="question_id, review_id or item_id of the record")


class Passage(BaseModel):
    rank: int
    text: str
    source: Source
    answered_question: str | None = None


class AnswerOut(BaseModel):
    question: str
    item_id: str
    passages: list[Passage]


def _settings(request: Request):
    return request.app.state.service.settings


@router.post("/reviews/sentiment", response_model=SentimentOut)
def sentiment(body: SentimentIn, request: Request) -> SentimentOut:
    """P(positive) of each text, by the sentiment model of its language. 422 naming each
    text whose language has no model (and the languages that have one): a text is never
    scored by a model of another language."""
    from shopsense.reviews import workflows

    try:
        frame = workflows.score(_settings(request), body.texts)
    except FileNotFoundError as e:
        raise NotReady(str(e)) from None
    except workflows.UnsupportedLanguage as e:
        raise HTTPException(422, str(e)) from None
    return SentimentOut(
        scores=[SentimentScore(**r) for r in frame.to_dict(orient="records")]  # type: ignore[arg-type]
    )


@router.get("/items/{item_id}/aspects", response_model=AspectsOut)
def aspects(
    request: Request, item_id: Annotated[str, PathParam(min_length=1, max_length=200)]
) -> AspectsOut:
    """Aspects of the item's reviews with praise / complaint counts and example sentences."""
    from shopsense.reviews import workflows

    try:
        frame = workflows.item_aspects(_settings(request), item_id)
    except FileNotFoundError as e:
        raise NotReady(str(e)) from None
    except KeyError as e:
        raise HTTPException(404, str(e).strip("'\"")) from None
    rows = frame.to_dict(orient="records")
    for r in rows:
        if r["praise_share"] != r["praise_share"]:  # NaN: no polar mention
            r["praise_share"] = None
    return AspectsOut(
        item_id=item_id,
        aspects=[AspectOut(**r) for r in rows],  # type: ignore[arg-type]
        language=frame.attrs.get("language"),
        reviews_left_out=frame.attrs.get("left_out", 0),
    )


@router.post("/questions/answer", response_model=AnswerOut)
def answer(body: QuestionIn, request: Request) -> AnswerOut:
    """The best passages about the item for the question, each with its source."""
    from shopsense.reviews import workflows
    from shopsense.reviews.qa_cache import TABLES

    versions = request.app.state.service.data_versions(*TABLES)  # known without a store read
    try:
        frame = workflows.ask(
            _settings(request),
            body.question,
            body.item_id,
            k=body.k,
            method=body.method,
            versions=versions,
        )
    except FileNotFoundError as e:
        raise NotReady(str(e)) from None
    except KeyError as e:
        raise HTTPException(404, str(e).strip("'\"")) from None
    except workflows.QuestionLanguage as e:
        raise HTTPException(422, str(e)) from None
    passages = [
        Passage(
            rank=int(r["rank"]),
            text=str(r["text"]),
            source=Source(type=str(r["source"]), id=str(r["source_id"])),
            # a review or description passage answers no earlier question: null, not NaN
            answered_question=r["answered_question"]
            if isinstance(r["answered_question"], str)
            else None,
        )
        for r in frame.to_dict(orient="records")
    ]
    return AnswerOut(question=body.question, item_id=body.item_id, passages=passages)
