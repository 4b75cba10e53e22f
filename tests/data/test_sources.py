"""The loaders of the public data sets, checked against the real files under
SHOPSENSE_DATA_ROOT (skipped without them)."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pandas as pd
import pytest

from shopsense.data.schema import TABLES, ColumnType
from shopsense.data.sources import (
    SAMPLE_DIVISOR,
    SAMPLE_PATH,
    SOURCES,
    SourceData,
    load_sample,
    load_source,
)
from shopsense.data.sources.uci_online_retail import NON_PRODUCT_CODES, is_product_code
from tests.public_data import corpus


def _load(name: str, **options: object) -> SourceData:
    return load_source(name, corpus(name), **options)


@pytest.fixture(scope="module")
def uci() -> SourceData:
    return _load("uci-online-retail")


@pytest.fixture(scope="module")
def uci_raw() -> pd.DataFrame:
    return pd.read_csv(
        corpus("uci-online-retail") / "uci-online-retail" / "online_retail.csv.gz",
        dtype=str,
        keep_default_na=False,
    )


@pytest.fixture(scope="module")
def movielens() -> SourceData:
    return _load("movielens-100k")


@pytest.fixture(scope="module")
def beauty() -> SourceData:
    return _load("amazon-beauty-seq")


@pytest.fixture(scope="module")
def diginetica() -> SourceData:
    return _load("diginetica-sample")


@pytest.fixture(scope="module")
def sample() -> SourceData:
    return load_sample()


def assert_schema(data: SourceData) -> None:
    """Every frame has exactly its table's columns, in order, with the promised dtypes."""
    assert data.tables, data.name
    assert data.notes and all(isinstance(n, str) and n for n in data.notes)
    for name, frame in data.tables.items():
        table = TABLES[name]
        assert tuple(frame.columns) == table.column_names, name
        for col in table.columns:
            s = frame[col.name]
            if col.type is ColumnType.STRING:
                assert s.dtype == object, (name, col.name, s.dtype)
                assert s.map(lambda v: v is None or isinstance(v, str)).all(), (name, col.name)
            elif col.type is ColumnType.INTEGER:
                assert s.dtype == "Int64", (name, col.name)
            elif col.type is ColumnType.FLOAT:
                assert s.dtype == "float64", (name, col.name)
            elif col.type is ColumnType.TIMESTAMP:
                assert s.dtype == "datetime64[ns]", (name, col.name)
            elif col.type is ColumnType.BOOLEAN:
                assert s.dtype == bool, (name, col.name)
            if col.required:
                assert s.notna().all(), (name, col.name)
            if col.choices:
                assert set(s.dropna()) <= set(col.choices), (name, col.name)
        if not table.key or name in ("events", "order_lines"):
            continue  # logs may hold repeated lines
        assert not frame.duplicated(list(table.key)).any(), (name, "duplicate keys")


def test_registry_and_errors(tmp_path: Path) -> None:
    assert set(SOURCES) == {
        "uci-online-retail",
        "amazon-beauty-seq",
        "movielens-100k",
        "diginetica-sample",
        "fashion-mnist",
        "online-shopping-10-cats",
        "womens-ecommerce-clothing-reviews",
        "amazon-all-beauty-5core",
        "amazon-qa-appliances",
        "grocery-store-images",
    }
    with pytest.raises(KeyError, match="movielens-100k"):
        load_source("no-such-set")
    for name in SOURCES:
        with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / name))):
            load_source(name, root=tmp_path)


def test_movielens(movielens: SourceData) -> None:
    assert_schema(movielens)
    events, items, users = (movielens.tables[t] for t in ("events", "items", "users"))
    assert len(events) == 100_000
    assert events["user_id"].nunique() == 943 and len(users) == 943
    assert events["item_id"].nunique() == 1_682 and len(items) == 1_682
    assert set(events["event_type"]) == {"rating"}
    assert set(events["value"]) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert events["timestamp"].min() >= pd.Timestamp("1997-09-19")
    assert events["timestamp"].max() <= pd.Timestamp("1998-04-23")
    toy = items.set_index("item_id").loc["1"]
    assert toy["title"] == "Toy Story (1995)"
    assert toy["category"] == "Animation|Children's|Comedy"
    assert items.set_index("item_id").loc["2", "category"] == "Action|Adventure|Thriller"
    first = users.set_index("user_id").loc["1"]
    assert (first["age"], first["gender"], first["occupation"]) == (24, "M", "technician")
    assert users["country"].isna().all()


def test_amazon_beauty(beauty: SourceData) -> None:
    assert_schema(beauty)
    events, items, users = (beauty.tables[t] for t in ("events", "items", "users"))
    assert len(events) == 198_502
    assert events["user_id"].nunique() == 22_363 and len(users) == 22_363
    assert events["item_id"].nunique() == 12_101 and len(items) == 12_101
    assert set(events["event_type"]) == {"purchase"} and set(events["value"]) == {1.0}
    ordered = events.sort_values(["user_id", "timestamp"], kind="stable")
    steps = ordered.groupby("user_id")["timestamp"].diff().dropna()
    assert (steps > pd.Timedelta(0)).all()
    # Sequence order survives: user 1 reads "1 1 2 3 4 5".
    assert events[events["user_id"] == "1"]["item_id"].tolist() == ["1", "2", "3", "4", "5"]
    assert items.set_index("item_id").loc["4", "category"] == "attr_1 attr_2 attr_3"
    assert items["category"].str.fullmatch(r"attr_\d+( attr_\d+)*").all()
    assert items["title"].isna().all()


def test_diginetica(diginetica: SourceData) -> None:
    assert_schema(diginetica)
    events = diginetica.tables["events"]
    assert len(events) == 12_391
    assert events["session_id"].nunique() == 2_986
    assert events["item_id"].nunique() == 7_139 == len(diginetica.tables["items"])
    assert set(events["event_type"]) == {"view"} and events["value"].isna().all()
    pseudo = events["user_id"].str.startswith("s")
    assert pseudo.sum() == 12_391 - 4_710
    assert (events.loc[pseudo, "user_id"] == "s" + events.loc[pseudo, "session_id"]).all()
    assert events["timestamp"].min() >= pd.Timestamp("2016-01-01")
    assert events["timestamp"].max() < pd.Timestamp("2016-06-03")


def test_uci_tables(uci: SourceData, uci_raw: pd.DataFrame) -> None:
    assert_schema(uci)
    lines, orders = uci.tables["order_lines"], uci.tables["orders"]
    assert len(lines) == 541_909
    assert int(lines["quantity"].sum()) == 5_176_450
    assert lines["customer_id"].isna().sum() == 135_080
    assert not lines["customer_id"].dropna().str.contains(r"\.").any()
    assert len(orders) == 25_900
    c_invoices = uci_raw.loc[uci_raw["InvoiceNo"].str.startswith("C"), "InvoiceNo"].nunique()
    assert int(orders["cancelled"].sum()) == c_invoices == 3_836
    first = orders.set_index("invoice_id").loc["536365"]
    assert first["customer_id"] == "17850" and first["time"] == pd.Timestamp("2010-12-01 08:26")
    assert len(uci.tables["users"]) == 4_372
    items = uci.tables["items"].set_index("item_id")
    assert items.loc["85123A", "title"] == "WHITE HANGING HEART T-LIGHT HOLDER"
    assert items.loc["85123A", "price"] > 0
    special = items.index.isin(list(NON_PRODUCT_CODES))
    assert (items.loc[special, "kind"] != "product").all()
    assert (items.loc[~special & ~items.index.str.startswith("gift_"), "kind"] == "product").all()
    assert items.loc["POST", "kind"] == "shipping" and items.loc["M", "kind"] == "adjustment"
    line_types = lines["line_type"].value_counts()
    assert line_types["cancellation"] == (lines["invoice_id"].str.startswith("C")).sum()
    assert set(line_types.index) == {"sale", "cancellation", "adjustment"}
    assert (items.loc[items.index.str.startswith("gift_"), "kind"] == "voucher").all()


def test_uci_events(uci: SourceData) -> None:
    events = uci.tables["events"]
    assert set(events["event_type"]) == {"purchase"}
    assert not events["session_id"].str.startswith("C").any()
    assert is_product_code(events["item_id"]).all()
    assert events["user_id"].notna().all()
    assert (events["value"] > 0).all()
    # The famous 80,995-unit order of customer 16446 is cancelled minutes later: netted out.
    assert not ((events["user_id"] == "16446") & (events["value"] == 80_995)).any()
    notes = " ".join(uci.notes)
    assert "cancellation" in notes and "guest" in notes and "non-product" in notes


def test_uci_without_netting_keeps_more(uci: SourceData) -> None:
    kept = _load("uci-online-retail", net_cancellations=False).tables["events"]
    netted = uci.tables["events"]
    assert len(kept) > len(netted)
    assert ((kept["user_id"] == "16446") & (kept["value"] == 80_995)).any()


HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"


def test_netting_consumes_latest_purchases_first(tmp_path: Path) -> None:
    rows = [
        # customer 1, item 10001: buys 2, then 3, then cancels 4 -> the 3 goes, the 2 stays
        "1,10001,ITEM A,2,2011-01-01 10:00:00,1.0,1,UK",
        "2,10001,ITEM A,3,2011-01-02 10:00:00,1.0,1,UK",
        "C3,10001,ITEM A,-4,2011-01-03 10:00:00,1.0,1,UK",
        # customer 1, item 10002: cancels before buying -> nothing to take back
        "C4,10002,ITEM B,-5,2011-01-01 09:00:00,1.0,1,UK",
        "5,10002,ITEM B,5,2011-01-02 09:00:00,1.0,1,UK",
        # customer 2, item 10001: buys 1, 1, cancels 1, buys 4, cancels 4 -> 7 and 9 go
        "6,10001,ITEM A,1,2011-01-01 10:00:00,1.0,2,UK",
        "7,10001,ITEM A,1,2011-01-02 10:00:00,1.0,2,UK",
        "C8,10001,ITEM A,-1,2011-01-03 10:00:00,1.0,2,UK",
        "9,10001,ITEM A,4,2011-01-04 10:00:00,1.0,2,UK",
        "C10,10001,ITEM A,-4,2011-01-05 10:00:00,1.0,2,UK",
        # customer 4: a cancellation in the same minute is not later -> the purchase stays
        "14,10001,ITEM A,2,2011-01-06 10:00:00,1.0,4,UK",
        "C15,10001,ITEM A,-2,2011-01-06 10:00:00,1.0,4,UK",
        # a guest line, postage and a free line are never events
        "11,10001,ITEM A,1,2011-01-01 10:00:00,1.0,,UK",
        "12,POST,POSTAGE,1,2011-01-01 10:00:00,18.0,3,UK",
        "13,10001,ITEM A,1,2011-01-01 10:00:00,0.0,3,UK",
    ]
    path = tmp_path / "mini.csv.gz"
    path.write_bytes(gzip.compress((HEADER + "\n".join(rows) + "\n").encode()))
    data = load_source("uci-online-retail", path=path)
    assert sorted(data.tables["events"]["session_id"]) == ["1", "14", "5", "6"]
    kept = load_source("uci-online-retail", path=path, net_cancellations=False).tables["events"]
    assert sorted(kept["session_id"]) == ["1", "14", "2", "5", "6", "7", "9"]
    assert len(data.tables["orders"]) == 15
    assert data.tables["orders"]["cancelled"].sum() == 5
    items = data.tables["items"].set_index("item_id")
    assert items.index.tolist() == ["10001", "10002", "POST"]
    assert items["kind"].tolist() == ["product", "product", "shipping"]
    assert items.loc["10001", "title"] == "ITEM A" and items.loc["10001", "price"] == 1.0
    assert sorted(data.tables["users"]["user_id"]) == ["1", "2", "3", "4"]


def test_sample(sample: SourceData) -> None:
    assert SAMPLE_PATH.is_file() and SAMPLE_PATH.stat().st_size < 2_500_000
    assert_schema(sample)
    users = sample.tables["users"]
    assert len(users) > 500
    ids = users["user_id"].astype(int)
    assert (ids % SAMPLE_DIVISOR == 0).all()
    lines = sample.tables["order_lines"]
    assert lines["customer_id"].notna().all()
    assert (lines["customer_id"].astype(int) % SAMPLE_DIVISOR == 0).all()
    assert len(sample.tables["events"]) > 10_000
    assert (SAMPLE_PATH.parent / "README.md").is_file()
