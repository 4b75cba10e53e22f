"""The invoice-line view keeps every line (guests, cancellations, postage), types it once,
carries what the order-line view says and names bad rows."""

from __future__ import annotations

import pytest

from shopsense.data.invoices import VIEW_COLUMNS, invoice_lines
from shopsense.data.sources import load_sample


@pytest.fixture(scope="module")
def sample():
    return load_sample()


def test_every_line_stays_and_guests_have_no_customer(sample):
    raw = sample.tables["order_lines"].head(400).copy()
    raw.loc[raw.index[:3], "customer_id"] = ""
    lines = invoice_lines(raw)
    assert len(lines) == len(raw)
    assert lines["customer_id"].isna().sum() == 3 + raw["customer_id"].iloc[3:].isna().sum()
    assert lines["quantity"].dtype == float and str(lines["time"].dtype).startswith("datetime")
    assert set(VIEW_COLUMNS) - {"country"} <= set(lines.columns)


def test_what_the_view_says_is_carried_over(sample):
    view = sample.order_lines_view()
    lines = invoice_lines(view)
    assert (lines["kind"].to_numpy() == view["kind"].to_numpy()).all()
    assert (lines["is_product"].to_numpy() == view["is_product"].to_numpy()).all()
    postage = lines["item_id"] == "POST"
    assert postage.any() and not lines.loc[postage, "is_product"].any()


def test_bad_rows_are_named(sample):
    raw = sample.tables["order_lines"].head(20).copy()
    with pytest.raises(ValueError, match=r"orders.csv: missing column.*customer_id"):
        invoice_lines(raw.drop(columns="customer_id"), "orders.csv")
    raw = raw.astype({"unit_price": object})
    raw.loc[raw.index[4], "unit_price"] = None
    with pytest.raises(ValueError, match=r"orders.csv row 4: field 'unit_price'"):
        invoice_lines(raw, "orders.csv")
    with pytest.raises(ValueError, match="no rows"):
        invoice_lines(raw.iloc[:0])
