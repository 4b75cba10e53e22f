"""The price panel: median line price (not revenue / units), imputed zero periods, and
errors that name the file, line and field."""

import numpy as np
import pandas as pd
import pytest

from shopsense.data.demand import demand_view
from shopsense.data.panel import COLUMNS, PricePanel, panel_from_order_lines, read_price_panel
from shopsense.data.sources import load_sample
from tests.public_data import corpus


@pytest.fixture(scope="module")
def retail_panel() -> PricePanel:
    path = corpus("retail-price-optimization") / "retail-price-optimization" / "retail_price.csv"
    return read_price_panel(path)


@pytest.fixture(scope="module")
def sample_lines():
    return load_sample().order_lines_view()


@pytest.fixture(scope="module")
def uci_panel(sample_lines) -> PricePanel:
    view = demand_view(sample_lines)
    return panel_from_order_lines(sample_lines, items=view.top_items(60), view=view)


def test_retail_panel_reads_the_kaggle_layout(retail_panel):
    f = retail_panel.frame
    assert list(f.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert f["item_id"].nunique() == 52 and len(f) == 676
    assert retail_panel.freq == "M"
    assert (f["price"] > 0).all() and not f["price_imputed"].any()
    assert "competitor_price" in f
    assert not f.duplicated(["item_id", "period"]).any()


def test_uci_panel_uses_the_median_line_price(sample_lines, uci_panel):
    item = uci_panel.items[0]
    row = uci_panel.observed().query("item_id == @item").iloc[0]
    lines = sample_lines[sample_lines["item_id"] == item]
    week = pd.to_datetime(lines["time"]).dt.to_period("W-SUN").dt.start_time
    sold = lines[(week == row["period"]) & (lines["quantity"] > 0)]
    sold = sold[~sold["invoice_id"].str.startswith("C")]
    assert row["price"] == pytest.approx(sold["unit_price"].median())
    # units are the demand view's net units, whatever the price lines say
    assert row["units"] <= sold["quantity"].sum()


def test_zero_periods_carry_the_last_price_and_are_marked(uci_panel):
    f = uci_panel.frame
    zero = f[f["units"] == 0]
    assert len(zero) > 0
    assert zero["price_imputed"].all()
    # a sale whose lines carry no usable price (unit price 0) also gets the last one
    sold_unpriced = f["price_imputed"] & (f["units"] > 0)
    assert sold_unpriced.sum() <= 0.01 * len(f)
    first = f.groupby("item_id").head(1)
    assert not first["price_imputed"].any()  # a series starts with a real sale
    assert uci_panel.observed()["units"].gt(0).all()


def test_current_prices_and_until(uci_panel):
    prices = uci_panel.current_prices()
    assert set(prices.index) == set(uci_panel.items) and (prices > 0).all()
    early = uci_panel.until("2011-06-01")
    assert early.frame["period"].max() < pd.Timestamp("2011-06-01")


def test_negative_price_names_file_line_and_field(tmp_path):
    bad = tmp_path / "prices.csv"
    bad.write_text("item_id,period,price,units\na,2020-01-01,2.0,3\na,2020-02-01,-1.5,4\n")
    with pytest.raises(ValueError, match=r"prices.csv: line 3, field 'price': .*-1.5.* > 0"):
        read_price_panel(bad)


def test_unreadable_fields_are_named(tmp_path):
    bad = tmp_path / "p.csv"
    bad.write_text("item_id,period,price,units\na,2020-01-01,2.0,three\n")
    with pytest.raises(ValueError, match=r"line 2, field 'units'"):
        read_price_panel(bad)
    bad.write_text("item_id,period,price,units\na,someday,2.0,3\n")
    with pytest.raises(ValueError, match=r"line 2, field 'period'"):
        read_price_panel(bad)
    bad.write_text("item_id,when,price,units\na,2020-01-01,2.0,3\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['period'\]"):
        read_price_panel(bad)
    bad.write_text("item_id,period,price,units\na,2020-01-01,2.0,3\na,2020-01-01,2.5,3\n")
    with pytest.raises(ValueError, match="one row per item and period"):
        read_price_panel(bad)


def test_monthly_panel_from_order_lines(sample_lines):
    panel = panel_from_order_lines(sample_lines, freq="M", items=["85123A", "22423"])
    assert panel.freq == "M" and set(panel.items) == {"85123A", "22423"}
    assert (panel.frame["period"].dt.day == 1).all()
    assert np.isfinite(panel.frame["price"]).all()
    with pytest.raises(ValueError, match="freq"):
        panel_from_order_lines(sample_lines, freq="D")
