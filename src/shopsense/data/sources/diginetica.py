"""DIGINETICA (CIKM Cup 2016) item-view sample: 12,391 views in 2,986 sessions.

File: `<root>/diginetica-sample/sample_train-item-views.csv`, ';'-separated with header
`session_id;user_id;item_id;timeframe;eventdate` (user_id mostly `NA`, timeframe = ms since
the session start, eventdate = YYYY-MM-DD). Research use only: never ship this file.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from shopsense.data.schema import EventType
from shopsense.data.sources import SourceData, conform, require_files, resolve_root

DATASET = "diginetica-sample"
FILE = "sample_train-item-views.csv"


def load_diginetica(root: Path | str | None = None) -> SourceData:
    """Map the item views into events (views), items (ids only) and users (ids only)."""
    folder = resolve_root(root) / DATASET
    (path,) = require_files(folder, [FILE], DATASET)
    raw = pd.read_csv(
        path,
        sep=";",
        dtype={"session_id": str, "user_id": str, "item_id": str, "eventdate": str},
        keep_default_na=False,
        na_values={"user_id": ["NA", ""]},
    )
    anonymous = raw["user_id"].isna()
    user_id = raw["user_id"].where(~anonymous, "s" + raw["session_id"])
    timestamp = pd.to_datetime(raw["eventdate"], format="%Y-%m-%d") + pd.to_timedelta(
        raw["timeframe"].astype("int64"), unit="ms"
    )
    events = conform(
        "events",
        pd.DataFrame(
            {
                "user_id": user_id,
                "item_id": raw["item_id"],
                "event_type": EventType.VIEW.value,
                "value": None,
                "timestamp": timestamp,
                "session_id": raw["session_id"],
            }
        ),
    )
    items = conform("items", pd.DataFrame({"item_id": raw["item_id"].unique()}))
    users = conform("users", pd.DataFrame({"user_id": user_id.unique()}))

    by_session = raw.groupby("session_id")
    n_users = by_session["user_id"].nunique()
    mixed = by_session["user_id"].agg(lambda s: s.isna().any() and s.notna().any())
    days = by_session["eventdate"].nunique()
    notes = (
        f"events: {len(events):,} views (value None) in {raw['session_id'].nunique():,} "
        f"sessions on {len(items):,} items; timestamp = eventdate + timeframe milliseconds",
        f"{int(anonymous.sum()):,} of {len(raw):,} views are anonymous (user_id NA): their "
        "user_id is 's' + session_id, so each anonymous session is its own pseudo-user",
        f"left as is: {int((n_users > 1).sum())} session(s) carry two different user ids and "
        f"{int(mixed.sum())} mix anonymous and identified views (those views get different "
        f"user ids); {int((days > 1).sum())} session(s) span two event dates",
        "items and users: ids only",
    )
    return SourceData(
        name=DATASET,
        tables={"events": events, "items": items, "users": users},
        notes=notes,
    )
