"""Pricing jobs over a real store: elasticities saved and reported, suggestions reuse the
saved estimate of the same data, forecasts saved, policies simulated with a plot."""

from __future__ import annotations

import pandas as pd
import pytest

from shopsense.config import Settings
from shopsense.pricing import workflows
from shopsense.registry import Registry
from tests.conftest import sample_shop


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    return sample_shop(tmp_path_factory.mktemp("pricing"))


def test_store_panel_has_product_groups(settings):
    panel = workflows.price_panel(settings, top=80)
    assert panel.freq == "W" and len(panel.items) == 80
    groups = panel.categories()
    assert groups.nunique() > 1  # titles grouped when the catalogue has no category


def test_elasticity_is_saved_and_reported(settings):
    run = workflows.elasticity(settings, top=80, params={"n_boot": 200})
    assert run.version.task == "pricing" and run.version.name == "elasticity"
    assert run.version.meta["metrics"]["products"] == 80
    table = pd.read_csv(run.csv, dtype={"item_id": str})
    assert len(table) == 80 and {"elasticity", "low", "high", "status"} <= set(table.columns)
    assert run.plot.stat().st_size > 10_000


def test_suggest_reuses_the_saved_estimate_of_the_same_data(settings):
    before = len(Registry(settings.models_dir).versions("pricing", "elasticity"))
    run = workflows.suggest(settings, top=80)
    after = len(Registry(settings.models_dir).versions("pricing", "elasticity"))
    assert after == before  # same source: no refit
    assert run.path.exists() and (run.suggestions["status"] == "ok").sum() > 50


def test_suggest_on_a_panel_file_fits_its_own_estimate(settings, retail_csv, tmp_path):
    costs = tmp_path / "costs.csv"
    costs.write_text("item_id,unit_cost\nbed1,20\n")
    run = workflows.suggest(settings, file=retail_csv, items=["bed1"], costs=costs)
    row = run.suggestions.set_index("item_id").loc["bed1"]
    assert row["unit_cost"] == 20
    versions = Registry(settings.models_dir).versions("pricing", "elasticity")
    assert versions[-1].meta["data"]["source"] == str(retail_csv.resolve())


def test_bad_cost_file_names_line_and_field(tmp_path):
    costs = tmp_path / "costs.csv"
    costs.write_text("item_id,unit_cost\na,1\nb,-3\n")
    with pytest.raises(ValueError, match=r"costs.csv: line 3, field 'unit_cost'"):
        workflows.read_costs(costs)


def test_simulate_compares_policies_with_a_learning_curve(settings, retail_csv):
    run = workflows.simulate(settings, file=retail_csv, seeds=3, horizon=12)
    s = run.summary.set_index("policy")
    assert {"current price", "oracle", "best fixed price", "thompson sampling"} <= set(s.index)
    assert run.plot.stat().st_size > 10_000


def test_forecast_saves_the_model_and_every_forecast(settings):
    run = workflows.forecast(settings, kind="ets", horizon=14, top=20)
    assert run.version.name == "demand_forecaster"
    f = pd.read_csv(run.path)
    assert f["step"].max() == 14 and f["item_id"].nunique() <= 20
    assert (f["forecast"] >= 0).all()


def test_no_store_is_a_clear_error(settings, tmp_path):
    missing = settings.model_copy(update={"store_path": tmp_path / "none.duckdb"})
    with pytest.raises(FileNotFoundError, match="no store"):
        workflows.elasticity(missing)
