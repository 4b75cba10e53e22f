"""The demand view: netted totals, zero vs unknown days, weekly roll-up, clear errors."""

import numpy as np
import pandas as pd
import pytest

from shopsense.data.demand import demand_view
from shopsense.data.sources import load_sample


@pytest.fixture(scope="module")
def lines() -> pd.DataFrame:
    return load_sample().order_lines_view()


@pytest.fixture(scope="module")
def view(lines):
    return demand_view(lines)


def _lines(rows):
    cols = ["invoice_id", "item_id", "quantity", "unit_price", "time", "customer_id"]
    frame = pd.DataFrame(rows, columns=cols)
    frame["time"] = pd.to_datetime(frame["time"])
    return frame


def test_totals_equal_netted_order_lines(lines, view):
    products = lines[lines["is_product"]]
    qty = products["quantity"].astype(float)
    cancels = products["takes_back"] & (qty < 0)
    sold = qty[products["is_sale"]].sum()
    cancelled = -qty[cancels].sum()
    # every cancelled unit is either taken off its original sale or counted as unmatched
    assert view.daily["units"].sum() == sold - cancelled + view.unmatched_cancelled_units
    assert view.unmatched_cancelled_units >= 0
    gross = (qty[qty > 0] * products.loc[qty > 0, "unit_price"]).sum()
    assert view.daily["revenue"].sum() <= gross + 1e-6


def test_cancellation_leaves_the_day_of_the_original_sale():
    v = demand_view(
        _lines(
            [
                ("1", "85123A", 10, 2.0, "2011-01-03 10:00", "c1"),  # Monday: sale
                ("2", "22423", 1, 5.0, "2011-01-04 10:00", "c2"),  # Tuesday: other item
                ("C3", "85123A", -4, 2.0, "2011-01-05 10:00", "c1"),  # Wednesday: cancel 4
                ("4", "22423", 2, 5.0, "2011-01-10 10:00", "c2"),  # next Monday
            ]
        )
    )
    d = v.daily.set_index(["item_id", "date"])
    mon = d.loc[("85123A", pd.Timestamp("2011-01-03"))]
    assert (mon["units"], mon["revenue"], mon["orders"], mon["price"]) == (6, 12.0, 1, 2.0)
    assert d.loc[("85123A", pd.Timestamp("2011-01-05")), "units"] == 0
    assert d.loc[("85123A", pd.Timestamp("2011-01-05")), "status"] == "zero"
    assert d.loc[("85123A", pd.Timestamp("2011-01-08")), "status"] == "closed"  # no line at all
    assert np.isnan(d.loc[("85123A", pd.Timestamp("2011-01-08")), "units"])
    assert d.loc[("22423", pd.Timestamp("2011-01-03")), "status"] == "before"
    assert v.unmatched_cancelled_units == 0


def test_zero_and_unknown_days_are_marked(view):
    daily = view.daily
    is_open = daily["date"].isin(view.open_days)
    status = daily["status"]
    assert (~is_open[status == "zero"]).sum() == 0
    assert is_open[status == "closed"].sum() == 0
    assert (daily.loc[status == "zero", "units"] == 0).all()
    assert daily.loc[status.isin(["closed", "before"]), "units"].isna().all()
    assert (daily.loc[status == "sold", "units"] > 0).all()
    # UCI never trades on Saturdays
    assert (daily.loc[daily["date"].dt.day_of_week == 5, "status"].isin(["closed", "before"])).all()
    first = daily[status == "sold"].groupby("item_id", observed=True)["date"].min()
    before_max = daily[status == "before"].groupby("item_id", observed=True)["date"].max()
    assert (before_max < first.reindex(before_max.index)).all()


def test_weekly_sums_the_days(view):
    weekly = view.weekly()
    assert weekly["units"].sum() == pytest.approx(view.daily["units"].sum())
    assert weekly["revenue"].sum() == pytest.approx(view.daily["revenue"].sum())
    assert weekly.loc[weekly["known_days"] == 0, "units"].isna().all()


def test_until_keeps_only_the_past(view):
    past = view.until("2011-06-01")
    assert past.end < pd.Timestamp("2011-06-01")
    assert (past.open_days < pd.Timestamp("2011-06-01")).all()


def test_bad_inputs_name_source_row_and_field():
    good = ("1", "85123A", 1, 2.0, "2011-01-03 10:00", "c1")
    with pytest.raises(ValueError, match=r"shop\.csv: row 1 field 'unit_price': negative"):
        demand_view(
            _lines([good, ("2", "22423", 1, -1.0, "2011-01-03 10:00", "c")]), source="shop.csv"
        )
    with pytest.raises(ValueError, match=r"row 1: field 'quantity' has an unreadable value 'abc'"):
        demand_view(_lines([good, ("2", "22423", "abc", 1.0, "2011-01-03 10:00", "c")]))
    with pytest.raises(ValueError, match=r"row 0: field 'unit_price' has an unreadable"):
        demand_view(_lines([("1", "85123A", 1, "n/a", "2011-01-03 10:00", "c1")]))
    with pytest.raises(ValueError, match=r"columns \['unit_price'\] are missing"):
        demand_view(_lines([good]).drop(columns="unit_price"))
    # a negative price on a non-product line (bad debt adjustment) is not an error
    bad_debt = _lines([good, ("A5", "B", 1, -11062.06, "2011-01-03 10:00", None)])
    catalogue = pd.DataFrame({"item_id": ["85123A", "B"], "kind": ["product", "adjustment"]})
    demand_view(bad_debt, items=catalogue)
    with pytest.raises(ValueError, match="negative price"):  # unless nobody says so
        demand_view(bad_debt)
