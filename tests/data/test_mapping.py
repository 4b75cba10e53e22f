"""A shop's own export mapped into the schema by a small TOML file or CLI options."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from shopsense.data.ingest import IngestError
from shopsense.data.mapping import Mapping, MappingError
from shopsense.data.store import Store

ORDERS = """\
order_ref,sku,qty,price_sek,ordered_at,status,customer
CO-1,M,2,10.00,2024-03-05T18:22:10+01:00,shipped,a
CO-1,SHIP,1,49.00,2024-03-05T17:22:10Z,shipped,a
CO-2,M,-1,10.00,2024-07-01 09:00:00,shipped,a
CO-3,D,1,5.00,2024-07-02T09:00:00+02:00,void,
"""
MAPPING = """\
table = "order_lines"

[columns]
invoice_id = "order_ref"
item_id = "sku"
quantity = "qty"
unit_price = "price_sek"
time = "ordered_at"
customer_id = "customer"

[set]
currency = "SEK"

[time]
zone = "Europe/Stockholm"

[[line_type]]
value = "cancellation"
column = "status"
equals = ["void"]

[[line_type]]
value = "return"
quantity = "negative"
"""


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "orders.csv").write_text(ORDERS)
    (tmp_path / "orders.toml").write_text(MAPPING)
    return tmp_path / "orders.csv", tmp_path / "orders.toml"


def test_columns_times_rules_and_constants(files, tmp_path):
    orders, mapping = files
    with Store(tmp_path / "s.duckdb") as store:
        report = store.ingest("order_lines", orders, mapping=Mapping.from_file(mapping))
        lines = store.read("order_lines").sort_values(["invoice_id", "item_id"])
    assert report.rows_inserted == 4 and report.quality is not None
    assert lines["item_id"].tolist() == ["M", "SHIP", "M", "D"]  # "M" and "D" are products here
    # one instant written with +01:00 and with Z is one shop-local time
    assert lines["time"].iloc[0] == lines["time"].iloc[1] == pd.Timestamp("2024-03-05 18:22:10")
    assert lines["time"].iloc[2] == pd.Timestamp("2024-07-01 09:00:00")  # naive: shop time
    assert lines["time"].iloc[3] == pd.Timestamp("2024-07-02 09:00:00")
    assert lines["line_type"].tolist() == [None, None, "return", "cancellation"]
    assert set(lines["currency"]) == {"SEK"} and lines["customer_id"].iloc[3] is None


def test_a_bad_value_is_named_by_file_line_and_column_and_nothing_is_stored(files, tmp_path):
    orders, mapping = files
    orders.write_text(ORDERS.replace("CO-2,M,-1", "CO-2,M,two"))
    with Store(tmp_path / "s.duckdb") as store:
        with pytest.raises(
            IngestError, match=r"orders\.csv:4: column 'quantity': not an integer: 'two'"
        ):
            store.ingest("order_lines", orders, mapping=Mapping.from_file(mapping))
        assert store.count("order_lines") == 0


def test_values_translate_the_files_words():
    raw = pd.DataFrame(
        {
            "who": ["u"] * 3,
            "sku": ["a"] * 3,
            "did": ["look", "basket", "buy"],
            "at": ["2024-01-01T10:00:00Z"] * 3,
        }
    )
    m = Mapping.from_dict(
        {
            "columns": {"user_id": "who", "item_id": "sku", "event_type": "did", "timestamp": "at"},
            "values": {"event_type": {"look": "view", "basket": "cart", "buy": "purchase"}},
        }
    )
    out = m.apply(raw, "events", source="clicks.csv")
    assert out["event_type"].tolist() == ["view", "cart", "purchase"]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"colums": {}}, "unknown key"),
        ({"kind": [{"value": "gift", "column": "t", "equals": ["x"]}]}, "not one of"),
        ({"kind": [{"value": "fee", "equals": ["x"]}]}, "needs a `column`"),
        ({"line_type": [{"value": "return", "quantity": "minus"}]}, "quantity must be"),
        ({"time": {"zone": "Mars/Olympus"}}, "unknown time zone"),
        ({"kind": [{"value": "fee", "column": "t", "regex": "("}]}, "does not compile"),
    ],
)
def test_bad_mappings_say_what_is_wrong(doc, message):
    with pytest.raises(MappingError, match=message):
        Mapping.from_dict(doc, source="shop.toml")


def test_a_mapping_for_another_table_or_missing_columns_is_refused(files, tmp_path):
    orders, mapping = files
    m = Mapping.from_file(mapping)
    with pytest.raises(MappingError, match="maps table 'order_lines', not 'items'"):
        m.check_table("items")
    raw = pd.read_csv(orders, dtype=str).drop(columns="qty")
    with pytest.raises(MappingError, match=r"does not have.*qty|\['qty'\]"):
        m.apply(raw, "order_lines", source="orders.csv")
    with pytest.raises(MappingError, match="--column takes name=value"):
        Mapping.from_options(["invoice_id"])
