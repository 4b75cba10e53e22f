"""Fixtures for the store tests: a fresh store per test, pre-loaded with a few good rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from shopsense.data.schema import TABLES
from shopsense.data.store import Store

GOOD_ORDER_LINES = (
    "invoice_id,item_id,quantity,unit_price,time,customer_id,country\n"
    "536365,85123A,6,2.55,2010-12-01 08:26:00,17850,United Kingdom\n"
    "536365,71053,6,3.39,2010-12-01 08:26:00,17850,United Kingdom\n"
    "536366,22633,6,1.85,2010-12-01 08:28:00,,United Kingdom\n"
)
GOOD_EVENTS = (
    "user_id,item_id,event_type,value,timestamp,session_id\n"
    "u1,i1,view,,2016-01-03 10:00:00,s1\n"
    "u1,i2,purchase,2,2016-01-03 10:05:00,s1\n"
)
GOOD_ITEMS = "item_id,title,price\ni1,Mug,4.5\ni2,Lamp,19.99\n"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "store.duckdb") as s:
        yield s


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str | bytes], Path]:
    """Write a file under tmp_path (text as UTF-8) and return its path."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        return path

    return _write


@pytest.fixture
def loaded(store: Store, write: Callable[[str, str | bytes], Path]) -> Store:
    """The store with a few good rows in order_lines, events and items."""
    store.ingest("order_lines", write("good_lines.csv", GOOD_ORDER_LINES))
    store.ingest("events", write("good_events.csv", GOOD_EVENTS))
    store.ingest("items", write("good_items.csv", GOOD_ITEMS))
    return store


def snapshot(store: Store) -> dict[str, pd.DataFrame]:
    """Every table's full content in a stable order, to compare before and after."""
    out = {}
    for name, spec in TABLES.items():
        frame = store.read(name)
        out[name] = frame.sort_values(list(spec.column_names), ignore_index=True)
    return out


def assert_same(before: dict[str, pd.DataFrame], after: dict[str, pd.DataFrame]) -> None:
    assert before.keys() == after.keys()
    for name in before:
        pd.testing.assert_frame_equal(before[name], after[name], obj=name)
