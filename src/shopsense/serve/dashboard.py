"""The dashboard: server-rendered HTML pages over the same state the JSON API serves.

Three pages under `/dashboard`, sharing a nav bar:

- `/dashboard` (overview): what `shopsense data stats` reports, and weekly activity plots;
- `/dashboard/models`: the latest evaluation report as a leaderboard, and the registry;
- `/dashboard/explorer`: one customer's history and recommendations, with explanations.

Pages are Jinja2 templates with autoescaping on, one CSS file from `/static`, and no
JavaScript at all; a Content-Security-Policy header says so to the browser, so a page can
never pull in anything from another host. What is read from the store (statistics, weekly
activity, the example customers, the SVG plot) is computed once per store version (the
file's modification time and size) and kept, so page views after the first take a few
milliseconds; any write to the store makes the next view recompute.

Read-only by design: activating a model needs an API key, so the models page says which
endpoint to call instead of offering a button.
"""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from shopsense import __version__
from shopsense.data.stats import StoreStats
from shopsense.data.store import Store
from shopsense.serve import api
from shopsense.serve.state import NotReady, ServiceState, StoreBusy
from shopsense.workflows import TASK

router = APIRouter(prefix="/dashboard", include_in_schema=False)
HERE = Path(__file__).parent
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"

#: the browser may load nothing but this server's own styles and images, and run no script
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
#: how many example customers the explorer offers, and how much history it shows
EXAMPLE_USERS = 8
HISTORY_SHOWN = 50
#: leaderboard columns, in this order, where the report has them
LEADERBOARD_METRICS = (
    "ndcg@10",
    "hr@10",
    "recall@10",
    "precision@10",
    "mrr@10",
    "map@10",
    "coverage@10",
    "ndcg@20",
    "hr@20",
)
SOURCE_LABELS = {
    "model": "scored by the model",
    "fold_in": "fold-in: history newer than the model",
    "cold_start": "cold start: unknown customer, popular items",
}
_USER_ID = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")
_MODEL_NAME = re.compile(r"^[a-z0-9_\-]{1,64}$")
_STAMP = re.compile(r"(\d{8}T\d{6}Z)")

T = TypeVar("T")


# ============================================================================ templates


def _number(value: Any) -> str:
    """Thousands separators for counts; a dash for what is missing."""
    if value is None:
        return "–"
    if isinstance(value, float) and not np.isfinite(value):
        return "–"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    return f"{float(value):,.2f}"


def _decimal(value: Any, digits: int = 4) -> str:
    """Scores and metrics: fixed decimals, so columns line up."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return f"{float(value):.{digits}f}"


def _score(value: Any) -> str:
    """Model scores are small fractions, popularity scores (cold start) are counts: each
    shown the way it reads, fractions with aligned decimals."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    value = float(value)
    return f"{value:,.0f}" if value.is_integer() and abs(value) >= 1 else f"{value:.4f}"


def _price(value: Any) -> str:
    """Catalogue prices carry no currency in the store: two decimals, nothing more."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return f"{float(value):,.2f}"


def _when(value: Any) -> str:
    """Datetimes and ISO strings as `YYYY-MM-DD HH:MM` (minutes are precise enough here)."""
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    suffix = " UTC" if getattr(value, "tzinfo", None) is not None else ""
    return f"{value:%Y-%m-%d %H:%M}{suffix}"


def _day(value: Any) -> str:
    """Just the date, where the time of day would only add noise."""
    text = _when(value)
    return text[:10] if text[:4].isdigit() else text


def _environment() -> Environment:
    """Autoescaping on for every template (user ids end up in pages), and undefined names
    fail loudly in tests rather than rendering as empty strings."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        number=_number, decimal=_decimal, price=_price, when=_when, day=_day, score=_score
    )
    env.globals.update(version=__version__, source_labels=SOURCE_LABELS)
    return env


templates = Jinja2Templates(env=_environment())


def mount_static(app: FastAPI) -> None:
    """The stylesheet (and anything else static) under `/static`."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")


def _page(
    request: Request, template: str, title: str, status: int = 200, **context: Any
) -> HTMLResponse:
    """A page in the shared layout, with the headers every dashboard page carries."""
    nav = request.url.path.rstrip("/").rsplit("/", 1)[-1]
    response = templates.TemplateResponse(
        request,
        template,
        {"title": title, "nav": nav, "root": request.scope.get("root_path", ""), **context},
        status_code=status,
    )
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def _problem(
    request: Request, status: int, message: str, title: str = "Unavailable"
) -> HTMLResponse:
    """A friendly error page: what went wrong and what to do, never a traceback."""
    return _page(request, "error.html", title, status, message=message)


def _state(request: Request) -> ServiceState:
    return request.app.state.service


# ============================================================================ store views


def _store_version(path: Path) -> tuple[int, ...] | None:
    """Modification time and size of the store (and its write-ahead log): any write to the
    store changes them, reading never does."""
    out: list[int] = []
    for file in (path, path.with_name(path.name + ".wal")):
        try:
            st = file.stat()
        except FileNotFoundError:
            out += [0, 0]
            continue
        out += [st.st_mtime_ns, st.st_size]
    return tuple(out) if out[0] else None


class StoreViews:
    """What pages read from the store, computed at most once per store version.

    One per app (in `app.state`), so apps over different stores never share entries.
    Computing holds a lock: concurrent first views wait for one computation instead of
    each running the same queries.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: tuple[int, ...] | None = None
        self._values: dict[str, Any] = {}

    def get(self, state: ServiceState, key: str, compute: Callable[[], T]) -> tuple[T, str]:
        """The cached value of `key` and a tag of the store version it was computed from."""
        version = _store_version(Path(state.settings.store_path))
        with self._lock:
            if version != self._version:
                self._version, self._values = version, {}
            if key not in self._values:
                self._values[key] = compute()
            tag = format(hash(version) & 0xFFFFFFFFFFFF, "x")
            return self._values[key], tag


def _views(request: Request) -> StoreViews:
    views = getattr(request.app.state, "dashboard_views", None)
    if views is None:
        views = request.app.state.dashboard_views = StoreViews()
    return views


def _read_store(state: ServiceState, read: Callable[[Store], T]) -> T:
    """Run `read(store)` on a store connection, sharing the service's store lock."""
    return state.read_store(read)


def _weekly_activity(store: Store) -> pd.DataFrame:
    """Events, distinct active customers and net revenue (order lines, cancellations
    included as negative amounts) per calendar week."""
    events = store.query(
        "SELECT date_trunc('week', timestamp) AS week, count(*) AS events, "
        "count(DISTINCT user_id) AS customers FROM events GROUP BY 1"
    )
    revenue = store.query(
        "SELECT date_trunc('week', time) AS week, sum(quantity * unit_price) AS revenue "
        "FROM order_lines GROUP BY 1"
    )
    frame = events.merge(revenue, on="week", how="outer").sort_values("week")
    return frame.reset_index(drop=True)


def _top_users(store: Store) -> list[tuple[str, int]]:
    """Customers with the most events: good first examples in the explorer."""
    frame = store.query(
        "SELECT user_id, count(*) AS n FROM events GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?",
        [EXAMPLE_USERS],
    )
    return [(str(u), int(n)) for u, n in zip(frame["user_id"], frame["n"], strict=True)]


def store_stats(request: Request) -> tuple[StoreStats, str]:
    """The `data stats` figures, cached per store version (they take ~0.1 s per 100k rows)."""
    state = _state(request)
    return _views(request).get(state, "stats", lambda: _read_store(state, lambda s: s.stats()))


def quality_reports(request: Request) -> list[Any]:
    """The data-quality report of each table's latest ingest, cached per store version."""
    state = _state(request)
    return _views(request).get(
        state, "quality", lambda: _read_store(state, lambda s: s.quality_reports())
    )[0]


def activity_plot_svg(request: Request) -> tuple[bytes, str]:
    """The activity plot of the current store version, read and drawn in one step (so the
    picture and its version tag always agree)."""
    state = _state(request)
    return _views(request).get(
        state, "activity.svg", lambda: activity_svg(_read_store(state, _weekly_activity))
    )


def top_users(request: Request) -> list[tuple[str, int]]:
    state = _state(request)
    return _views(request).get(state, "top_users", lambda: _read_store(state, _top_users))[0]


# ============================================================================ plots

_INK, _GRID, _BLUE, _TEAL, _AMBER = "#1f2933", "#e4e7eb", "#2f6fde", "#0f9d8a", "#d9822b"


def activity_svg(weekly: pd.DataFrame) -> bytes:
    """Weekly events, active customers and revenue as one SVG (three stacked panels).

    Drawn on a bare `Figure` (no pyplot): no global backend or figure registry is touched,
    so rendering is safe beside other threads and never opens a window.
    """
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    panels = [("events", "events per week", _BLUE, "bar"),
              ("customers", "active customers per week", _TEAL, "line")]  # fmt: skip
    if "revenue" in weekly and weekly["revenue"].notna().any():
        panels.append(("revenue", "revenue per week (order lines, net)", _AMBER, "bar"))
    fig = Figure(figsize=(10, 1.75 * len(panels) + 0.3), layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    weeks = pd.to_datetime(weekly["week"]).to_numpy() if len(weekly) else np.array([])
    thousands = FuncFormatter(lambda v, _: f"{v:,.0f}")
    for ax, (column, label, colour, kind) in zip(axes, panels, strict=True):
        values = weekly[column].fillna(0).to_numpy(np.float64) if len(weekly) else []
        if kind == "bar":
            ax.bar(weeks, values, width=5.5, color=colour, linewidth=0)
        else:
            ax.plot(weeks, values, color=colour, linewidth=2, marker="o", markersize=3)
        ax.set_title(label, loc="left", fontsize=10, color=_INK)
        ax.yaxis.set_major_formatter(thousands)
        ax.grid(axis="y", color=_GRID, linewidth=0.8)
        ax.set_axisbelow(True)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        ax.spines["bottom"].set_color("#9aa5b1")
        ax.tick_params(colors=_INK, labelsize=8, length=0)
    if not len(weekly):
        axes[0].text(0.5, 0.5, "no events yet", transform=axes[0].transAxes, ha="center")
    else:
        locator = AutoDateLocator()
        axes[-1].xaxis.set_major_locator(locator)
        axes[-1].xaxis.set_major_formatter(ConciseDateFormatter(locator))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None}, facecolor="white")
    return buffer.getvalue()


# ============================================================================ reports


@dataclass(frozen=True)
class Leaderboard:
    """The latest evaluation report, arranged for the models page."""

    path: Path
    created: datetime
    protocol: str
    split: dict[str, Any]
    metrics: list[str]
    stages: dict[str, list[dict[str, Any]]]  # stage -> rows, best ndcg@10 first
    best: dict[str, dict[str, float]]  # stage -> metric -> best value (to highlight)
    reports: int  # how many reports the folder holds


def _report_time(path: Path) -> datetime:
    """When a report was written: the UTC stamp in its name, else the file's mtime."""
    found = _STAMP.search(path.name)
    if found:
        return datetime.strptime(found.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def latest_leaderboard(reports_dir: Path) -> Leaderboard | None:
    """The newest `evaluate-*.json` as a leaderboard (None when there is none).

    Newest by the time stamp in the name, not by name: names start with the protocol, so
    sorting names would prefer one protocol over another.
    """
    paths = list(Path(reports_dir).glob("evaluate-*.json")) if Path(reports_dir).is_dir() else []
    if not paths:
        return None
    path = max(paths, key=_report_time)
    payload = json.loads(path.read_text())
    rows = payload.get("reports", [])
    present = {m for r in rows for m in r.get("metrics", {})}
    metrics = [m for m in LEADERBOARD_METRICS if m in present]
    key = "ndcg@10" if "ndcg@10" in present else (metrics[0] if metrics else None)
    stages: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        stages.setdefault(str(row.get("stage", "?")), []).append(row)
    for stage_rows in stages.values():
        stage_rows.sort(key=lambda r: -_metric(r, key))
    ordered = {s: stages[s] for s in sorted(stages, key=lambda s: (s != "test", s))}
    best = {
        stage: {m: max(_metric(r, m) for r in stage_rows) for m in metrics}
        for stage, stage_rows in ordered.items()
    }
    return Leaderboard(
        path=path,
        created=_report_time(path),
        protocol=str(payload.get("protocol", "?")),
        split=payload.get("split", {}),
        metrics=metrics,
        stages=ordered,
        best=best,
        reports=len(paths),
    )


def _metric(row: dict[str, Any], name: str | None) -> float:
    value = row.get("metrics", {}).get(name) if name else None
    return float(value) if isinstance(value, int | float) else float("-inf")


# ============================================================================ pages


@router.get("", response_class=HTMLResponse)
def overview(request: Request) -> Response:
    """Store statistics and weekly activity."""
    try:
        stats, tag = store_stats(request)
        quality = quality_reports(request)
    except (NotReady, StoreBusy) as e:
        return _problem(request, 503, str(e))
    return _page(
        request, "overview.html", "Overview", stats=stats, plot_tag=tag, quality=quality
    )


@router.get("/plots/activity.svg")
def activity_plot(request: Request) -> Response:
    """The activity plot, drawn once per store version; browsers revalidate by ETag."""
    try:
        svg, tag = activity_plot_svg(request)
    except (NotReady, StoreBusy) as e:
        return Response(str(e), status_code=503, media_type="text/plain")
    etag = f'"{tag}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(svg, media_type="image/svg+xml", headers=headers)


@router.get("/models", response_class=HTMLResponse)
def models(request: Request) -> Response:
    """The latest evaluation report and every registry version."""
    state = _state(request)
    problem = None
    try:
        board = latest_leaderboard(state.settings.reports_dir)
    except (OSError, ValueError, TypeError, AttributeError) as e:  # not a report: say so, go on
        board, problem = None, f"The latest evaluation report could not be read: {e}"
    try:
        versions = api._versions(state)
    except (OSError, ValueError) as e:  # e.g. active.json names a deleted version
        return _problem(request, 500, f"The model registry could not be read: {e}")
    return _page(
        request,
        "models.html",
        "Models",
        board=board,
        problem=problem,
        versions=versions,
        base_url=str(request.base_url).rstrip("/"),
        example=next((v for v in versions if not v.active), versions[0] if versions else None),
    )


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
    state = _state(request)
    form = {"user": user, "model": model, "k": k}
    try:
        names = _model_names(state)
        default = state.default_name() if names else ""
        context = {"names": names, "default": default, "examples": top_users(request)}
    except (NotReady, StoreBusy) as e:
        return _problem(request, 503, str(e))
    try:
        query = parse_query(state, user, model, k)
    except BadQuery as e:
        return _explorer_page(request, form, status=e.status, message=str(e), **context)
    if not query.user:
        return _explorer_page(request, form, **context)
    try:
        served = state.model(query.model or None)
    except (NotReady, StoreBusy) as e:
        return _problem(request, 503, str(e))
    except FileNotFoundError as e:
        return _explorer_page(request, form, status=404, message=str(e), **context)
    answer = served.recommend([query.user], query.k)[0]
    recommendations = api._answer(served, query.user, answer, explain=True)
    try:
        history = user_history(state, query.user)
    except (NotReady, StoreBusy) as e:
        return _problem(request, 503, str(e))
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

    frame, (n_items, n_events) = _read_store(state, read)
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
    context.setdefault("max_k", _state(request).settings.max_k)
    title = f"Explorer: {form['user'].strip()}" if context["result"] else "Explorer"
    return _page(request, "explorer.html", title, status, form=form, message=message, **context)
