"""The session view: browsing events that belong to a session, typed and in order.

Anomaly scoring and its injections read sessions of view events; they take this view and
never type the raw events themselves.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

EVENT_COLUMNS = ("session_id", "item_id", "timestamp")
"""The columns every session-event frame must have."""


def session_events(frame: pd.DataFrame, source: str = "events") -> pd.DataFrame:
    """Events with a session id (`EVENT_COLUMNS` only), typed, sorted by session then time
    (stable). Rows without a session id are left out.

    Raises ValueError naming `source`, the column and the row for a missing column, no rows,
    no session ids or an unreadable timestamp.
    """
    missing = [c for c in EVENT_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {missing}; need {list(EVENT_COLUMNS)}")
    if frame.empty:
        raise ValueError(f"{source} has no rows: no sessions to score")
    frame = frame.reset_index(drop=True)  # rows are named by position in `frame`
    ev = frame.loc[frame["session_id"].notna(), list(EVENT_COLUMNS)].copy()
    if ev.empty:
        raise ValueError(f"{source}: no event has a session_id, so there are no sessions")
    ev["timestamp"] = pd.to_datetime(ev["timestamp"], errors="coerce")
    if ev["timestamp"].isna().any():
        row = int(ev.index[np.flatnonzero(ev["timestamp"].isna().to_numpy())[0]])
        raise ValueError(f"{source} row {row}: field 'timestamp' is missing or unreadable")
    ev["session_id"] = ev["session_id"].astype(str)
    ev["item_id"] = ev["item_id"].astype(str)
    return ev.sort_values(["session_id", "timestamp"], kind="stable").reset_index(drop=True)


__all__ = ["EVENT_COLUMNS", "session_events"]
