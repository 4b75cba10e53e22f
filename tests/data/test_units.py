"""Order and session units on real slices: the bundled UCI sample (orders) and the
DIGINETICA sample (sessions): features that match a hand count, guests and fees kept in,
and bad input named."""

from __future__ import annotations

import numpy as np
import pytest

from shopsense.data.sources import load_sample, load_source
from shopsense.data.units import order_units, session_units
from tests.public_data import corpus


@pytest.fixture(scope="module")
def lines():
    return load_sample().order_lines_view()


@pytest.fixture(scope="module")
def events():
    """The first 300 sessions of the DIGINETICA sample (by session start)."""
    ev = load_source("diginetica-sample", corpus("diginetica-sample")).tables["events"]
    first = ev.groupby("session_id")["timestamp"].min().sort_values().index[:300]
    return ev[ev["session_id"].isin(first)]


def test_order_features_match_a_hand_count(lines):
    units = order_units(lines)
    invoice = lines["invoice_id"].value_counts().index[0]
    mine = lines[lines["invoice_id"] == invoice]
    row = units.features.loc[invoice]
    assert row["lines_log"] == pytest.approx(np.log1p(len(mine)))
    value = (mine["quantity"].abs() * mine["unit_price"].abs()).sum()
    assert row["value_log"] == pytest.approx(np.log1p(value))
    assert row["quantity_max_log"] == pytest.approx(np.log1p(mine["quantity"].abs().max()))
    assert (units.steps["unit"] == invoice).sum() == len(mine)
    cancelled = units.features.index.str.startswith("C")
    assert (units.features.loc[cancelled, "cancelled"] == 1).all()
    assert len(units) == lines["invoice_id"].nunique()


def test_guest_lines_and_fees_stay_in(lines):
    frame = lines.copy()
    invoice = frame["invoice_id"].iloc[0]
    frame.loc[frame["invoice_id"] == invoice, "customer_id"] = None
    units = order_units(frame)
    assert units.features.loc[invoice, "guest"] == 1
    assert units.features["guest"].sum() == 1
    postage = frame.loc[frame["item_id"] == "POST", "invoice_id"].iloc[0]
    assert units.features.loc[postage, "non_product_share"] > 0


def test_session_features_match_a_hand_count(events):
    units = session_units(events)
    session = events["session_id"].value_counts().index[0]
    mine = events[events["session_id"] == session].sort_values("timestamp", kind="stable")
    row = units.features.loc[str(session)]
    assert row["events_log"] == pytest.approx(np.log1p(len(mine)))
    seconds = (mine["timestamp"].max() - mine["timestamp"].min()).total_seconds()
    assert row["duration_log"] == pytest.approx(np.log1p(seconds))
    assert row["distinct_share"] == pytest.approx(mine["item_id"].nunique() / len(mine))
    assert len(units) == events["session_id"].nunique()


def test_bad_order_lines_are_named(lines):
    with pytest.raises(ValueError, match="no rows"):
        order_units(lines.iloc[:0])
    with pytest.raises(ValueError, match=r"missing column.*unit_price"):
        order_units(lines.drop(columns="unit_price"))
    broken = lines.head(5).astype({"quantity": object})
    broken.loc[broken.index[2], "quantity"] = "many"
    with pytest.raises(ValueError, match="row 2: field 'quantity'"):
        order_units(broken)


def test_bad_events_are_named(events):
    with pytest.raises(ValueError, match="no rows"):
        session_units(events.iloc[:0])
    with pytest.raises(ValueError, match=r"missing column.*timestamp"):
        session_units(events.drop(columns="timestamp"))
    with pytest.raises(ValueError, match="no event has a session_id"):
        session_units(events.assign(session_id=None))
