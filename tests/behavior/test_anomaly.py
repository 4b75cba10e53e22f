"""Anomaly detection on real slices: the bundled UCI sample (orders) and the DIGINETICA
sample (sessions). Both detectors must rank seeded injected anomalies first, say why, score
the same for a seed, survive save/load, and reject bad input with a clear message."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shopsense.behavior.anomaly import (
    LABEL_DEFINING,
    IsolationForestDetector,
    SequenceAutoencoder,
    evaluate_orders,
    evaluate_sessions,
    inject_orders,
    inject_sessions,
    load_detector,
    order_labels,
    ranking_quality,
    temporal_split,
)
from shopsense.data.references import order_reference, session_reference
from shopsense.data.sources import load_sample, load_source
from shopsense.data.units import Units, order_units, session_units
from shopsense.recommend.base import NotFittedError
from tests.public_data import corpus

PRICE_FEATURES = {"price_ratio_min", "off_price_share", "line.price_ratio"}
SPEED_FEATURES = {"events_log", "duration_log", "gap_mean_log", "gap_min_log", "gap_max_log"}


def autoencoder(**params):
    return SequenceAutoencoder(**{"epochs": 10, "random_state": 0, **params})


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def lines():
    return load_sample().order_lines_view()


@pytest.fixture(scope="module")
def orders(lines):
    """Earlier 70 % of the sample's invoices to fit on, later 30 % to test; without the
    features that define real labels, as `evaluate_orders` does."""
    start = lines.groupby("invoice_id")["time"].min()
    train_ids, test_ids = temporal_split(start, 0.3)
    train_lines = lines[lines["invoice_id"].isin(train_ids)]
    test_lines = lines[lines["invoice_id"].isin(test_ids)]
    reference = order_reference(train_lines)
    train = order_units(train_lines, reference=reference).without(LABEL_DEFINING)
    return train, test_lines, reference


@pytest.fixture(scope="module")
def order_detectors(orders):
    train = orders[0]
    return {"if": IsolationForestDetector().fit(train), "ae": autoencoder().fit(train)}


@pytest.fixture(scope="module")
def injected_orders(orders):
    _, test_lines, reference = orders
    out = {}
    for kind in ("bulk_fraud", "price_manipulation"):
        frame, ids = inject_orders(test_lines, kind, reference=reference, rate=0.03)
        out[kind] = (order_units(frame, reference=reference).without(LABEL_DEFINING), ids)
    return out


@pytest.fixture(scope="module")
def events():
    """The first 1,500 sessions of the DIGINETICA sample (by session start)."""
    ev = load_source("diginetica-sample", corpus("diginetica-sample")).tables["events"]
    first = ev.groupby("session_id")["timestamp"].min().sort_values().index[:1500]
    return ev[ev["session_id"].isin(first)]


@pytest.fixture(scope="module")
def sessions(events):
    start = events.groupby("session_id")["timestamp"].min()
    train_ids, test_ids = temporal_split(start, 0.3)
    reference = session_reference(events[events["session_id"].isin(train_ids)])
    train = session_units(events[events["session_id"].isin(train_ids)], reference=reference)
    test_events = events[events["session_id"].isin(test_ids)]
    detectors = {"if": IsolationForestDetector().fit(train), "ae": autoencoder().fit(train)}
    injected = {}
    for kind in ("fast_bot", "regular_bot"):
        frame, ids = inject_sessions(test_events, kind, rate=0.05)
        injected[kind] = (session_units(frame, reference=reference), ids)
    return detectors, injected


def auc(detector, units, ids):
    scores = detector.score(units)
    return ranking_quality(scores, pd.Series(scores.index.isin(ids), scores.index))["roc_auc"]


# --------------------------------------------------------------------------- units
def test_price_manipulation_sets_the_price_ratio(orders):
    _, test_lines, reference = orders
    frame, ids = inject_orders(
        test_lines, "price_manipulation", reference=reference, rate=0.03, random_state=1
    )
    units = order_units(frame, reference=reference)
    ratios = units.features.loc[ids, "price_ratio_min"]
    assert len(ids) == round(0.03 * test_lines["invoice_id"].nunique())
    assert ratios.between(np.log(0.05) - 1e-9, np.log(0.3) + 1e-9).all()
    again, same = inject_orders(
        test_lines, "price_manipulation", reference=reference, rate=0.03, random_state=1
    )
    assert list(same) == list(ids) and again.equals(frame)


def test_session_features_of_a_bot(events):
    frame, ids = inject_sessions(events, "regular_bot", rate=0.01)
    units = session_units(frame)
    bot = units.features.loc[ids[0]]
    assert bot["gap_cv"] == pytest.approx(0.0, abs=1e-9)
    assert bot["events_log"] >= np.log1p(5)
    fast, fast_ids = inject_sessions(events, "fast_bot", rate=0.01)
    gaps = session_units(fast).features.loc[fast_ids, "gap_mean_log"]
    assert (gaps < np.log1p(5.0)).all()


def test_real_order_labels(lines, orders):
    reference = orders[2]
    labels = order_labels(lines, reference=reference, quantity_limit=1000)
    assert (
        labels["cancellation"].sum()
        == lines.loc[lines["invoice_id"].str.startswith("C"), "invoice_id"].nunique()
    )
    manual = lines.loc[lines["kind"] == "adjustment", "invoice_id"].unique()
    assert set(labels.index[labels["manual_adjustment"]]) == set(manual)
    big = lines.loc[lines["quantity"].abs() >= 1000, "invoice_id"].unique()
    assert set(labels.index[labels["extreme_quantity"]]) == set(big)


# --------------------------------------------------------------------------- detectors
@pytest.mark.parametrize(
    ("name", "kind", "least"),
    [
        ("if", "bulk_fraud", 0.9),
        ("ae", "bulk_fraud", 0.9),
        # One re-priced line among many moves two of 15 features: the forest's random
        # splits rarely pick them (0.77 here; the baseline's weak spot).
        ("if", "price_manipulation", 0.7),
        ("ae", "price_manipulation", 0.8),
    ],
)
def test_injected_orders_rank_first(order_detectors, injected_orders, name, kind, least):
    units, ids = injected_orders[kind]
    assert auc(order_detectors[name], units, ids) > least


@pytest.mark.parametrize("name", ["if", "ae"])
def test_fast_bots_rank_first(sessions, name):
    detectors, injected = sessions
    assert auc(detectors[name], *injected["fast_bot"]) > 0.9


def test_regular_bots(sessions):
    """IsolationForest finds the too-regular bots; the autoencoder, which rebuilds regular
    gaps as easily as any, is weaker (see docs/behaviour-anomalies.md), but not blind."""
    detectors, injected = sessions
    assert auc(detectors["if"], *injected["regular_bot"]) > 0.8
    assert auc(detectors["ae"], *injected["regular_bot"]) > 0.6


@pytest.mark.parametrize("name", ["if", "ae"])
def test_explanations_name_the_price(order_detectors, injected_orders, name):
    units, ids = injected_orders["price_manipulation"]
    explained = order_detectors[name].explain(units.subset(ids), top=3)
    assert list(explained.columns) == ["unit", "rank", "feature", "value", "typical", "weight"]
    assert len(explained) == 3 * len(ids)
    named = explained.groupby("unit")["feature"].agg(lambda f: bool(PRICE_FEATURES & set(f)))
    assert named.mean() >= 0.8
    first = explained.groupby("unit")["weight"].first()
    assert (explained.groupby("unit")["weight"].min() <= first).all()


@pytest.mark.parametrize("name", ["if", "ae"])
def test_explanations_name_the_speed_of_fast_bots(sessions, name):
    detectors, injected = sessions
    units, ids = injected["fast_bot"]
    explained = detectors[name].explain(units.subset(ids), top=3)
    named = explained.groupby("unit")["feature"].agg(lambda f: bool(SPEED_FEATURES & set(f)))
    assert named.all()


def test_forest_scores_equal_scikit_learn(orders):
    from sklearn.ensemble import IsolationForest

    train = orders[0]
    x = train.features.to_numpy(dtype=np.float32)
    ours = IsolationForestDetector(random_state=3).fit(train).score(train).to_numpy()
    theirs = -IsolationForest(max_samples=256, random_state=3).fit(x).score_samples(x)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


@pytest.mark.parametrize("make", [IsolationForestDetector, lambda **p: autoencoder(epochs=2, **p)])
def test_scores_are_deterministic_for_a_seed(orders, make):
    units = orders[0].sample(300)
    first = make(random_state=5).fit(units).score(units)
    again = make(random_state=5).fit(units).score(units)
    other = make(random_state=6).fit(units).score(units)
    pd.testing.assert_series_equal(first, again)
    assert not np.allclose(first, other)


@pytest.mark.parametrize("name", ["if", "ae"])
def test_save_and_load_keep_the_scores(order_detectors, injected_orders, tmp_path, name):
    detector = order_detectors[name]
    units, ids = injected_orders["price_manipulation"]
    detector.save(tmp_path / name)
    assert not list((tmp_path / name).glob("*.pkl")) and not list((tmp_path / name).glob(".*"))
    loaded = load_detector(tmp_path / name)
    assert type(loaded) is type(detector) and loaded.get_params() == detector.get_params()
    pd.testing.assert_series_equal(loaded.score(units), detector.score(units))
    sub = units.subset(ids[:5])
    pd.testing.assert_frame_equal(loaded.explain(sub), detector.explain(sub))
    other = IsolationForestDetector if name == "ae" else SequenceAutoencoder
    with pytest.raises(ValueError, match="holds a"):
        other.load(tmp_path / name)


# --------------------------------------------------------------------------- evaluation
def test_evaluate_orders_and_sessions_tables(lines, events):
    fast = {"isolation_forest": IsolationForestDetector}
    table = evaluate_orders(lines, detectors=fast, seeds=(0, 1))
    assert set(table["label"]) == {
        "cancellation",
        "manual_adjustment",
        "extreme_quantity",
        "off_price",
        "bulk_fraud",
        "price_manipulation",
    }
    assert table["roc_auc"].between(0, 1).all() and (table["positives"] > 0).all()
    injected = table[table["label_kind"].str.startswith("injected")]
    assert injected["roc_auc_sd"].notna().all()
    sessions = evaluate_sessions(events, detectors=fast, seeds=(0,))
    assert set(sessions["label"]) == {"fast_bot", "regular_bot"}
    assert list(sessions.columns) == list(table.columns)


# --------------------------------------------------------------------------- bad input
def test_a_unit_with_one_line_is_scored(lines, order_detectors, events, sessions):
    one = lines.head(1)
    units = order_units(one, reference=order_reference(lines)).without(LABEL_DEFINING)
    assert len(units) == 1 and len(units.steps) == 1
    for detector in order_detectors.values():
        assert np.isfinite(detector.score(units)).all()
        assert len(detector.explain(units, top=2)) == 2
    single = session_units(events.head(1))
    assert single.features["gap_cv"].iloc[0] == 1.0
    assert np.isfinite(sessions[0]["ae"].score(single)).all()


def test_detectors_refuse_what_they_cannot_score(orders, lines, events):
    train = orders[0]
    with pytest.raises(ValueError, match="at least 2 units"):
        IsolationForestDetector().fit(train.subset(train.ids[:1]))
    with pytest.raises(NotFittedError, match="not fitted"):
        SequenceAutoencoder().score(train)
    fitted = IsolationForestDetector().fit(train)
    with pytest.raises(ValueError, match="lack the fitted feature"):
        fitted.score(train.without(["hour"]))
    with pytest.raises(ValueError, match="session"):
        fitted.score(session_units(events.head(50)))
    with pytest.raises(ValueError, match="unknown features"):
        train.without(["no_such_feature"])
    with pytest.raises(ValueError, match="at least one line"):
        Units("order", train.features, train.steps.iloc[:0], "line", train.start)
    with pytest.raises(ValueError, match="unknown order injection"):
        inject_orders(lines, "robbery", reference=orders[2])
    with pytest.raises(ValueError, match="top must be"):
        fitted.explain(train, top=0)
