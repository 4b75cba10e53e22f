"""Input checks: raw order lines and view events, typed, with errors that name the source,
the column and the row."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shopsense.behavior.customers import LINE_COLUMNS
from shopsense.data.orders import order_line_view

EVENT_COLUMNS = ("session_id", "item_id", "timestamp")
VIEW_COLUMNS = ("line_type", "kind", "is_product", "is_sale", "takes_back", "country")
"""What the order-line view says about each line (its type, its item's kind and the flags
derived from them), carried over when a caller passes the view."""


def _order_lines(frame: pd.DataFrame, source: str = "order_lines") -> pd.DataFrame:
    """Typed raw lines; errors name `source`, the column, and the row."""
    missing = [c for c in LINE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {missing}; need {list(LINE_COLUMNS)}")
    if frame.empty:
        raise ValueError(f"{source} has no rows: no orders to score")
    lines = frame.loc[:, list(LINE_COLUMNS)].copy()
    frame = frame.reset_index(drop=True)
    lines = lines.reset_index(drop=True)
    lines["time"] = pd.to_datetime(lines["time"], errors="coerce")
    for name in ("quantity", "unit_price"):
        lines[name] = pd.to_numeric(lines[name], errors="coerce").astype(float)
    for name in ("invoice_id", "time", "quantity", "unit_price"):
        bad = lines[name].isna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(
                f"{source} row {row}: field {name!r} is missing or unreadable "
                f"({frame[name].iloc[row]!r})"
            )
    lines["invoice_id"] = lines["invoice_id"].astype(str)
    lines["item_id"] = lines["item_id"].astype("string").fillna("").astype(str)
    guest = lines["customer_id"].isna() | (lines["customer_id"].astype(str) == "")
    lines["customer_id"] = lines["customer_id"].astype(object).where(~guest, None)
    for name in VIEW_COLUMNS:  # what the order-line view says each line is, if known
        if name in frame.columns:
            lines[name] = frame[name].to_numpy()
    return order_line_view(lines.reset_index(drop=True), source=source)


def _session_events(frame: pd.DataFrame, source: str = "events") -> pd.DataFrame:
    """Typed events with a session id, sorted by session then time (stable)."""
    missing = [c for c in EVENT_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {missing}; need {list(EVENT_COLUMNS)}")
    if frame.empty:
        raise ValueError(f"{source} has no rows: no sessions to score")
    ev = frame.loc[frame["session_id"].notna(), list(EVENT_COLUMNS)].copy()
    if ev.empty:
        raise ValueError(f"{source}: no event has a session_id, so there are no sessions")
    ev["timestamp"] = pd.to_datetime(ev["timestamp"], errors="coerce")
    if ev["timestamp"].isna().any():
        row = int(np.flatnonzero(ev["timestamp"].isna().to_numpy())[0])
        raise ValueError(f"{source} row {row}: field 'timestamp' is missing or unreadable")
    ev["session_id"] = ev["session_id"].astype(str)
    ev["item_id"] = ev["item_id"].astype(str)
    return ev.sort_values(["session_id", "timestamp"], kind="stable").reset_index(drop=True)
