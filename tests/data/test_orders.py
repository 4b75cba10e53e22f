"""The order-line view reads what a line does and what it sells from the data, never from
id patterns, and drops nothing."""

from __future__ import annotations

import pandas as pd
import pytest

from shopsense.data.orders import kind_counts, order_line_view
from shopsense.data.sources import load_sample


def _lines(rows, **extra) -> pd.DataFrame:
    cols = ["invoice_id", "item_id", "quantity", "unit_price", "time", "customer_id"]
    frame = pd.DataFrame(rows, columns=cols)
    for name, values in extra.items():
        frame[name] = values
    return frame


def test_types_and_kinds_come_from_the_data_not_the_ids():
    rows = [
        ("CO-1", "M", 2, 5.0, "2024-01-01", "a"),  # a product called "M" on a "CO-" invoice
        ("CO-1", "SHIP", 1, 4.9, "2024-01-01", "a"),
        ("ORD-2", "M", -1, 5.0, "2024-01-05", "a"),  # a return on an ordinary invoice
        ("ORD-3", "M", -1, 5.0, "2024-01-06", "a"),
        ("ORD-4", "M", 0, 0.0, "2024-01-06", None),
    ]
    catalogue = pd.DataFrame({"item_id": ["M", "SHIP"], "kind": ["product", "shipping"]})
    stated = [None, None, None, "cancellation", None]
    view = order_line_view(_lines(rows, line_type=stated), catalogue)
    assert len(view) == len(rows)
    assert view["line_type"].tolist() == ["sale", "sale", "return", "cancellation", "adjustment"]
    assert view["kind"].tolist() == ["product", "shipping", "product", "product", "product"]
    assert view["is_sale"].tolist() == [True, True, False, False, False]
    assert view["takes_back"].tolist() == [False, False, True, True, False]
    assert view["is_product"].tolist() == [True, False, True, True, True]
    counts = kind_counts(view).set_index(["line_type", "kind"])["lines"]
    assert counts.sum() == len(rows) and counts[("sale", "shipping")] == 1


def test_an_item_the_catalogue_does_not_know_is_a_product_and_a_view_passes_through():
    view = order_line_view(_lines([("1", "X", 1, 1.0, "2024-01-01", "a")]), pd.DataFrame())
    assert view["kind"].tolist() == ["product"]
    assert order_line_view(view) is view


def test_the_uci_sample_says_its_conventions_as_data():
    view = load_sample().order_lines_view()
    c_invoices = view["invoice_id"].str.startswith("C")
    assert (view.loc[c_invoices, "line_type"] == "cancellation").all()
    assert (view.loc[view["item_id"] == "POST", "kind"] == "shipping").all()
    assert not view.loc[view["item_id"].isin(["POST", "M", "D"]), "is_product"].any()


def test_bad_values_name_the_source_row_and_field():
    with pytest.raises(ValueError, match=r"shop.csv row 1: field 'quantity'"):
        order_line_view(
            _lines(
                [("1", "X", 1, 1.0, "2024-01-01", "a"), ("2", "X", "two", 1.0, "2024-01-02", "a")]
            ),
            source="shop.csv",
        )
    with pytest.raises(ValueError, match=r"missing column\(s\) \['time'\]"):
        order_line_view(_lines([]).drop(columns="time"))
    with pytest.raises(ValueError, match="row 0: field 'item_id' is empty"):
        order_line_view(_lines([("1", None, 1, 1.0, "2024-01-01", "a")]))


def test_the_orders_table_can_say_an_invoice_was_cancelled(tmp_path):
    from shopsense.data.orders import order_lines_from_store
    from shopsense.data.store import Store

    lines = _lines([("9", "X", 2, 1.0, "2024-01-01", "a"), ("10", "X", 1, 1.0, "2024-01-02", "a")])
    orders = pd.DataFrame(
        {
            "invoice_id": ["9", "10"],
            "time": pd.to_datetime(["2024-01-01"] * 2),
            "cancelled": [True, False],
        }
    )
    with Store(tmp_path / "s.duckdb") as store:
        store.write_frame("order_lines", lines, source="lines")
        store.write_frame("orders", orders, source="orders")
        view = order_lines_from_store(store)
    assert dict(zip(view["invoice_id"], view["line_type"], strict=True)) == {
        "9": "cancellation",
        "10": "sale",
    }
