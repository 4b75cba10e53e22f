"""Demand forecasters: backtests without leaks, quality against baselines, save/load (also
of folders saved by earlier versions), errors."""

import json
import shutil
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest

from shopsense.data.demand import DemandView, demand_view
from shopsense.data.sources import load_sample
from shopsense.pricing.forecast import (
    CELLS,
    ETS,
    RecurrentForecaster,
    SeasonalNaive,
    backtest,
    eligible_items,
    expected_open,
    forecaster,
    summarize,
)
from shopsense.registry import Registry, model_class

CUTOFFS = ["2011-09-01", "2011-10-15"]
FAST = {"epochs": 5, "hidden_size": 16, "learning_rate": 3e-3, "patience": 3}
SAVED = Path(__file__).parent / "saved" / "v1"
"""Forecasters written by the single forecaster class of earlier versions (seasonal_naive,
ets, gru on the sample's 6 best sellers before 2011-09-01) with their forecasts then."""


def make(kind, **params):
    """A forecaster of `kind`; the recurrent ones get the fast training settings."""
    return forecaster(kind, **({**FAST, **params} if kind in CELLS else params))


@pytest.fixture(scope="module")
def view():
    full = demand_view(load_sample().order_lines_view())
    return full.select(full.top_items(40))


@pytest.fixture(scope="module")
def scores(view):
    rows = [
        backtest(view, lambda k=kind: make(k), CUTOFFS, (7, 28))
        for kind in ("seasonal_naive", "ets", "gru")
    ]
    return summarize(pd.concat(rows)).set_index(["model", "horizon"])


class Spy(SeasonalNaive):
    """Records the last day of every view it is given."""

    seen: ClassVar[list[pd.Timestamp]] = []

    def fit(self, view):
        Spy.seen.append(view.end)
        assert view.daily["date"].max() == view.end
        return super().fit(view)

    def predict(self, view, horizon=None):
        Spy.seen.append(view.end)
        return super().predict(view, horizon)


def test_backtest_never_shows_the_future(view):
    Spy.seen = []
    metrics = backtest(view, Spy, CUTOFFS, 7)
    assert len(Spy.seen) == 2 * len(CUTOFFS)
    for seen, cutoff in zip(Spy.seen[::2], CUTOFFS, strict=True):
        assert seen < pd.Timestamp(cutoff)
    assert set(metrics["cutoff"]) == set(map(pd.Timestamp, CUTOFFS))


def test_future_data_does_not_change_forecasts(view):
    cutoff = pd.Timestamp(CUTOFFS[0])
    past = view.until(cutoff)
    doctored = view.daily.copy()
    later = doctored["date"] >= cutoff
    doctored.loc[later, "units"] = doctored.loc[later, "units"] * 100
    other = DemandView(doctored, view.open_days).until(cutoff)
    for kind in ("ets", "gru"):
        a = make(kind).fit(past).predict(past)
        b = make(kind).fit(other).predict(other)
        pd.testing.assert_frame_equal(a, b)
        assert a["date"].min() == cutoff


def test_forecast_frame(view):
    past = view.until(CUTOFFS[0])
    out = make("gru", horizon=7).fit(past).predict(past)
    assert len(out) == 7 * len(past.items)
    assert list(out.columns[:5]) == ["item_id", "date", "step", "open", "forecast"]
    for lower, upper in [("lo95", "lo80"), ("lo80", "forecast"), ("forecast", "hi80")]:
        assert (out[lower] <= out[upper] + 1e-6).all()
    assert (out["hi80"] <= out["hi95"] + 1e-6).all()
    closed = out[~out["open"]]
    assert (closed["date"].dt.day_of_week == 5).all() and (closed["forecast"] == 0).all()


def test_quality_against_baselines(scores):
    # on the sample's 40 top products: ETS and the global GRU are both well below
    # seasonal naive in MASE (measured about 1.0 vs 1.3); intervals roughly calibrated.
    for h in (7, 28):
        naive = scores.loc[("seasonal_naive", h), "mase"]
        assert scores.loc[("ets", h), "mase"] < 0.9 * naive
        assert scores.loc[("gru", h), "mase"] < 0.9 * naive
        assert 0.6 < scores.loc[("gru", h), "coverage80"] < 0.95
        assert scores.loc[("gru", h), "coverage95"] > 0.85


@pytest.mark.parametrize("kind", ["seasonal_naive", "ets", "lstm"])
def test_save_load_same_forecasts(view, tmp_path, kind):
    past = view.until(CUTOFFS[0])
    model = make(kind, horizon=7).fit(past)
    model.save(tmp_path / kind)
    meta = json.loads((tmp_path / kind / "model.json").read_text())
    assert meta["model"] == model.kind and meta["kind"] == kind == model.label
    loaded = model_class(meta["model"]).load(tmp_path / kind)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    pd.testing.assert_frame_equal(loaded.predict(past), model.predict(past))
    assert not list((tmp_path / kind).glob(".*tmp"))


def test_clear_errors(view, tmp_path):
    lines = load_sample().order_lines_view()
    once = lines.groupby("item_id").filter(lambda g: len(g) == 1)["item_id"].iloc[0]
    few = demand_view(lines).select([once, *view.items[:3]])
    message = rf"too little history.*'{once}' \(\d+ days, 1 with a sale\)"
    with pytest.raises(ValueError, match=message):
        forecaster("ets").fit(few)
    assert once not in eligible_items(few, 28)
    with pytest.raises(RuntimeError, match="not fitted"):
        forecaster("gru").predict(view)
    with pytest.raises(ValueError, match="unknown kind"):
        forecaster("prophet")
    with pytest.raises(ValueError, match="no such setting"):
        forecaster("ets", hidden_size=8)
    with pytest.raises(ValueError, match="cell must be one of"):
        RecurrentForecaster(cell="transformer")
    with pytest.raises(FileNotFoundError, match=r"model\.json missing"):
        ETS.load(tmp_path)
    model = make("gru", horizon=7).fit(view.until(CUTOFFS[0]))
    with pytest.raises(ValueError, match="at most 7 days"):
        model.predict(view, 28)


def test_expected_open_learns_saturdays_and_christmas(view):
    days = pd.date_range("2011-12-19", "2012-01-06")
    hist = pd.DatetimeIndex(view.until("2011-12-01").units_matrix().index)
    flags = expected_open(hist, hist.isin(view.open_days), days)
    got = dict(zip(days, flags, strict=True))
    assert not got[pd.Timestamp("2011-12-24")] and not got[pd.Timestamp("2012-01-02")]
    assert got[pd.Timestamp("2011-12-19")] and got[pd.Timestamp("2012-01-04")]
    assert not got[pd.Timestamp("2011-12-31")]  # a Saturday


@pytest.mark.parametrize(
    ("kind", "cls"), [("seasonal_naive", SeasonalNaive), ("ets", ETS), ("gru", RecurrentForecaster)]
)
def test_forecasters_saved_by_earlier_versions_still_load(kind, cls, tmp_path):
    full = demand_view(load_sample().order_lines_view())
    past = full.select(full.top_items(6)).until("2011-09-01")
    expected = pd.read_csv(SAVED / kind / "expected.csv", parse_dates=["date"])
    expected["item_id"] = expected["item_id"].astype(str)
    folder = tmp_path / "models" / "pricing" / "demand_forecaster" / "v0001"
    shutil.copytree(SAVED / kind, folder)
    loaded = Registry(tmp_path / "models").load("pricing", "demand_forecaster")
    assert type(loaded) is cls and loaded.label == kind
    pd.testing.assert_frame_equal(loaded.predict(past), expected, check_dtype=False)
    # saved again, it is written in today's format and gives the same forecasts
    loaded.save(tmp_path / "again")
    again = model_class(cls.kind).load(tmp_path / "again")
    pd.testing.assert_frame_equal(again.predict(past), expected, check_dtype=False)
