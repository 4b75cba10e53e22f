"""What pages read from the store, computed once per store version and kept.

The store version is the file's (and its write-ahead log's) modification time and size:
any write changes it, reading never does. Page views after the first therefore take a few
milliseconds, and any write to the store makes the next view recompute.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
from fastapi import Request

from shopsense.data.stats import StoreStats
from shopsense.data.store import Store
from shopsense.serve.dashboard import plots
from shopsense.serve.dashboard.render import service_state
from shopsense.serve.state import ServiceState

#: how many example customers the explorer offers
EXAMPLE_USERS = 8

T = TypeVar("T")


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


def read_store(state: ServiceState, read: Callable[[Store], T]) -> T:
    """Run `read(store)` on a store connection, sharing the service's store lock."""
    return state.read_store(read)


def weekly_activity(store: Store) -> pd.DataFrame:
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
    return _views(request).get(
        state,
        "activity.svg",
        lambda: plots.activity_svg(read_store(state, weekly_activity)),
    )


def top_users(request: Request) -> list[tuple[str, int]]:
    """The explorer's example customers, cached per store version."""
    state = service_state(request)
    return _views(request).get(state, "top_users", lambda: read_store(state, _top_users))[0]
