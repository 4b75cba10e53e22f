"""What pages read from the store, computed once per version of the tables they read.

Each view names the tables it reads and is kept until one of them changes
(`ServiceState.data_versions`): an event write makes the views of events recompute and
leaves the others as they are. While events keep arriving, a view is recomputed at most
every `dashboard_refresh_s` seconds, in the background, page views reading the value
kept meanwhile. Page views after the first take a few milliseconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from fastapi import Request

from shopsense.data.schema import TABLES
from shopsense.data.stats import StoreStats
from shopsense.data.store import Store
from shopsense.serve.dashboard import plots
from shopsense.serve.dashboard.render import service_state
from shopsense.serve.state import ServiceState

log = logging.getLogger("shopsense.serve")

#: how many example customers the explorer offers
EXAMPLE_USERS = 8

T = TypeVar("T")


#: a share of the events and order lines the activity chart may leave out at each end:
#: a few events dated far from the rest (1677, 2262) must not squeeze the chart to nothing
ACTIVITY_TAIL = 0.005


@dataclass(frozen=True)
class _Kept:
    version: tuple[int, ...]
    value: Any
    at: float  # time.monotonic() when computed


class StoreViews:
    """What pages read from the store, each computed at most once per version of the
    tables it reads, and while the data keeps changing at most every `refresh_s` seconds.

    One per app (in `app.state`), so apps over different stores never share entries.
    A first view waits for one computation (concurrent first views share it). With
    `refresh_s` > 0 a view never waits once a value exists: after a change it gets the
    kept value, and when that is older than `refresh_s` a background thread recomputes
    it, so a stream of event writes can neither make every page view recompute the
    overview nor make one view in every few seconds wait for it. With `refresh_s` = 0
    the view after a change waits for the new value (always current).
    """

    def __init__(self, refresh_s: float = 0.0) -> None:
        self.refresh_s = refresh_s
        self._guard = threading.Lock()
        self._values: dict[str, _Kept] = {}
        self._computing: dict[str, threading.Lock] = {}

    def get(
        self,
        state: ServiceState,
        key: str,
        compute: Callable[[], T],
        tables: Sequence[str] = tuple(TABLES),
    ) -> tuple[T, str]:
        """The value of `key` and a tag of the data versions it was computed from."""
        version = state.data_versions(*tables)
        with self._guard:
            kept = self._values.get(key)
            computing = self._computing.setdefault(key, threading.Lock())
        if kept is not None and kept.version == version:
            return kept.value, _tag(key, kept.version)
        if kept is not None and self.refresh_s > 0:
            old = time.monotonic() - kept.at >= self.refresh_s
            if old and computing.acquire(blocking=False):
                threading.Thread(
                    target=self._refresh,
                    args=(key, version, compute, computing),
                    name=f"shopsense-refresh-{key}",
                    daemon=True,
                ).start()
            return kept.value, _tag(key, kept.version)
        with computing:
            with self._guard:
                kept = self._values.get(key)
            if kept is None or kept.version != version:
                kept = self._store(key, version, compute())
            return kept.value, _tag(key, kept.version)

    def _refresh(
        self,
        key: str,
        version: tuple[int, ...],
        compute: Callable[[], Any],
        computing: threading.Lock,
    ) -> None:
        """Recompute `key` in the background (holding `computing`, taken by the caller)."""
        try:
            self._store(key, version, compute())
        except Exception:  # the kept value goes on answering; the next view tries again
            log.exception("could not refresh the dashboard's %s", key)
        finally:
            computing.release()

    def _store(self, key: str, version: tuple[int, ...], value: Any) -> _Kept:
        kept = _Kept(version, value, time.monotonic())
        with self._guard:
            self._values[key] = kept
        return kept


def _tag(key: str, version: tuple[int, ...]) -> str:
    return format(hash((key, version)) & 0xFFFFFFFFFFFF, "x")


def _views(request: Request) -> StoreViews:
    views = getattr(request.app.state, "dashboard_views", None)
    if views is None:
        refresh_s = service_state(request).settings.dashboard_refresh_s
        views = request.app.state.dashboard_views = StoreViews(refresh_s)
    return views


def read_store(state: ServiceState, read: Callable[[Store], T]) -> T:
    """Run `read(store)` on a store connection, sharing the service's store lock."""
    return state.read_store(read)


def weekly_activity(store: Store, zone: str = "UTC") -> pd.DataFrame:
    """Events, distinct active customers and net revenue (order lines, cancellations
    included as negative amounts) per calendar week of the shop's time `zone` (the store
    keeps UTC), over the weeks that hold all but the outermost ACTIVITY_TAIL of the rows
    at each end."""
    events = store.query(
        f"SELECT date_trunc('week', {_local('timestamp', zone)}) AS week, count(*) AS events, "
        "count(DISTINCT user_id) AS customers FROM events GROUP BY 1"
    )
    revenue = store.query(
        f"SELECT date_trunc('week', {_local('time', zone)}) AS week, count(*) AS lines, "
        "sum(quantity * unit_price) AS revenue FROM order_lines GROUP BY 1"
    )
    frame = events.merge(revenue, on="week", how="outer").sort_values("week")
    return _clip_tails(frame.reset_index(drop=True)).drop(columns="lines")


def _local(column: str, zone: str) -> str:
    """SQL for a naive-UTC column as the naive wall time of `zone`."""
    if zone == "UTC":
        return column
    quoted = zone.replace("'", "''")
    return f"(({column} AT TIME ZONE 'UTC') AT TIME ZONE '{quoted}')"


def _clip_tails(weekly: pd.DataFrame, tail: float = ACTIVITY_TAIL) -> pd.DataFrame:
    """The weeks between the `tail` and 1 - `tail` quantiles of the rows (events and order
    lines) by time: robust to a few stray dates, where min and max are not."""
    if weekly.empty:
        return weekly
    rows = weekly["events"].fillna(0).to_numpy(float) + weekly["lines"].fillna(0).to_numpy(float)
    share = rows.cumsum() / max(rows.sum(), 1.0)
    first = int(np.searchsorted(share, tail, side="right"))
    last = int(np.searchsorted(share, 1.0 - tail, side="left"))
    last = min(max(last, first), len(weekly) - 1)
    return weekly.iloc[first : last + 1].reset_index(drop=True)


def _top_users(store: Store) -> list[tuple[str, int]]:
    """Customers with the most events: good first examples in the explorer."""
    frame = store.query(
        "SELECT user_id, count(*) AS n FROM events GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?",
        [EXAMPLE_USERS],
    )
    return [(str(u), int(n)) for u, n in zip(frame["user_id"], frame["n"], strict=True)]


def store_stats(request: Request) -> tuple[StoreStats, str]:
    """The `data stats` figures, cached per store version (they take ~0.1 s per 100k rows)."""
    state = service_state(request)
    return _views(request).get(state, "stats", lambda: read_store(state, lambda s: s.stats()))


def quality_reports(request: Request) -> list[Any]:
    """The data-quality report of each table's latest ingest, cached per store version."""
    state = service_state(request)
    return _views(request).get(
        state, "quality", lambda: read_store(state, lambda s: s.quality_reports())
    )[0]


def activity_plot_svg(request: Request) -> tuple[bytes, str]:
    """The activity plot of the current store version, read and drawn in one step (so the
    picture and its version tag always agree)."""
    state = service_state(request)
    zone = state.settings.shop_timezone
    return _views(request).get(
        state,
        "activity.svg",
        lambda: plots.activity_svg(read_store(state, lambda s: weekly_activity(s, zone))),
        ("events", "order_lines"),
    )


def top_users(request: Request) -> list[tuple[str, int]]:
    """The explorer's example customers, cached per store version."""
    state = service_state(request)
    views = _views(request)
    return views.get(state, "top_users", lambda: read_store(state, _top_users), ("events",))[0]


@dataclass(frozen=True)
class ActivitySpan:
    """The time range the activity chart shows: its first and last row (naive UTC, as the
    store keeps them) and how many rows (events and order lines) lie outside it."""

    first: pd.Timestamp | None
    last: pd.Timestamp | None
    outside: int


def activity_span(store: Store, zone: str = "UTC") -> ActivitySpan:
    """The rows within the weeks `weekly_activity` keeps (the same clipping of stray dates),
    so the overview's time range and its chart agree."""
    weeks = weekly_activity(store, zone)["week"].dropna()
    if weeks.empty:
        return ActivitySpan(None, None, 0)
    bounds = [weeks.min().to_pydatetime(), (weeks.max() + pd.Timedelta(days=7)).to_pydatetime()]
    inside = "local >= ? AND local < ?"
    row = store.query(
        f"WITH rows AS (SELECT timestamp AS t, {_local('timestamp', zone)} AS local FROM events "
        f"UNION ALL SELECT time, {_local('time', zone)} FROM order_lines) "
        f"SELECT min(t) FILTER (WHERE {inside}) AS first, max(t) FILTER (WHERE {inside}) AS last, "
        f"count(t) FILTER (WHERE NOT ({inside})) AS outside FROM rows",
        bounds * 3,
    ).iloc[0]
    first, last = (None if pd.isna(row[c]) else pd.Timestamp(row[c]) for c in ("first", "last"))
    return ActivitySpan(first, last, int(row["outside"]))


def activity_range(request: Request) -> ActivitySpan:
    """The overview's time range (`activity_span`), cached per version of its tables."""
    state = service_state(request)
    zone = state.settings.shop_timezone
    return _views(request).get(
        state,
        "activity.span",
        lambda: read_store(state, lambda s: activity_span(s, zone)),
        ("events", "order_lines"),
    )[0]
