"""The customer view on the bundled UCI Online Retail sample: RFM by hand, cut-offs, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shopsense.data.customers import CustomerHistory, product_groups
from shopsense.data.sources import load_sample


@pytest.fixture(scope="module")
def sample():
    return load_sample().tables


@pytest.fixture(scope="module")
def history(sample):
    return CustomerHistory.from_order_lines(
        sample["order_lines"],
        items=sample["items"],
        groups=product_groups(sample["items"], n_groups=5),
    )


def test_rfm_matches_a_hand_count(sample, history):
    lines = sample["order_lines"]
    customer = "12348"
    mine = lines[(lines.customer_id == customer) & ~lines.invoice_id.str.startswith("C")]
    mine = mine[mine.item_id.str.fullmatch(r"\d{5}[A-Za-z]*")]
    f = history.features().loc[customer]
    assert f["frequency"] == mine.invoice_id.nunique()
    days = (history.cutoff - mine.time.max()) / pd.Timedelta(days=1)
    assert f["recency_days"] == pytest.approx(days)
    assert f["monetary"] == pytest.approx((mine.quantity * mine.unit_price).sum(), rel=1e-9)
    shares = history.features().filter(like="group_")
    assert shares.shape[1] >= 2 and np.allclose(shares.sum(axis=1), 1.0)


def test_a_cutoff_hides_the_future(history):
    cut = pd.Timestamp("2011-06-01")
    past = history.until(cut)
    assert past.lines["time"].max() < cut and past.cutoff == cut
    assert past.features()["recency_days"].min() > 0
    assert set(past.customers) <= set(history.customers)
    assert history.between(cut, history.cutoff)["time"].min() >= cut


def test_one_order_customers_have_no_gaps(history):
    f = history.features()
    single = f[f["frequency"] == 1]
    assert len(single) and single["gap_mean_days"].isna().all()
    assert f.loc[f["frequency"] > 1, "gap_mean_days"].notna().all()


def test_sequences_are_ordered_invoices(history):
    seqs = history.sequences(max_length=5)
    one = seqs["12348"]
    assert one["time"].is_monotonic_increasing and len(one) <= 5
    assert one["gap_days"].iloc[0] == 0 or len(history.sequences()["12348"]) > 5


def test_bad_input_names_source_row_and_field(sample):
    lines = sample["order_lines"].head(50).copy()
    lines["customer_id"] = None
    with pytest.raises(ValueError, match="no line has a customer_id"):
        CustomerHistory.from_order_lines(lines, source="orders.csv")
    broken = sample["order_lines"].head(50).astype({"quantity": object})
    broken.loc[broken.index[7], "quantity"] = "seven"
    with pytest.raises(ValueError, match=r"orders.csv row 7: field 'quantity'"):
        CustomerHistory.from_order_lines(broken, source="orders.csv")
    with pytest.raises(ValueError, match="missing column"):
        CustomerHistory.from_order_lines(lines.drop(columns=["unit_price"]), source="orders.csv")
    with pytest.raises(ValueError, match="empty"):
        CustomerHistory.from_order_lines(lines.iloc[:0], source="orders.csv")
