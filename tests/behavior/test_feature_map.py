"""Customer models read new data through the product groups they were fitted on, on the
bundled UCI sample: after the catalogue changes (new items, groups renamed and regrouped)
their outputs stay what they were, also after save -> load; data they cannot read is
refused with CannotScore, which says what to do."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from shopsense.behavior.feature_map import GROUP_PREFIX, CannotScore, FeatureMap
from shopsense.behavior.predict import NextPurchaseModel, rolling_cutoffs
from shopsense.behavior.segments import CustomerSegmenter
from shopsense.data.customers import CustomerHistory, product_groups
from shopsense.data.sources import load_sample

FAST = {"epochs": 5, "stability_seeds": 0, "n_init": 2, "ensemble": 2}
EVAL = pd.Timestamp("2011-09-01")


@pytest.fixture(scope="module")
def tables():
    return load_sample().tables


@pytest.fixture(scope="module")
def history(tables):
    groups = product_groups(tables["items"], n_groups=5)
    return CustomerHistory.from_order_lines(
        tables["order_lines"], items=tables["items"], groups=groups
    )


@pytest.fixture(scope="module")
def changed(tables, history):
    """The same orders after a catalogue change: 40 new items and groups found anew (other
    names, other splits), as `CustomerHistory.from_store` would compute them today."""
    new = pd.DataFrame(
        {
            "item_id": [f"NEW{i}" for i in range(40)],
            "title": [f"GARDEN GNOME {c} SET" for c in ("RED", "BLUE", "GREEN", "GOLD")] * 10,
            "kind": "product",
        }
    )
    items = pd.concat([tables["items"], new], ignore_index=True)
    return history.with_groups(product_groups(items, n_groups=7, seed=3))


def group_columns(frame: pd.DataFrame) -> set[str]:
    return {c for c in frame.columns if c.startswith(GROUP_PREFIX)}


def test_the_change_moves_the_group_columns(history, changed):
    assert group_columns(history.features()) != group_columns(changed.features())


def test_a_segmenter_scores_a_changed_catalogue_as_before(history, changed, tmp_path):
    model = CustomerSegmenter(k=3, random_state=0, **FAST).fit(history)
    before = model.predict(history)
    assert np.array_equal(before, model.labels_)
    assert np.array_equal(model.predict(changed), before)
    assert list(model.features(changed).columns) == model.scaler_.columns
    loaded = CustomerSegmenter.load(model.save(tmp_path / "seg"))
    assert np.array_equal(loaded.predict(changed), before)
    saved = json.loads((tmp_path / "seg" / "model.json").read_text())
    assert sum(len(v) for v in saved["feature_map"]["groups"].values()) == len(history.groups)


def test_unknown_items_count_as_other(tables, history):
    """Lines of an item the fitted mapping does not know: no error, no column of its own."""
    model = CustomerSegmenter(method="rfm").fit(history)
    lines = tables["order_lines"].copy()
    customer = history.features()["monetary"].idxmax()
    mine = lines["customer_id"].astype(str) == customer
    lines.loc[mine, "item_id"] = "BRAND-NEW"
    renamed = CustomerHistory.from_order_lines(lines, items=tables["items"])
    features = model.features(renamed)
    assert list(features.columns) == model.scaler_.columns
    known = sorted(group_columns(features) - {f"{GROUP_PREFIX}other"})
    assert len(known) >= 4 and features.loc[customer, known].sum() == pytest.approx(0.0)
    assert model.predict_names(renamed)[customer] in model.segment_names_


def test_a_model_without_groups_refuses_other_groups(history, changed):
    """Fitted on a features frame, a segmenter cannot know the item -> group mapping."""
    model = CustomerSegmenter(method="rfm").fit(history.features())
    assert model.feature_map_.groups is None
    assert np.array_equal(model.predict(history), model.labels_)
    with pytest.raises(CannotScore, match=r"other product groups.*retrain"):
        model.predict(changed)
    with pytest.raises(CannotScore, match=r"lack column.*tenure_days"):
        model.predict(history.features().drop(columns="tenure_days"))


def test_a_predictor_scores_a_changed_catalogue_as_before(history, changed, tmp_path):
    past = history.until(EVAL)
    model = NextPurchaseModel("logreg").fit(past, rolling_cutoffs(past, 30, n=2))
    assert any(c.startswith(GROUP_PREFIX) for c in model.feature_names_)
    before = model.predict_proba(past)
    pd.testing.assert_series_equal(model.predict_proba(changed.until(EVAL)), before)
    folder = model.save(tmp_path / "np")
    loaded = NextPurchaseModel.load(folder)
    pd.testing.assert_series_equal(loaded.predict_proba(changed.until(EVAL)), before)
    meta = json.loads((folder / "model.json").read_text())
    del meta["feature_map"]  # a model saved before maps were kept
    (folder / "model.json").write_text(json.dumps(meta))
    older = NextPurchaseModel.load(folder)
    pd.testing.assert_series_equal(older.predict_proba(past), before)
    with pytest.raises(CannotScore, match="other product groups"):
        older.predict_proba(changed.until(EVAL))


def test_the_map_round_trips_through_json(history):
    fmap = FeatureMap.of(history, ["frequency", "group_x"])
    back = FeatureMap.from_json(json.loads(json.dumps(fmap.to_json())), [])
    assert back.columns == fmap.columns
    assert back.groups.to_dict() == fmap.groups.to_dict() and len(fmap.groups) > 1000
    assert FeatureMap.from_json(None, ["a"]).groups is None
