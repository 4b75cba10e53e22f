"""`data stats`: figures computed in DuckDB, checked against pandas on the same rows."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from shopsense.data.schema import ORDER_LINES, TABLES
from shopsense.data.stats import StoreStats
from shopsense.data.store import Store
from tests.public_data import corpus

Write = Callable[[str, str | bytes], Path]


def rendered(stats: StoreStats) -> str:
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(stats.render())
    return console.export_text()


def test_empty_store_gives_zeros_and_none(store: Store) -> None:
    stats = store.stats()
    assert {name: t.rows for name, t in stats.tables.items()} == dict.fromkeys(TABLES, 0)
    assert stats.tables["events"].duplicates == 0
    assert stats.tables["items"].nulls == dict.fromkeys(TABLES["items"].column_names, 0)
    assert (stats.events.users, stats.events.items, stats.events.density) == (0, 0, None)
    assert (stats.events.first, stats.events.last) == (None, None)
    assert stats.events.by_type == {"view": 0, "cart": 0, "purchase": 0, "rating": 0}
    assert (stats.order_lines.invoices, stats.order_lines.cancellation_lines) == (0, 0)
    assert json.loads(json.dumps(stats.to_dict()))["events"]["density"] is None
    assert "order_lines" in rendered(stats)


def test_event_figures(store: Store, write: Write) -> None:
    store.ingest(
        "events",
        write(
            "events.csv",
            "user_id,item_id,event_type,value,timestamp,session_id\n"
            "u1,i1,view,,2016-01-03 10:00:00,s1\n"
            "u1,i1,view,,2016-01-03 10:00:00,s1\n"  # exact duplicate
            "u1,i2,purchase,2,2016-01-03 10:05:00,\n"
            "u2,i1,cart,,2016-01-04 09:00:00,\n"
            "u3,i3,rating,4,2016-01-05 12:00:00,\n",
        ),
    )
    stats = store.stats()
    events = stats.events
    assert (events.users, events.items, events.pairs) == (3, 3, 4)
    assert events.density == pytest.approx(4 / 9)
    assert events.by_type == {"view": 2, "cart": 1, "purchase": 1, "rating": 1}
    assert events.first == pd.Timestamp("2016-01-03 10:00:00")
    assert events.last == pd.Timestamp("2016-01-05 12:00:00")
    table = stats.tables["events"]
    assert (table.rows, table.duplicates) == (5, 1)
    assert table.nulls["value"] == 3 and table.nulls["session_id"] == 3
    assert table.nulls["user_id"] == 0
    as_dict = stats.to_dict()
    assert as_dict["events"]["first"] == "2016-01-03T10:00:00"
    assert as_dict["tables"]["events"]["nulls"]["value"] == 3
    text = rendered(stats)
    assert "0.444444" in text and "2016-01-03 10:00 .. 2016-01-05 12:00" in text


def test_uci_sample_figures_match_pandas(store: Store) -> None:
    """The first 2,000 lines of UCI Online Retail, loaded through write_frame."""
    source = corpus("uci-online-retail") / "uci-online-retail" / "online_retail.csv.gz"
    raw = pd.read_csv(source, nrows=1999, dtype=str, keep_default_na=False)
    frame = raw.rename(
        columns={
            "InvoiceNo": "invoice_id",
            "StockCode": "item_id",
            "Quantity": "quantity",
            "UnitPrice": "unit_price",
            "InvoiceDate": "time",
            "CustomerID": "customer_id",
            "Country": "country",
        }
    ).reindex(columns=list(ORDER_LINES.column_names))
    report = store.write_frame("order_lines", frame, source="uci-online-retail")
    assert (report.rows_read, report.rows_inserted, report.rows_rejected) == (1999, 1999, 0)

    stats = store.stats()
    lines, table = stats.order_lines, stats.tables["order_lines"]
    customers = frame["customer_id"].replace("", None)
    quantity = frame["quantity"].astype(int)
    times = pd.to_datetime(frame["time"])
    assert table.rows == len(frame)
    assert lines.invoices == frame["invoice_id"].nunique()
    assert lines.customers == customers.nunique()
    assert lines.items == frame["item_id"].nunique()
    assert (lines.first, lines.last) == (times.min(), times.max())
    cancelled = quantity < 0  # no line types in this frame: a negative line takes back
    assert lines.cancellation_lines == int(cancelled.sum()) > 0
    assert table.duplicates == int(frame.duplicated().sum()) > 0
    assert table.nulls["customer_id"] == int(customers.isna().sum()) > 0
    stated = ("invoice_id", "item_id", "quantity", "unit_price", "time", "customer_id", "country")
    assert sum(table.nulls[c] for c in stated) == table.nulls["customer_id"]
    # and a second load of the same frame adds nothing
    again = store.write_frame("order_lines", frame, source="uci-online-retail")
    assert (again.rows_inserted, again.rows_skipped_existing) == (0, 1999)
    assert store.stats().tables["order_lines"].rows == 1999
