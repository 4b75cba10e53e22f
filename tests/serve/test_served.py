"""Serving one model on MovieLens-100k: which users are scored how, filters, and the
detection of events newer than the model."""

from __future__ import annotations

import numpy as np
import pytest

from shopsense.data.views import Interactions
from shopsense.recommend import EASE
from shopsense.recommend.ncf import NeuMF
from shopsense.recommend.sasrec import SASRec
from shopsense.registry import ModelVersion
from shopsense.serve.served import Filters, ServedModel


@pytest.fixture(scope="module")
def old_events(ml_events):
    """Everything but the last 5% of events (by time): what the model was trained on."""
    cut = ml_events["timestamp"].quantile(0.95)
    return ml_events[ml_events["timestamp"] <= cut]


@pytest.fixture(scope="module")
def ease(old_events):
    return EASE(l2=200).fit(Interactions.from_frame(old_events))


def served(model, events, ml_items):
    version = ModelVersion("recommend", model.name, "v0001", None)
    return ServedModel(model, version, ml_items.set_index("item_id"), events)


def test_users_with_newer_events_are_folded_in(ease, ml_events, old_events, ml_items):
    s = served(ease, ml_events, ml_items)
    newer = ml_events[ml_events["timestamp"] > old_events["timestamp"].max()]
    known = set(ease.user_ids_.tolist())
    new_users = set(newer["user_id"]) - known
    newer = newer[newer["item_id"].isin(ease.item_ids_)]  # new items mean nothing to the model
    changed_known = {
        u for u, g in newer.groupby("user_id")
        if u in known and not set(g["item_id"]) <= set(old_events[old_events.user_id == u].item_id)
    }  # fmt: skip
    assert s.live_users == len(changed_known | new_users) > 0
    user = sorted(changed_known)[0]
    answer = s.recommend([user], 10)[0]
    assert answer.source == "fold_in"
    stored = set(ml_events[ml_events.user_id == user]["item_id"])
    assert not stored & set(ease.item_ids_[answer.items])
    unchanged = sorted(known - changed_known)[0]
    assert s.recommend([unchanged], 10)[0].source == "model"


def test_scores_of_a_batch_match_one_by_one(ease, old_events, ml_items):
    s = served(ease, old_events, ml_items)
    users = ["1", "2", "nobody", "3"]
    batch = s.recommend(users, 5)
    for user, answer in zip(users, batch, strict=True):
        alone = s.recommend([user], 5)[0]
        np.testing.assert_array_equal(answer.items, alone.items)
        assert answer.source == alone.source
    assert [a.source for a in batch] == ["model", "model", "cold_start", "model"]


def test_filters_and_padding(ease, old_events, ml_items):
    s = served(ease, old_events, ml_items)
    horror = Filters(categories=("Horror",))
    answer = s.recommend(["1"], 10, filters=horror)[0]
    assert set(s.categories[answer.items]) == {"Horror"}
    rare = sorted(set(ml_items["category"]), key=lambda c: (ml_items["category"] == c).sum())[0]
    few = (ml_items["category"] == rare).sum()
    padded = s.recommend(["nobody"], few + 3, filters=Filters(categories=(rare,)))[0]
    assert (padded.items >= 0).sum() == few and np.isneginf(padded.scores[-1])


def test_events_update_live_histories(ease, old_events, ml_items):
    s = served(ease, old_events, ml_items)
    before = s.recommend(["1"], 5)[0]
    s.add_events(["1", "1", "newbie"], [ease.item_ids_[before.items[0]], "not-an-item", "50"])
    after = s.recommend(["1", "newbie"], 5)
    assert after[0].source == "fold_in" and before.items[0] not in after[0].items
    assert after[1].source == "fold_in" and ease.item_index(["50"])[0] in after[1].history


def test_a_model_that_cannot_fold_in_excludes_only(old_events, ml_items):
    neumf = NeuMF(epochs=1, factors=8, mlp_layers=(16, 8)).fit(Interactions.from_frame(old_events))
    s = served(neumf, old_events, ml_items)
    before = s.recommend(["1"], 5)[0]
    s.add_events(["1", "newbie"], [neumf.item_ids_[before.items[0]], "50"])
    after = s.recommend(["1", "newbie"], 5)
    assert after[0].source == "model" and list(after[0].items[:4]) == list(before.items[1:5])
    assert after[1].source == "cold_start"


def test_a_sequence_model_answers_the_same_from_its_query_cache(old_events, ml_items):
    sasrec = SASRec(epochs=1, hidden=16, max_length=20).fit(Interactions.from_frame(old_events))
    direct = served(sasrec, old_events, ml_items)
    version = ModelVersion("recommend", sasrec.name, "v0001", None)
    cached = ServedModel(
        sasrec, version, ml_items.set_index("item_id"), old_events, query_cache_users=10_000
    )
    assert direct._queries_cache is None and cached._queries_cache is not None
    users = ["1", "2", "nobody", "3"]
    for a, b in zip(direct.recommend(users, 10), cached.recommend(users, 10), strict=True):
        assert a.source == b.source
        np.testing.assert_array_equal(a.items, b.items)
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-4, atol=1e-4)
    small = ServedModel(sasrec, version, ml_items.set_index("item_id"), query_cache_users=10)
    assert small._queries_cache is None  # more users than the limit: computed per request


def test_a_sequence_model_folds_in_new_events(old_events, ml_items):
    sasrec = SASRec(epochs=1, hidden=16, max_length=20).fit(Interactions.from_frame(old_events))
    s = served(sasrec, old_events, ml_items)
    before = s.recommend(["1"], 10)[0]
    s.add_events(["1", "1"], [sasrec.item_ids_[before.items[0]], "50"])
    after = s.recommend(["1"], 10)[0]
    assert after.source == "fold_in" and before.items[0] not in after.items
    assert list(after.history[-2:]) == [before.items[0], sasrec.item_index(["50"])[0]]
    expected = sasrec.score_histories([after.history])[0]
    expected[after.history] = -np.inf
    np.testing.assert_array_equal(after.items, np.argsort(-expected, kind="stable")[:10])
