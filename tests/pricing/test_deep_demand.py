"""The price-conditioned demand network: it learns, persists, respects the law of demand,
and names what it cannot predict."""

import numpy as np
import pandas as pd
import pytest

from shopsense.data.demand import demand_view
from shopsense.data.panel import PricePanel, panel_from_order_lines
from shopsense.data.sources import load_source
from shopsense.pricing.deep_demand import DeepDemandModel, holdout_comparison, poisson_deviance
from tests.public_data import corpus

CUTOFF = "2011-09-01"


@pytest.fixture(scope="module")
def panel() -> PricePanel:
    """Weekly panel of the 100 best-selling UCI products (real data, zero-sale weeks kept)."""
    lines = load_source("uci-online-retail", corpus("uci-online-retail")).order_lines_view()
    view = demand_view(lines)
    return panel_from_order_lines(lines, items=view.top_items(100), view=view)


@pytest.fixture(scope="module")
def scores(panel: PricePanel) -> pd.DataFrame:
    return holdout_comparison(panel, CUTOFF)


@pytest.fixture(scope="module")
def model(scores: pd.DataFrame) -> DeepDemandModel:
    return scores.attrs["model"]


def test_learns_beyond_the_item_mean(scores):
    deep, mean = scores.loc["deep"], scores.loc["item_mean"]
    assert set(scores.index) == {"deep", "loglog", "item_mean"}
    assert deep["rows"] > 1000 and deep["items"] == 100
    assert deep["poisson_deviance"] < 0.85 * mean["poisson_deviance"]
    assert deep["scaled_deviance"] < mean["scaled_deviance"]
    assert np.isfinite(scores.loc["loglog", "poisson_deviance"])


def test_training_is_time_ordered(model, panel):
    assert model.last_period_ < pd.Timestamp(CUTOFF)
    assert model.train_result_ is not None and model.best_epoch_ >= 1


def test_save_load_gives_identical_predictions(model, panel, tmp_path):
    model.save(tmp_path / "m")
    again = DeepDemandModel.load(tmp_path / "m")
    prices = panel.frame["price"].to_numpy() * 0.9
    np.testing.assert_array_equal(model.predict(panel), again.predict(panel))
    np.testing.assert_array_equal(model.predict(panel, prices), again.predict(panel, prices))
    assert again.get_params() == model.get_params()


def test_demand_falls_when_the_price_rises(model, panel):
    base = model.predict(panel)
    dearer = model.predict(panel, prices=panel.frame["price"].to_numpy() * 1.1)
    assert base.shape == (len(panel.frame),) and (base > 0).all()
    assert (dearer < base).all()
    table = model.elasticities(panel.until(CUTOFF))
    assert len(table) == 100 and (table["elasticity"] < 0).all()
    assert table["elasticity"].median() < 0
    assert (table["base_units"] > 0).all() and (table["elasticity_sd"] >= 0).all()


def test_unconstrained_head_is_available(panel):
    train = panel.select(panel.items[:20]).until(CUTOFF)
    free = DeepDemandModel(negative_elasticity=False, epochs=5).fit(train)
    assert np.isfinite(free.elasticities(train)["elasticity"]).all()


def test_unknown_item_is_named(model, panel):
    frame = panel.frame.head(3).copy()
    frame.loc[:, "item_id"] = ["NOT-A-PRODUCT", *frame["item_id"].iloc[1:]]
    with pytest.raises(ValueError, match="NOT-A-PRODUCT"):
        model.predict(PricePanel(frame, panel.freq))


def test_empty_panel_is_refused(panel):
    empty = PricePanel(panel.frame.iloc[:0], panel.freq)
    with pytest.raises(ValueError, match="empty"):
        DeepDemandModel().fit(empty)


def test_bad_prices_are_refused(model, panel):
    with pytest.raises(ValueError, match="one price per panel row"):
        model.predict(panel, prices=np.ones(3))
    with pytest.raises(ValueError, match="> 0"):
        model.predict(panel, prices=np.zeros(len(panel.frame)))


def test_poisson_deviance_is_zero_at_the_truth():
    y = np.array([0.0, 1.0, 5.0])
    np.testing.assert_allclose(poisson_deviance(y, y), 0.0, atol=1e-8)
    assert (poisson_deviance(y, y + 1.0) > 0).all()
