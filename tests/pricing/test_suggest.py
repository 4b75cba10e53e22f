"""Price suggestions: within the rules, with the reasons the issue asks for, honest about
products it cannot price, and clear about items it does not know."""

import numpy as np
import pandas as pd
import pytest

from shopsense.data.panel import PricePanel
from shopsense.pricing.policy import PriceConstraints
from shopsense.pricing.suggest import suggest_prices


@pytest.fixture(scope="module")
def suggestions(retail_panel, retail_elasticity):
    return suggest_prices(retail_panel, retail_elasticity)


def test_every_suggestion_respects_the_rules(suggestions):
    s = suggestions[suggestions["status"] == "ok"]
    rules = PriceConstraints()
    assert (s["change"].abs() <= rules.max_change + 1e-9).all()
    margin = (s["suggested_price"] - s["unit_cost"]) / s["suggested_price"]
    assert (margin >= rules.margin_floor - 1e-9).all()
    ratio = s["suggested_price"] / s["current_price"]
    assert ratio.between(rules.min_ratio - 1e-9, rules.max_ratio + 1e-9).all()


def test_each_suggestion_explains_itself(suggestions):
    s = suggestions[suggestions["status"] == "ok"]
    for col in ("units_now", "units_new", "elasticity", "elasticity_low", "elasticity_high"):
        assert s[col].notna().all(), col
    row = s.iloc[0]
    assert f"{row['current_price']:.2f}" in row["reason"]
    assert "elasticity" in row["reason"] and "units/month" in row["reason"]
    # a move stopped by a rule names it
    held = s[s["bound_by"] != ""]
    assert len(held) > 0
    assert held["reason"].str.contains("held by the").all()
    # expected demand moves against the price
    moved = s[s["change"].abs() > 1e-6]
    assert (np.sign(moved["units_new"] - moved["units_now"]) == -np.sign(moved["change"])).all()


def test_suggestions_raise_profit_under_the_model(suggestions):
    s = suggestions[suggestions["status"] == "ok"]
    assert (s["profit_new"] >= s["profit_now"] - 1e-6).all()
    assert s["profit_new"].sum() > s["profit_now"].sum()


def test_elastic_products_are_cut_and_inelastic_raised(suggestions):
    s = suggestions[suggestions["status"] == "ok"]
    # with cost at half the price, the best price is cost * e / (1 + e)
    very_elastic = s[s["elasticity"] < -2.5]
    inelastic = s[s["elasticity"] > -1.0]
    assert (very_elastic["change"] < 0).all()
    assert (inelastic["change"] > 0).all()


def test_tight_margin_floor_binds(retail_panel, retail_elasticity):
    s = suggest_prices(retail_panel, retail_elasticity, PriceConstraints(margin_floor=0.48))
    s = s[s["status"] == "ok"]
    floor = s["unit_cost"] / (1 - 0.48)
    assert (s["suggested_price"] >= floor - 1e-9).all()
    assert s["bound_by"].str.startswith("margin floor").any()


def test_one_sale_product_is_reported_not_priced(retail_panel, retail_elasticity):
    f = retail_panel.frame
    lonely = f[f["item_id"] == "bed1"].head(1).assign(item_id="lonely")
    panel = PricePanel(pd.concat([f, lonely], ignore_index=True), "M", "t")
    s = suggest_prices(panel, retail_elasticity)
    row = s.set_index("item_id").loc["lonely"]
    assert row["status"] == "too little price history"
    assert np.isnan(row["suggested_price"])


def test_unknown_items_and_objectives_are_clear_errors(retail_panel, retail_elasticity):
    with pytest.raises(KeyError, match="no price history for item"):
        suggest_prices(retail_panel, retail_elasticity, items=["nope"])
    with pytest.raises(ValueError, match="objective"):
        suggest_prices(retail_panel, retail_elasticity, objective="fun")


def test_revenue_objective_and_costs(retail_panel, retail_elasticity):
    costs = pd.Series({"bed1": 1.0})
    s = suggest_prices(retail_panel, retail_elasticity, objective="revenue", unit_cost=costs,
                       items=["bed1", "garden5"])  # fmt: skip
    assert set(s["item_id"]) == {"bed1", "garden5"}
    assert s.set_index("item_id").loc["bed1", "unit_cost"] == pytest.approx(1.0)
    assert s["reason"].str.contains("revenue").all()
