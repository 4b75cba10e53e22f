"""Customer segments on the bundled UCI Online Retail sample: RFM by hand, determinism,
separation, stability, the ensemble network, profiles, save/load and bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file
from sklearn.metrics import silhouette_score

from shopsense.behavior.segments import (
    RFM_SEGMENTS,
    CustomerAutoencoder,
    CustomerSegmenter,
    EnsembleAutoencoder,
    quantile_score,
    rfm_scores,
)
from shopsense.data.customers import CustomerHistory, product_groups
from shopsense.data.sources import load_sample
from shopsense.recommend.base import NotFittedError

FAST = {"epochs": 5, "stability_seeds": 0, "n_init": 2}


@pytest.fixture(scope="module")
def history():
    tables = load_sample().tables
    return CustomerHistory.from_order_lines(
        tables["order_lines"],
        items=tables["items"],
        groups=product_groups(tables["items"], n_groups=5),
    )


@pytest.fixture(scope="module")
def features(history):
    return history.features()


@pytest.fixture(scope="module")
def learned(history):
    """The learned segmentation with every candidate k and a two-seed stability check."""
    return CustomerSegmenter(random_state=0, k_range=(3, 8), stability_seeds=2).fit(history)


@pytest.fixture(scope="module")
def rfm(features):
    return CustomerSegmenter(method="rfm").fit(features)


def test_same_seed_gives_the_same_segments(learned, features):
    again = CustomerSegmenter(random_state=0, k_range=(3, 8), stability_seeds=0).fit(features)
    assert np.array_equal(again.labels_, learned.labels_)
    assert again.segment_names_ == learned.segment_names_
    assert again.report()["k_selection"] == learned.report()["k_selection"]


def test_learned_segments_separate_customers(learned, features):
    report = learned.report()
    assert 3 <= report["k"] <= 8 and report["clusterer"] == "consensus"
    assert learned.embedding_.shape == (len(features), 10 * 8)  # ten members of 8 dimensions
    selection = report["k_selection"]
    consensus = selection["consensus"]["scores"]
    assert [s["k"] for s in consensus] == list(range(3, 9))
    assert report["consensus_silhouette"] == max(s["consensus_silhouette"] for s in consensus)
    assert report["k"] == max(consensus, key=lambda s: s["consensus_silhouette"])["k"]
    kmeans = selection["kmeans"]["scores"]
    assert selection["kmeans"]["k"] == max(kmeans, key=lambda s: s["silhouette"])["k"]
    bics = selection["gmm"]["scores"]
    assert selection["gmm"]["k"] == min(bics, key=lambda s: s["bic"])["k"]
    shuffled = np.random.default_rng(0).permutation(learned.labels_)
    chance = silhouette_score(learned.embedding_, shuffled)
    assert report["silhouette"] > chance + 0.1
    money = learned.profiles()["monetary_median"]
    assert money.max() > 3 * money.min()  # segments differ in value, not only in noise
    stability = report["stability"]
    assert 0.5 < stability["ari_mean"] <= 1.0
    assert stability["seeds"] == [0, 1] and len(stability["k_chosen"]) == 2
    assert stability["k_chosen"][0] == report["k"] and -1 <= stability["ari_mean_own_k"] <= 1


def test_the_ensemble_network_is_its_members_side_by_side():
    members = []
    for seed in (3, 4, 5):
        torch.manual_seed(seed)
        members.append(CustomerAutoencoder(6, 5, 2))
    ensemble = EnsembleAutoencoder.of(members)
    x = torch.randn(7, 6)
    with torch.no_grad():
        recon, z = ensemble(x)
        for i, member in enumerate(members):
            want_recon, want_z = member(x)
            torch.testing.assert_close(z[i], want_z)
            torch.testing.assert_close(recon[i], want_recon)
    # each member's error has its own gradient: one member's loss moves only its weights
    loss = ((ensemble(x)[0][1] - x) ** 2).mean()
    loss.backward()
    grad = ensemble.weights[0].grad
    assert grad is not None and grad[1].abs().sum() > 0 and grad[[0, 2]].abs().sum() == 0


def test_rfm_scores_match_a_hand_count(rfm, features):
    def by_hand(column, value, sign=1):
        ref = sign * features[column].to_numpy()
        below, equal = (ref < sign * value).sum(), (ref == sign * value).sum()
        return min(5, 1 + math.floor(5 * (below + equal / 2) / len(ref)))

    single = features.index[features["frequency"] == 1][0]
    recent = features["recency_days"].idxmin()
    scores = rfm_scores(features)
    for customer in ["12348", single, recent]:
        row = features.loc[customer]
        r = by_hand("recency_days", row["recency_days"], sign=-1)
        f = by_hand("frequency", row["frequency"])
        m = by_hand("monetary", row["monetary"])
        assert tuple(scores.loc[customer]) == (r, f, m)
        name = _rule_by_hand(r, f, m)
        position = features.index.get_loc(customer)
        assert rfm.segment_names_[rfm.labels_[position]] == name
    assert scores.loc[recent, "r_score"] == 5
    # ties share a score: every one-order customer gets the same frequency score
    assert scores.loc[features["frequency"] == 1, "f_score"].nunique() == 1
    assert list(quantile_score([1, 1, 2, 3], [1, 1, 2, 3])) == [2, 2, 4, 5]


def _rule_by_hand(r: int, f: int, m: int) -> str:
    fm = (f + m) / 2
    if r >= 4 and f >= 4 and m >= 4:
        return "champions"
    if r >= 3 and f >= 4:
        return "loyal"
    if r <= 2 and fm >= 4:
        return "lapsed high-value"
    if r <= 2 and fm >= 3:
        return "at risk"
    if r >= 4:
        return "new" if f == 1 else "promising"
    if r == 3:
        return "potential loyal" if fm >= 3 else "needs attention"
    return "hibernating" if r == 2 else "lost"


@pytest.mark.parametrize("which", ["learned", "rfm"])
def test_profiles_cover_every_customer_and_all_revenue(which, request, features):
    model = request.getfixturevalue(which)
    profiles = model.profiles()
    assert profiles["customers"].sum() == len(features)
    assert profiles["customer_share"].sum() == pytest.approx(1.0)
    assert profiles["revenue_share"].sum() == pytest.approx(1.0)
    assert profiles["name"].is_unique and (profiles["name"].str.len() > 0).all()
    assert profiles["top_groups"].str.contains("%").all()
    assert set(model.report()["sizes"].values()) <= set(profiles["customers"])
    if which == "rfm":
        assert set(profiles["name"]) <= {name for name, _ in RFM_SEGMENTS}
        champions = profiles.set_index("name").loc["champions"]
        assert champions["monetary_median"] == profiles["monetary_median"].max()
    else:  # segments are numbered by revenue, largest first
        assert profiles["revenue_share"].is_monotonic_decreasing


@pytest.mark.parametrize(
    "params",
    [
        {"method": "rfm"},
        {"k": 4, **FAST},
        {"k": 4, "clusterer": "kmeans", **FAST},
        {"k": 4, "clusterer": "gmm", "ensemble": 3, **FAST},
    ],
    ids=["rfm", "consensus", "kmeans", "gmm"],
)
def test_save_then_load_predicts_the_same(params, features, tmp_path):
    model = CustomerSegmenter(**params).fit(features)
    folder = model.save(tmp_path / "segments")
    png = model.plot(folder)
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert not list(folder.glob("*.tmp"))
    loaded = CustomerSegmenter.load(folder)
    new = features.sample(200, random_state=1)
    assert np.array_equal(loaded.predict(new), model.predict(new))
    assert np.array_equal(model.predict(features), model.labels_)
    pd.testing.assert_frame_equal(loaded.profiles(), model.profiles())
    assert loaded.report() == model.report()
    assert json.loads((folder / "profiles.json").read_text())[0]["name"] == model.segment_names_[0]
    names = loaded.predict_names(new)
    assert list(names.index) == list(new.index) and set(names) <= set(model.segment_names_)


def test_a_segmenter_saved_before_ensembles_still_loads(features, tmp_path):
    """Written as one autoencoder: no `ensemble` in the config, no member scaling, the
    network's own weight names and k-means centres on the raw embedding."""
    model = CustomerSegmenter(k=3, clusterer="kmeans", ensemble=1, **FAST).fit(features)
    folder = model.save(tmp_path / "old")
    meta = json.loads((folder / "model.json").read_text())
    del meta["config"]["ensemble"]
    (folder / "model.json").write_text(json.dumps(meta))
    with np.load(folder / "arrays.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    centre, spread = arrays.pop("members.centre"), arrays.pop("members.spread")
    arrays["clusters.centers"] = arrays["clusters.centers"] * spread[0] + centre[0]
    np.savez(folder / "arrays.npz", **arrays)
    names = ("encoder.0", "encoder.2", "decoder.0", "decoder.2")
    state = load_file(folder / "weights.safetensors")
    old = {f"{n}.weight": state[f"weights.{j}"][0].T.contiguous() for j, n in enumerate(names)}
    old |= {f"{n}.bias": state[f"biases.{j}"][0].contiguous() for j, n in enumerate(names)}
    save_file(old, folder / "weights.safetensors")
    loaded = CustomerSegmenter.load(folder)
    assert loaded.config.ensemble == 1
    assert np.array_equal(loaded.predict(features), model.labels_)


def test_bad_input_gets_a_clear_message(features):
    with pytest.raises(ValueError, match="empty"):
        CustomerSegmenter(**FAST).fit(features.iloc[:0])
    with pytest.raises(ValueError, match="too few for k=10"):
        CustomerSegmenter(**FAST).fit(features.head(12))
    with pytest.raises(ValueError, match=r"missing column.*monetary"):
        CustomerSegmenter(**FAST).fit(features.drop(columns=["monetary"]))
    with pytest.raises(ValueError, match="not numeric"):
        CustomerSegmenter(**FAST).fit(features.assign(country="UK"))
    with pytest.raises(ValueError, match="infinite"):
        CustomerSegmenter(**FAST).fit(features.assign(basket_value=np.inf))
    with pytest.raises(ValueError, match="method must be"):
        CustomerSegmenter(method="dbscan").fit(features)
    with pytest.raises(ValueError, match="ensemble >= 1"):
        CustomerSegmenter(ensemble=0).fit(features)
    with pytest.raises(ValueError, match="fixed named segments"):
        CustomerSegmenter(method="rfm", k=4).fit(features)
    with pytest.raises(NotFittedError, match="not fitted"):
        CustomerSegmenter().predict(features)
    model = CustomerSegmenter(k=3, **FAST).fit(features)
    with pytest.raises(ValueError, match=r"lack column.*tenure_days"):
        model.predict(features.drop(columns=["tenure_days"]))


def test_single_orders_and_empty_columns_are_handled(features):
    single = features[features["frequency"] == 1].head(60)
    assert single["gap_mean_days"].isna().all()
    frame = single.assign(discount_share=np.nan)
    model = CustomerSegmenter(k=3, **FAST).fit(frame)
    notes = " ".join(model.report()["notes"])
    assert "gap_mean_days" in notes and "discount_share" in notes
    assert np.isfinite(model.embedding_).all() and len(set(model.labels_)) == 3
    # fitted with gaps, the single-order customers get a gap indicator and finite embeddings
    mixed = CustomerSegmenter(k=3, **FAST).fit(features)
    assert "gap_mean_days_missing" in mixed.report()["features"]
    one = features.loc[[single.index[0]]].assign(basket_lines=np.nan)
    assert np.isfinite(mixed.transform(one)).all() and mixed.predict(one).shape == (1,)
