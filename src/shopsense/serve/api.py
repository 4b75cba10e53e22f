"""The versioned JSON API (`/v1/...`): recommendations, similar items, explanations,
events, user histories and the model registry."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool

from shopsense.data.ingest import IngestError
from shopsense.data.schema import TABLES
from shopsense.recommend.base import Explanation as ModelExplanation
from shopsense.serve import idempotency
from shopsense.serve import schemas as s
from shopsense.serve.security import require_key
from shopsense.serve.served import Answer, Filters, ServedModel
from shopsense.serve.state import ServiceState
from shopsense.workflows import TASK

router = APIRouter(prefix="/v1")

UserId = Annotated[str, Path(min_length=1, max_length=128, description="the customer's id")]
ItemId = Annotated[str, Path(min_length=1, max_length=128, description="the item's id")]
ModelName = Annotated[
    str | None,
    Query(pattern=r"^[a-z0-9_\-]{1,64}$", description="model name; default: the service's"),
]
K = Annotated[int, Query(ge=1, description="how many items (at most the service's max_k)")]


async def service(request: Request) -> ServiceState:  # async: no thread for a lookup
    return request.app.state.service


State = Annotated[ServiceState, Depends(service)]


def _check_k(state: ServiceState, k: int) -> None:
    if k > state.settings.max_k:
        raise HTTPException(422, f"k={k} is above this service's limit of {state.settings.max_k}")


def _served(state: ServiceState, name: str | None) -> ServedModel:
    try:
        return state.model(name)
    except FileNotFoundError as e:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(e)) from None


def _filters(
    categories: list[str] | None, min_price: float | None, max_price: float | None
) -> Filters:
    if min_price is not None and max_price is not None and min_price > max_price:
        raise HTTPException(422, f"min_price {min_price} is above max_price {max_price}")
    return Filters(tuple(sorted(set(categories or ()))), min_price, max_price)


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _items(served: ServedModel, idx: np.ndarray, scores: np.ndarray) -> list[s.RecommendedItem]:
    out = []
    for rank, (i, score) in enumerate(zip(idx, scores, strict=True), start=1):
        if i < 0:
            break
        out.append(
            s.RecommendedItem(
                rank=rank,
                item_id=str(served.model.item_ids_[i]),
                score=_number(score),
                title=_text(served.titles[i]),
                category=_text(served.categories[i]),
                price=_number(served.prices[i]),
            )
        )
    return out


def _because(served: ServedModel, pairs: list[tuple[int, float]]) -> list[s.Because]:
    return [
        s.Because(
            item_id=str(served.model.item_ids_[j]), title=_text(served.titles[j]), contribution=w
        )
        for j, w in pairs
    ]


def _answer(served: ServedModel, user: str, answer: Answer, explain: bool) -> s.Recommendations:
    items = _items(served, answer.items, answer.scores)
    if explain:
        for item, i in zip(items, answer.items, strict=False):
            pairs = served.because(user, int(i), answer.history)
            item.because = _because(served, pairs)
            item.reason = _reason(served, str(item.item_id), answer.source, pairs)
    return s.Recommendations(user_id=user, model=served.label, source=answer.source, items=items)


def _reason(served: ServedModel, item: str, source: str, pairs: list[tuple[int, float]]) -> str:
    titles = {str(served.model.item_ids_[j]): _text(served.titles[j]) or "" for j, _ in pairs}
    i = served.model.item_index([item])[0]
    titles[item] = _text(served.titles[i]) or item
    because = [(str(served.model.item_ids_[j]), w) for j, w in pairs]
    reason = "popular" if source == "cold_start" or not because else "history"
    return ModelExplanation("", item, 0.0, because, reason).text(titles)


# ============================================================================ recommendations


@router.get("/users/{user_id}/recommendations", response_model=s.Recommendations)
async def recommendations(
    state: State,
    user_id: UserId,
    k: K = 10,
    model: ModelName = None,
    exclude_seen: bool = True,
    category: Annotated[list[str] | None, Query(max_length=100)] = None,
    min_price: Annotated[float | None, Query(ge=0, le=1e9)] = None,
    max_price: Annotated[float | None, Query(ge=0, le=1e9)] = None,
    explain: Annotated[bool, Query(description="add 'because you bought …' per item")] = False,
) -> s.Recommendations:
    """Top-k items for one customer. Unknown customers get popular items (source
    `cold_start`); customers with events newer than the model are folded in (`fold_in`)."""
    _check_k(state, k)
    filters = _filters(category, min_price, max_price)

    def answer() -> s.Recommendations:
        served = _served(state, model)
        found = served.recommend([user_id], k, exclude_seen=exclude_seen, filters=filters)[0]
        state.metrics.answers.labels(found.source).inc()
        return _answer(served, user_id, found, explain)

    # The common answer (a loaded model, a product with its matrices) takes a fraction of a
    # millisecond: computed right here it costs less than the hop to a worker thread. A model
    # still to load, a network pass or explanations go to a thread, so the loop stays free.
    served = state.loaded_model(model)
    if served is not None and not explain and served.answers_at_once(user_id):
        return answer()
    return await run_in_threadpool(answer)


@router.post("/recommendations/batch", response_model=s.BatchResponse)
def batch_recommendations(state: State, body: s.BatchRequest) -> s.BatchResponse:
    """Top-k for many customers in one call, scored together (vectorised)."""
    _check_k(state, body.k)
    if len(body.users) > state.settings.max_batch_users:
        raise HTTPException(
            422,
            f"{len(body.users)} users is above this service's limit of "
            f"{state.settings.max_batch_users} per request",
        )
    served = _served(state, body.model)
    f = body.filters
    filters = _filters(f.categories, f.min_price, f.max_price)
    answers = served.recommend(body.users, body.k, exclude_seen=body.exclude_seen, filters=filters)
    for a in answers:
        state.metrics.answers.labels(a.source).inc()
    return s.BatchResponse(
        results=[_answer(served, u, a, False) for u, a in zip(body.users, answers, strict=True)]
    )


@router.post("/sessions/recommendations", response_model=s.Recommendations)
def session_recommendations(state: State, body: s.SessionRequest) -> s.Recommendations:
    """Top-k after an anonymous session (item ids, oldest first), for shoppers who are not
    logged in; needs a model that folds in histories."""
    _check_k(state, body.k)
    served = _served(state, body.model)
    if not served.model.scores_histories:
        raise HTTPException(
            422, f"{served.label} cannot score a session; use a model that folds in histories"
        )
    f = body.filters
    filters = _filters(f.categories, f.min_price, f.max_price)
    idx = served.model.item_index(body.items, strict=False)
    history = idx[idx >= 0].astype(np.int64)
    if len(history):
        answer = served._by_history([history], body.k, True, served.allowed(filters))[0]
    else:
        answer = served._popular(history, body.k, True, served.allowed(filters))
    state.metrics.answers.labels(answer.source).inc()
    return _answer(served, "", answer, False)


@router.get("/items/{item_id}/similar", response_model=s.SimilarItems)
def similar_items(
    state: State, item_id: ItemId, k: K = 10, model: ModelName = None
) -> s.SimilarItems:
    """The k items most like an item, by the model's item-to-item similarity. An item newer
    than the model is matched by its catalogue text instead (source `content`)."""
    _check_k(state, k)
    served = _served(state, model)
    source = "model"
    try:
        if served.model.item_index([item_id], strict=False)[0] >= 0:
            idx, scores = served.similar(item_id, k)
        else:
            source = "content"
            idx, scores = served.similar_by_text(item_id, k)
    except NotImplementedError:
        raise HTTPException(422, f"{served.label} has no item similarity") from None
    except KeyError as e:
        raise HTTPException(404, str(e.args[0])) from None
    return s.SimilarItems(
        item_id=item_id, model=served.label, source=source, items=_items(served, idx, scores)
    )


@router.get("/users/{user_id}/explain/{item_id}", response_model=s.Explanation)
def explain(
    state: State, user_id: UserId, item_id: ItemId, model: ModelName = None
) -> s.Explanation:
    """Why the model would recommend an item to a customer, in terms of their own items."""
    served = _served(state, model)
    i = int(served.model.item_index([item_id], strict=False)[0])
    if i < 0:
        raise HTTPException(404, f"item {item_id!r} is not in {served.label}'s catalogue")
    history = served.history(user_id)
    if served.is_live(user_id) and len(history):
        source = "fold_in"
    elif served.knows(user_id):
        source = "model"
    else:
        source = "cold_start"
    pairs = served.because(user_id, i, history, n=5)
    return s.Explanation(
        user_id=user_id,
        item_id=item_id,
        model=served.label,
        source=source,
        because=_because(served, pairs),
        text=_reason(served, item_id, source, pairs),
    )


@router.get("/users/{user_id}/history", response_model=s.History)
def history(
    state: State,
    user_id: UserId,
    model: ModelName = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> s.History:
    """The customer's items as the model reads them, with catalogue details: in time order
    for sequence models and events since training (`limit` keeps the most recent), as a set
    in catalogue order for the other models."""
    served = _served(state, model)
    idx = served.history(user_id)[-limit:]
    items = [
        s.HistoryItem(
            item_id=str(served.model.item_ids_[i]),
            title=_text(served.titles[i]),
            category=_text(served.categories[i]),
            price=_number(served.prices[i]),
        )
        for i in idx
    ]
    return s.History(
        user_id=user_id, model=served.label, known_to_model=served.knows(user_id), items=items
    )


# ============================================================================ events


@router.post(
    "/events",
    response_model=s.EventsStored,
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require_key)],
)
async def post_events(
    state: State,
    body: s.EventsIn,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=200,
            pattern=r"^[\x21-\x7e]+$",
            description="any unique text per batch: a retried batch with the same key is "
            "stored once, also when its events carry no timestamp",
        ),
    ] = None,
) -> s.EventsStored:
    """Store events (view, cart, purchase, rating) and apply them at once: the customer's
    next recommendations read them without retraining. Times are stored in UTC: an offset
    is honoured, a time without one is read in the shop's time zone (`shop_timezone`),
    a missing one is the time of arrival. Needs an API key."""
    settings = state.settings
    if len(body.events) > settings.max_events:
        raise HTTPException(
            422, f"{len(body.events)} events is above the limit of {settings.max_events}"
        )
    # the frame is built in a worker thread: pandas work on the event loop would hold up
    # every other request's reading and answering
    queued = await run_in_threadpool(_queue_events, state, body, idempotency_key)
    try:  # awaited without a worker thread: queued writes leave the threads to reads
        stored = await asyncio.wrap_future(queued)
    except (IngestError, idempotency.KeyReused) as e:
        raise HTTPException(422, str(e)) from None
    written = await run_in_threadpool(state.apply_events, stored)
    state.metrics.events.inc(written.report.rows_inserted)
    for name, served in state.loaded().items():
        state.metrics.live_users.labels(name).set(served.live_users)
    return s.EventsStored(
        received=len(body.events),
        stored=written.report.rows_inserted,
        already_stored=written.report.rows_skipped_existing,
        users=written.users,
        replay=written.replay,
    )


def _queue_events(state: ServiceState, body: s.EventsIn, key: str | None) -> Any:
    """The request's events as a frame, queued for the store's writer (its future)."""
    frame = pd.DataFrame(
        {
            "user_id": [e.user_id for e in body.events],
            "item_id": [e.item_id for e in body.events],
            "event_type": [str(e.event_type) for e in body.events],
            "value": [e.value for e in body.events],
            "timestamp": pd.to_datetime(_event_times(body.events, state), errors="raise"),
            "session_id": [e.session_id for e in body.events],
        }
    )
    return state.submit_events(
        frame,
        source="POST /v1/events",
        key=key,
        body_sha256=idempotency.digest(body.model_dump_json().encode()),
    )


def _event_times(events: list[s.EventIn], state: ServiceState) -> list[datetime | None]:
    """Each event's time as naive UTC (None: stamp on arrival), or a 422 naming every event
    whose time is outside the plausible window (`event_earliest`, `event_max_ahead_hours`)."""
    settings = state.settings
    zone = ZoneInfo(settings.shop_timezone)
    earliest = datetime(*settings.event_earliest.timetuple()[:3])
    latest = datetime.now(UTC).replace(tzinfo=None) + timedelta(
        hours=settings.event_max_ahead_hours
    )
    out: list[datetime | None] = []
    problems = []
    for n, event in enumerate(events):
        when = event.timestamp
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=zone)
            try:
                when = when.astimezone(UTC).replace(tzinfo=None)
            except OverflowError:  # year 1 or 9999 moved past the calendar's end
                when = datetime.min if when.year < 1000 else datetime.max
            if not earliest <= when <= latest:
                bound = (
                    f"before {earliest:%Y-%m-%d}"
                    if when < earliest
                    else f"more than {settings.event_max_ahead_hours:g} hours ahead"
                )
                problems.append(
                    {
                        "loc": ["body", "events", n, "timestamp"],
                        "msg": f"event {n}: timestamp {event.timestamp.isoformat()} is {bound}",
                        "type": "value_error",
                    }
                )
        out.append(when)
    if problems:
        raise HTTPException(422, problems)
    return out


# ============================================================================ registry


def _versions(state: ServiceState) -> list[s.ModelVersionOut]:
    """Every saved version of every task, saying which one this process serves, which is
    active on disk (serves at the next start) and which is the newest."""
    registry = state.registry
    auto = state.settings.auto_activate
    out = []
    tasks = sorted(registry.tasks(), key=lambda t: t != TASK)  # recommenders first, as ever
    for task in tasks:
        saved = registry.versions(task)
        newest: dict[str, str] = {}
        for v in saved:
            newest[v.name] = v.version  # oldest first: the last one wins
        active = {name: registry.active(task, name).version for name in newest}
        runtimes: dict[str, str] = {}
        if task == TASK:  # recommenders stay loaded: what this process holds
            serving = state.serving()
            runtimes = {name: _runtime(m.model) for name, m in state.loaded().items()}
        else:  # the others are read at each request: what the next one gets
            serving = {n: registry.would_serve(task, n, auto_activate=auto).version for n in newest}
        out += [
            s.ModelVersionOut(
                task=task,
                name=v.name,
                version=v.version,
                model=str(v.meta.get("model", v.name)),
                serving=serving.get(v.name) == v.version,
                active=active[v.name] == v.version,
                newest=newest[v.name] == v.version,
                loaded=serving.get(v.name) == v.version,
                created_at=v.meta.get("created_at"),
                params=v.meta.get("params", {}),
                metrics=v.meta.get("metrics", {}),
                data=v.meta.get("data", {}),
                export=v.meta.get("export", {}),
                runtime=runtimes.get(v.name) if serving.get(v.name) == v.version else None,
            )
            for v in saved
        ]
    return out


def _runtime(model: Any) -> str:
    """What scores a loaded model: its ONNX file, or torch / the model's own arrays."""
    runtime = getattr(model, "runtime_", None)
    return f"onnx {runtime.path.name}" if runtime is not None else "torch"


@router.get("/data/quality", response_model=list[s.QualityReportOut])
async def data_quality(state: State, table: str | None = None) -> list[s.QualityReportOut]:
    """The data-quality report of the latest ingest of each table (or of `table`)."""
    if table is not None and table not in TABLES:
        raise HTTPException(404, f"unknown table {table!r}; tables are {', '.join(TABLES)}")
    reports = await run_in_threadpool(state.read_store, lambda st: st.quality_reports(table))
    return [s.QualityReportOut.model_validate(r.to_dict()) for r in reports]


@router.get("/models", response_model=list[s.ModelVersionOut])
def list_models(state: State) -> list[s.ModelVersionOut]:
    """Every saved version of every task (recommend, behavior, pricing, images, reviews)
    with its parameters, training data and metrics, and which version of each model serves
    here, is active on disk and is the newest."""
    return _versions(state)


_Name = Annotated[str, Path(pattern=r"^[a-z0-9_\-]{1,64}$")]


@router.post(
    "/models/{name}/activate",
    response_model=s.ModelVersionOut,
    dependencies=[Depends(require_key)],
)
async def activate(state: State, name: _Name, body: s.ActivateRequest) -> s.ModelVersionOut:
    """Serve another version of a model. The new version loads completely first;
    requests in flight finish on the old one. Needs an API key."""
    try:
        await run_in_threadpool(state.activate, name, body.version)
    except FileNotFoundError as e:
        raise HTTPException(404, str(e)) from None
    return _one(state, name)


@router.post(
    "/models/{name}/rollback",
    response_model=s.ModelVersionOut,
    dependencies=[Depends(require_key)],
)
async def rollback(state: State, name: _Name) -> s.ModelVersionOut:
    """Serve the previously active version again. Needs an API key."""
    try:
        await run_in_threadpool(state.rollback, name)
    except FileNotFoundError as e:
        raise HTTPException(404, str(e)) from None
    except ValueError as e:
        raise HTTPException(409, str(e)) from None
    return _one(state, name)


def _one(state: ServiceState, name: str) -> s.ModelVersionOut:
    return next(v for v in _versions(state) if (v.task, v.name, v.active) == (TASK, name, True))
