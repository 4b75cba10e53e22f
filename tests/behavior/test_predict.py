"""Next purchase and churn on the bundled UCI sample: every model beats the base rate on a
later period, nothing after a cut-off reaches its inputs, save -> load, clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shopsense.behavior.predict import (
    ChurnModel,
    NextPurchaseModel,
    aligned,
    calibration_plot,
    calibration_table,
    customer_features,
    model_inputs,
    probability_scores,
    rolling_cutoffs,
    temporal_split,
)
from shopsense.data.customers import CustomerHistory
from shopsense.data.sources import load_sample

EVAL = pd.Timestamp("2011-09-01")
KINDS = ("base_rate", "logreg", "gbm", "gru")
TASKS = {"next_purchase": (NextPurchaseModel, 30), "churn": (ChurnModel, 90)}
FAST = {"epochs": 20}


@pytest.fixture(scope="module")
def lines():
    return load_sample().order_lines_view()


@pytest.fixture(scope="module")
def history(lines):
    return CustomerHistory.from_order_lines(lines)


@pytest.fixture(scope="module")
def fitted(history):
    """Every kind of both tasks, trained on 4 rolling cut-offs before EVAL."""
    train = history.until(EVAL)
    models = {}
    for task, (cls, horizon) in TASKS.items():
        cutoffs = rolling_cutoffs(train, horizon, n=4)
        for kind in KINDS:
            models[task, kind] = cls(kind, horizon_days=horizon, **FAST).fit(train, cutoffs)
    return models


def _scores(model, history):
    split = temporal_split(history, EVAL, model.horizon)
    return probability_scores(*aligned(model.target(split.labels), model.predict_proba(split.past)))


@pytest.mark.parametrize("task", TASKS)
def test_every_model_beats_the_base_rate_on_a_later_period(fitted, history, task):
    base = _scores(fitted[task, "base_rate"], history)
    assert base["roc_auc"] == pytest.approx(0.5)
    for kind in KINDS[1:]:
        scores = _scores(fitted[task, kind], history)
        assert scores["roc_auc"] > 0.65, (kind, scores)
        assert scores["brier"] < base["brier"] - 0.01, (kind, scores, base)
        assert scores["pr_auc"] > scores["observed_rate"] + 0.1, (kind, scores)


def test_training_cutoffs_never_reach_the_evaluated_period(history, fitted):
    for (task, _), model in fitted.items():
        assert all(c + pd.Timedelta(days=model.horizon) <= EVAL for c in model.cutoffs_), task
    with pytest.raises(ValueError, match="runs past the end of the data"):
        NextPurchaseModel("logreg").fit(history.until(EVAL), ["2011-08-15"])


def test_features_at_a_cutoff_equal_features_of_truncated_data(lines, history):
    cut = pd.Timestamp("2011-06-01")
    truncated = CustomerHistory.from_order_lines(lines[lines["time"] < cut], cutoff=cut)
    pd.testing.assert_frame_equal(history.until(cut).features(), truncated.features())
    names = list(customer_features(truncated).columns)
    a, b = model_inputs(history.until(cut), names, 20), model_inputs(truncated, names, 20)
    assert np.array_equal(a.customers, b.customers)
    for field in ("static", "steps", "lengths"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    # and the future does change them: the test would catch a leak
    assert not customer_features(history).loc[a.customers].equals(customer_features(truncated))


@pytest.mark.parametrize("kind", ["logreg", "gru"])
def test_predictions_ignore_everything_after_the_label_windows(lines, history, kind):
    """Changing every line after EVAL (doubling quantities, dropping half) changes neither
    the fitted model nor its scores at EVAL."""
    later = lines["time"] >= EVAL
    altered = lines[~later | (np.arange(len(lines)) % 2 == 0)].copy()
    altered.loc[altered["time"] >= EVAL, "quantity"] *= 2
    other = CustomerHistory.from_order_lines(altered)
    cutoffs = rolling_cutoffs(history.until(EVAL), 30, n=3)
    a = NextPurchaseModel(kind, **FAST).fit(history, cutoffs).predict_proba(history.until(EVAL))
    b = NextPurchaseModel(kind, **FAST).fit(other, cutoffs).predict_proba(other.until(EVAL))
    pd.testing.assert_series_equal(a, b)


def test_labels_come_from_the_window_after_the_cutoff(lines, history):
    split = temporal_split(history, EVAL, 30)
    assert split.past.cutoff == EVAL and split.past.lines["time"].max() < EVAL
    assert list(split.labels.index) == list(split.past.customers)
    window = lines[(lines["time"] >= EVAL) & (lines["time"] < split.end)]
    buyers = set(window.loc[~window["invoice_id"].str.startswith("C"), "customer_id"])
    hand = split.labels.index.isin(list(buyers))
    assert (split.labels["purchased"].to_numpy() == hand).mean() > 0.99
    assert (split.labels["value"] >= 0).all()
    churn = ChurnModel("base_rate").target(temporal_split(history, EVAL, 90).labels)
    assert churn.mean() == pytest.approx(
        1 - temporal_split(history, EVAL, 90).labels.purchased.mean()
    )


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("kind", KINDS)
def test_save_then_load_predicts_the_same(fitted, history, tmp_path, task, kind):
    model = fitted[task, kind]
    path = model.save(tmp_path / f"{task}-{kind}")
    assert sorted(p.name for p in path.iterdir()) == ["model.json", "weights.safetensors"]
    loaded = type(model).load(path)
    past = history.until(EVAL)
    pd.testing.assert_series_equal(loaded.predict_proba(past), model.predict_proba(past))
    assert loaded.get_params() == model.get_params()
    with pytest.raises(ValueError, match="holds a"):
        (ChurnModel if task == "next_purchase" else NextPurchaseModel).load(path)


def test_exported_trees_score_like_scikit_learn(fitted, history):
    model = fitted["next_purchase", "gbm"]
    x = model_inputs(history.until(EVAL), model.feature_names_, model.config.max_length)
    ours = model.learner_.predict(x)
    theirs = model.learner_.estimator_.predict_proba(x.static.astype(np.float64))[:, 1]
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


def test_gru_is_seeded(history, fitted):
    train = history.until(EVAL)
    again = NextPurchaseModel("gru", **FAST).fit(train, fitted["next_purchase", "gru"].cutoffs_)
    a = again.predict_proba(train)
    pd.testing.assert_series_equal(a, fitted["next_purchase", "gru"].predict_proba(train))


def test_one_order_customers_are_scored(fitted, history):
    past = history.until(EVAL)
    single = past.features().query("frequency == 1").index
    assert len(single) > 10
    for model in fitted.values():
        p = model.predict_proba(past).loc[single]
        assert p.between(0, 1).all() and p.notna().all()


def test_bad_input_gets_a_clear_message(history, fitted):
    with pytest.raises(ValueError, match="no customer has a purchase before the cut-off"):
        temporal_split(history, "2010-11-01", 30)
    with pytest.raises(ValueError, match="after the end of the data"):
        temporal_split(history, "2012-01-01", 30)
    with pytest.raises(
        ValueError, match=r"runs past the end of the data .* on or before 2011-11-10"
    ):
        temporal_split(history, "2011-11-20", 30)
    with pytest.raises(ValueError, match="kind must be one of"):
        NextPurchaseModel("bgnbd").fit(history.until(EVAL))
    with pytest.raises(TypeError, match="unknown parameter"):
        NextPurchaseModel("gru", epoch=3)
    with pytest.raises(RuntimeError, match="not fitted"):
        NextPurchaseModel("logreg").predict_proba(history)
    with pytest.raises(ValueError, match="nobody to score"):
        fitted["churn", "logreg"].predict_proba(history.until("2010-11-01"))
    with pytest.raises(ValueError, match="no training cut-off fits"):
        rolling_cutoffs(history.until("2011-01-01"), 90)


def test_calibration_table_and_plot(fitted, history, tmp_path):
    model = fitted["next_purchase", "gbm"]
    split = temporal_split(history, EVAL, 30)
    y, p = aligned(model.target(split.labels), model.predict_proba(split.past))
    table = calibration_table(y, p, n_bins=5)
    assert len(table) == 5 and table["n"].sum() == len(y)
    assert table["observed"].iloc[-1] > table["observed"].iloc[0] + 0.2
    path = calibration_plot({"gbm": (y, p)}, tmp_path / "cal.png", title="purchase")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
