"""The explorer page (`/dashboard/explorer`): one customer's history and recommendations,
each with its explanation. The form is checked as the JSON API would check it, but errors
come back as sentences on the page, with the form as it was filled in."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from shopsense.data.store import Store
from shopsense.serve import api
from shopsense.serve.dashboard.render import page, page_router, problem, service_state
from shopsense.serve.dashboard.views import read_store, top_users
from shopsense.serve.state import NotReady, ServiceState, StoreBusy
from shopsense.workflows import TASK

router = page_router()

#: how much of a customer's history the explorer shows
HISTORY_SHOWN = 50
_USER_ID = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")
_MODEL_NAME = re.compile(r"^[a-z0-9_\-]{1,64}$")


@dataclass(frozen=True)
class ExplorerQuery:
    """The explorer's form, checked: a customer id (maybe empty), a model name, k."""

    user: str
    model: str
    k: int


class BadQuery(ValueError):
    """Form input the explorer cannot use; the message says what to change."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _model_names(state: ServiceState) -> list[str]:
    return sorted({v.name for v in state.registry.versions(TASK)})


def parse_query(state: ServiceState, user: str, model: str, k: str) -> ExplorerQuery:
    """Check the form as the JSON API would, but with sentences instead of a 422 body."""
    user = user.strip()
    if user and not _USER_ID.match(user):
        raise BadQuery(422, "A customer id is 1 to 128 printable characters.")
    try:
        size = int(k.strip() or "10")
    except ValueError:
        raise BadQuery(422, f"k must be a whole number from 1 to {state.settings.max_k}.") from None
    if not 1 <= size <= state.settings.max_k:
        raise BadQuery(
            422, f"k must be a whole number from 1 to {state.settings.max_k}; got {size}."
        )
    model = model.strip()
    names = _model_names(state)
    if model and (not _MODEL_NAME.match(model) or model not in names):
        choices = ", ".join(names) or "none yet: train one with `shopsense train`"
        raise BadQuery(404, f"There is no model named “{model}”. Models: {choices}.")
    return ExplorerQuery(user, model, size)


@router.get("/explorer", response_class=HTMLResponse)
def explorer(request: Request, user: str = "", model: str = "", k: str = "10") -> Response:
    """One customer's history and recommendations, each with its explanation."""
    state = service_state(request)
    form = {"user": user, "model": model, "k": k}
    try:
        names = _model_names(state)
        default = state.default_name() if names else ""
        context = {"names": names, "default": default, "examples": top_users(request)}
    except (NotReady, StoreBusy) as e:
        return problem(request, 503, str(e))
    try:
        query = parse_query(state, user, model, k)
    except BadQuery as e:
        return _explorer_page(request, form, status=e.status, message=str(e), **context)
    if not query.user:
        return _explorer_page(request, form, **context)
    try:
        served = state.model(query.model or None)
    except (NotReady, StoreBusy) as e:
        return problem(request, 503, str(e))
    except FileNotFoundError as e:
        return _explorer_page(request, form, status=404, message=str(e), **context)
    answer = served.recommend([query.user], query.k)[0]
    recommendations = api._answer(served, query.user, answer, explain=True)
    try:
        history = user_history(state, query.user)
    except (NotReady, StoreBusy) as e:
        return problem(request, 503, str(e))
    return _explorer_page(
        request,
        form,
        **context,
        result=recommendations,
        known=served.knows(query.user),
        history=history,
    )


@dataclass(frozen=True)
class History:
    """A customer's items as stored, newest first: one row per item (its latest event)."""

    rows: list[dict[str, Any]]  # item_id, title, price, last, times
    items: int  # distinct items in all of the history
    events: int


def user_history(state: ServiceState, user: str, limit: int = HISTORY_SHOWN) -> History:
    """The customer's items from the store's event log, newest first.

    Read from the store rather than from the model: models other than the sequence ones
    keep a history as a set in item-index order, which says nothing about time, and the
    store also holds events posted since the model was trained.
    """

    def read(store: Store) -> tuple[pd.DataFrame, tuple[int, int]]:
        items = store.query(
            "SELECT item_id, max(timestamp) AS last, count(*) AS times FROM events "
            "WHERE user_id = ? GROUP BY item_id ORDER BY last DESC, item_id LIMIT ?",
            [user, limit],
        )
        totals = store.query(
            "SELECT count(DISTINCT item_id) AS items, count(*) AS events FROM events "
            "WHERE user_id = ?",
            [user],
        )
        return items, (int(totals["items"].iloc[0]), int(totals["events"].iloc[0]))

    frame, (n_items, n_events) = read_store(state, read)
    info = state.catalogue().reindex(frame["item_id"].astype(str))
    prices = pd.to_numeric(info["price"], errors="coerce").to_numpy(np.float64)
    rows = [
        {
            "item_id": str(item),
            "title": api._text(title),
            "price": api._number(price),
            "last": last,
            "times": int(times),
        }
        for item, title, price, last, times in zip(
            frame["item_id"],
            info["title"],
            prices,
            frame["last"],
            frame["times"],
            strict=True,
        )
    ]
    return History(rows, n_items, n_events)


def _explorer_page(
    request: Request,
    form: dict[str, str],
    status: int = 200,
    message: str | None = None,
    **context: Any,
) -> HTMLResponse:
    """The explorer, with the form as the user filled it in (so a mistake is easy to fix)."""
    context.setdefault("names", [])
    context.setdefault("default", "")
    context.setdefault("examples", [])
    context.setdefault("result", None)
    context.setdefault("max_k", service_state(request).settings.max_k)
    title = f"Explorer: {form['user'].strip()}" if context["result"] else "Explorer"
    return page(request, "explorer.html", title, status, form=form, message=message, **context)
