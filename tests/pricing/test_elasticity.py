"""Elasticity: the regression recovers a known slope, intervals cover it, flags name the
reason, the pooled category estimate and the shrinkage behave, and save/load round-trips."""

import numpy as np
import pandas as pd
import pytest

from shopsense.data.panel import PricePanel
from shopsense.pricing.elasticity import ElasticityModel
from shopsense.registry import Registry


def planted_panel(
    seed: int = 0, n_items: int = 30, periods: int = 40, confound: float = 0.0
) -> PricePanel:
    """Panel with known elasticities (-0.5 to -3) and a seasonal market; with `confound`
    the shop cuts prices in the high season, as shops do."""
    rng = np.random.default_rng(seed)
    truth = np.linspace(-3.0, -0.5, n_items)
    rows = []
    season = 1 + 0.4 * np.sin(np.arange(periods) / periods * 2 * np.pi)
    for i, e in enumerate(truth):
        price = 10 * np.exp(rng.normal(0, 0.15, periods) - confound * (season - 1))
        mu = 50 * season * (price / 10) ** e
        units = rng.poisson(mu)
        for t in range(periods):
            rows.append((f"p{i}", "c", pd.Timestamp("2020-01-01") + pd.DateOffset(months=t),
                         price[t], float(units[t]), False))  # fmt: skip
    frame = pd.DataFrame(rows, columns=["item_id", "category", "period", "price", "units",
                                        "price_imputed"])  # fmt: skip
    return PricePanel(frame, "M", "planted"), pd.Series(
        truth, index=[f"p{i}" for i in range(n_items)]
    )


def test_recovers_planted_elasticities_with_covering_intervals():
    panel, truth = planted_panel()
    t = ElasticityModel(n_boot=500).fit(panel).table_
    assert (t["status"] == "ok").all()
    err = (t["elasticity_own"] - truth).abs()
    assert err.median() < 0.15
    covered = (t["own_low"] <= truth) & (truth <= t["own_high"])
    assert covered.mean() >= 0.75  # 90% intervals; a little slack for 30 products
    # the interval must be informative, not wide enough to cover anything
    assert (t["own_high"] - t["own_low"]).median() < 1.0


def test_market_control_removes_the_season_price_cuts_would_take_credit_for():
    panel, truth = planted_panel(seed=1, confound=1.0)
    with_c = ElasticityModel(n_boot=100).fit(panel).table_["elasticity_own"]
    without = ElasticityModel(n_boot=100, market_control=False).fit(panel).table_
    naive = without["elasticity_own"]
    assert (naive - truth).median() < -0.3  # the season made demand look steeper
    assert (with_c - truth).abs().median() < 0.5 * (naive - truth).abs().median()


def test_flags_say_why_a_product_has_no_own_estimate(retail_elasticity):
    t = retail_elasticity.table_
    flagged = t[t["status"] != "ok"]
    assert len(flagged) > 0
    assert set(flagged["status"]) <= {
        "too few periods", "too few distinct prices", "too little price variation"
    }  # fmt: skip
    assert flagged["elasticity_own"].isna().all()
    # flagged products still get their category's estimate, marked as such
    assert (flagged["basis"] == "category").all()
    assert flagged["elasticity"].notna().all()
    low_spread = t["status"] == "too little price variation"
    assert (t.loc[low_spread, "price_spread"] < 0.03).all()


def test_retail_panel_categories_are_pooled_with_intervals(retail_elasticity):
    cats = retail_elasticity.categories_
    assert len(cats) == 9
    assert (cats["low"] <= cats["elasticity"]).all() and (cats["elasticity"] <= cats["high"]).all()
    # demand falls with price in most categories
    assert (cats["elasticity"] < 0).mean() >= 0.6


def test_shrinkage_pulls_noisy_products_towards_their_category(retail_elasticity):
    t = retail_elasticity.table_
    own = t[t["status"] == "ok"]
    cat = own["category"].map(retail_elasticity.categories_["elasticity"])
    moved = (own["elasticity"] - cat).abs() <= (own["elasticity_own"] - cat).abs() + 1e-9
    assert moved.all()
    assert (own["se"] <= own["own_se"] + 1e-9).all()


def test_one_sale_product_is_flagged_not_an_error(retail_panel):
    f = retail_panel.frame
    one = f[f["item_id"] == "bed1"].head(1).assign(item_id="lonely")
    panel = PricePanel(pd.concat([f, one], ignore_index=True), "M", "test")
    m = ElasticityModel(n_boot=50).fit(panel)
    row = m.elasticity("lonely")
    assert row["status"] == "too few periods"
    assert row["basis"] == "category"
    with pytest.raises(KeyError, match="no elasticity for item 'nope'"):
        m.elasticity("nope")


def test_empty_panel_is_a_clear_error():
    frame = pd.DataFrame({"item_id": ["a"], "category": [None], "period": [pd.Timestamp(0)],
                          "price": [1.0], "units": [0.0], "price_imputed": [True]})  # fmt: skip
    with pytest.raises(ValueError, match="no period with a sale"):
        ElasticityModel().fit(PricePanel(frame, "W", "empty.csv"))


def test_save_load_round_trip_through_the_registry(tmp_path, retail_elasticity):
    v = Registry(tmp_path).save(retail_elasticity, task="pricing")
    back = Registry(tmp_path).load("pricing", v.name, v.version)
    pd.testing.assert_frame_equal(
        back.table_[["elasticity", "low", "high"]],
        retail_elasticity.table_[["elasticity", "low", "high"]],
        check_dtype=False,
    )
    assert back.elasticity("bed1") == retail_elasticity.elasticity("bed1")


def test_bootstrap_is_seeded(retail_panel):
    a = ElasticityModel(n_boot=100, random_state=3).fit(retail_panel).table_
    b = ElasticityModel(n_boot=100, random_state=3).fit(retail_panel).table_
    pd.testing.assert_frame_equal(a, b)
