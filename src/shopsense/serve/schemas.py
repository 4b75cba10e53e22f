"""Request and response bodies of the HTTP API: every field typed, bounded and documented,
so FastAPI validates requests and the OpenAPI schema says exactly what is accepted."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shopsense.data.schema import EventType

Id = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$"),
    Field(description="an id as stored (1–128 printable characters)"),
]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_\-]{1,64}$")]
Version = Annotated[str, StringConstraints(pattern=r"^v\d{4,}$")]
Source = Literal["model", "fold_in", "cold_start"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Because(BaseModel):
    item_id: str
    title: str | None = None
    contribution: float


class RecommendedItem(BaseModel):
    rank: int
    item_id: str
    score: float | None = Field(description="the model's score (null where it is -inf)")
    title: str | None = None
    category: str | None = None
    price: float | None = None
    because: list[Because] | None = Field(
        None, description="the user's items that push this one up most (explain=true)"
    )
    reason: str | None = Field(None, description="the explanation as a sentence (explain=true)")


class Recommendations(BaseModel):
    user_id: str
    model: str = Field(description="name/version that answered")
    source: Source = Field(
        description="model: scored by the model; fold_in: scored from the user's history "
        "including events newer than the model; cold_start: unknown user, popular items"
    )
    items: list[RecommendedItem]


class FiltersIn(Strict):
    categories: list[Id] = Field(default_factory=list, max_length=100)
    min_price: float | None = Field(None, ge=0, le=1e9)
    max_price: float | None = Field(None, ge=0, le=1e9)


class BatchRequest(Strict):
    users: list[Id] = Field(min_length=1, description="user ids (at most max_batch_users)")
    k: int = Field(10, ge=1, description="items per user (at most max_k)")
    model: Name | None = None
    exclude_seen: bool = True
    filters: FiltersIn = Field(default_factory=FiltersIn)


class BatchResponse(BaseModel):
    results: list[Recommendations]


class SessionRequest(Strict):
    items: list[Id] = Field(min_length=1, max_length=1000, description="item ids, oldest first")
    k: int = Field(10, ge=1)
    model: Name | None = None
    filters: FiltersIn = Field(default_factory=FiltersIn)


class SimilarItems(BaseModel):
    item_id: str
    model: str
    source: Literal["model", "content"] = Field(
        description="model: the model's item similarity; content: the item is newer than "
        "the model, so its catalogue text is matched against the model's items"
    )
    items: list[RecommendedItem]


class Explanation(BaseModel):
    user_id: str
    item_id: str
    model: str
    source: Source
    because: list[Because]
    text: str


class EventIn(Strict):
    user_id: Id
    item_id: Id
    event_type: EventType
    value: float | None = Field(None, ge=-1e9, le=1e9, description="quantity or rating")
    timestamp: datetime | None = Field(
        None,
        description="ISO 8601; with an offset (`Z`, `+05:00`) it is that instant, without one "
        "it is the shop's local time (`shop_timezone`); stored in UTC; default: the time of "
        "arrival (the first arrival, for a retried batch with an Idempotency-Key)",
    )
    session_id: Id | None = None


class EventsIn(Strict):
    events: list[EventIn] = Field(min_length=1, description="at most max_events per request")


class EventsStored(BaseModel):
    received: int
    stored: int
    already_stored: int
    users: int
    replay: bool = Field(
        False, description="the Idempotency-Key was seen before: a retry of a stored batch"
    )


class HistoryItem(BaseModel):
    item_id: str
    title: str | None = None
    category: str | None = None
    price: float | None = None


class History(BaseModel):
    user_id: str
    model: str
    known_to_model: bool
    items: list[HistoryItem] = Field(
        description="in time order (most recent last) for sequence models and for events "
        "since training; otherwise the model keeps a set, listed in catalogue order"
    )


class QualityFinding(BaseModel):
    check: str
    rows: int
    detail: str
    examples: list[str]
    severity: str


class QualityReportOut(BaseModel):
    """What the data-quality check found in one ingest."""

    table: str
    source: str
    rows: int
    findings: list[QualityFinding]
    drift: dict[str, Any]


class ModelVersionOut(BaseModel):
    task: str = Field("recommend", description="recommend, behavior, pricing, images or reviews")
    name: str
    version: str
    model: str
    serving: bool = Field(
        description="this service answers with this version now (recommenders: the loaded "
        "version; other models are read at each request: the version the next one gets)"
    )
    active: bool = Field(
        description="the registry's active version: what a service serves after a restart"
    )
    newest: bool = Field(description="the most recently saved version of the model")
    loaded: bool = Field(description="the same as `serving` (kept for older clients)")
    created_at: str | None = None
    params: dict = Field(default_factory=dict)
    metrics: dict = Field(default_factory=dict)
    data: dict = Field(default_factory=dict)
    export: dict = Field(
        default_factory=dict,
        description="deep models: the ONNX files saved beside the weights and their parity "
        "check against torch (per precision: top-10 agreement, score error, passed)",
    )
    runtime: str | None = Field(
        None,
        description="the version this process serves: what scores it, e.g. 'onnx "
        "query.onnx' or 'torch' (null for versions not loaded)",
    )


class ActivateRequest(Strict):
    version: Version


class Status(BaseModel):
    status: str
    detail: str | None = None


def finite(value: Any) -> float | None:
    """A number for JSON: None for missing, unreadable, NaN or infinite values."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
