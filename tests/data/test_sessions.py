"""The session view: events with a session id, typed and ordered, bad rows named."""

from __future__ import annotations

import pandas as pd
import pytest

from shopsense.data.sessions import EVENT_COLUMNS, session_events


def _events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "session_id": ["s2", "s1", None, "s1", "s2"],
            "item_id": [10, 11, 12, 13, 14],
            "timestamp": [
                "2024-01-01 10:05",
                "2024-01-01 09:00",
                "2024-01-01 08:00",
                "2024-01-01 08:59",
                "2024-01-01 10:00",
            ],
            "user_id": ["a", "b", "c", "b", "a"],
        }
    )


def test_sessions_in_order_without_sessionless_events():
    ev = session_events(_events())
    assert list(ev.columns) == list(EVENT_COLUMNS)
    assert list(ev["session_id"]) == ["s1", "s1", "s2", "s2"]
    assert list(ev["item_id"]) == ["13", "11", "14", "10"]
    assert ev.groupby("session_id")["timestamp"].apply(lambda t: t.is_monotonic_increasing).all()


def test_bad_events_are_named():
    with pytest.raises(ValueError, match=r"clicks.csv: missing column.*timestamp"):
        session_events(_events().drop(columns="timestamp"), "clicks.csv")
    broken = _events()
    broken.loc[3, "timestamp"] = "yesterday-ish"
    with pytest.raises(ValueError, match=r"clicks.csv row 3: field 'timestamp'"):
        session_events(broken, "clicks.csv")
    with pytest.raises(ValueError, match="no event has a session_id"):
        session_events(_events().assign(session_id=None))
