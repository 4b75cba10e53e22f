"""Contract checks written once and run for every recommender.

Each model's test module says how to build the model and what quality it must reach; the
checks here hold the model to the shared contract: it learns (beats MostPopular on
held-out data), its top-k is consistent with its scores, it never returns seen items
when asked not to, it explains in terms of the user's items, and it saves and loads
without pickle to identical scores.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shopsense.eval.evaluate import evaluate
from shopsense.eval.splits import Split
from shopsense.recommend.base import NotFittedError, Recommender
from shopsense.recommend.popular import MostPopular


def check_learns(
    make: Callable[[], Recommender],
    split: Split,
    items: pd.DataFrame | None = None,
    *,
    margin: float = 1.1,
) -> tuple[Recommender, float, float]:
    """Fit on train and return (model, its validation NDCG@10, MostPopular's).

    Asserts the model beats MostPopular by `margin` (relative) on full-ranking NDCG@10.
    """
    model = make().fit(split.train, items)
    ours = evaluate(model, split.validation, k=10, metrics=["ndcg"]).metrics["ndcg@10"]
    base_model = MostPopular().fit(split.train)
    base = evaluate(base_model, split.validation, k=10, metrics=["ndcg"]).metrics["ndcg@10"]
    assert ours > margin * base, f"{model!r}: NDCG@10 {ours:.4f} vs MostPopular {base:.4f}"
    return model, ours, base


def check_contract(model: Recommender, split: Split, tmp_path: Path) -> None:
    """Everything a fitted model must do the same way as every other."""
    train = split.train
    users = train.active_users[:50]

    # top-k agrees with the scores and excludes seen items
    idx, scores = model.recommend_indices(users, k=10)
    full = model.score(users)
    assert full.shape == (len(users), train.n_items) and full.dtype == np.float32
    for row, u in enumerate(users):
        seen = set(train.csr[u].indices)
        assert not seen & set(idx[row][idx[row] >= 0])
        np.testing.assert_allclose(scores[row], full[row, idx[row]], rtol=1e-5)
        assert np.all(np.diff(scores[row]) <= 1e-6), "scores must come best first"
        unseen = np.setdiff1d(np.arange(train.n_items), list(seen))
        assert scores[row, 0] == pytest.approx(full[row, unseen].max(), rel=1e-5)

    # ids in, ids out
    ids, _id_scores = model.recommend(train.user_ids[users[:3]], k=5)
    assert ids.shape == (3, 5)
    np.testing.assert_array_equal(ids, train.item_ids[idx[:3, :5]])
    with pytest.raises(KeyError):
        model.recommend(["no-such-user"], k=5)

    # exclude_seen=False may return seen items, and ranks by the raw score
    idx_all, _ = model.recommend_indices(users[:5], k=10, exclude_seen=False)
    top_scores = full[np.arange(5), idx_all[:, 0]]
    np.testing.assert_allclose(top_scores, full[:5].max(axis=1), rtol=1e-6)  # ties may differ

    # similar items: k per item, never the item itself
    item = train.item_ids[train.item_idx[0]]
    sim_ids, _sim_scores = model.similar_items([item], k=5)
    assert sim_ids.shape == (1, 5) and item not in sim_ids[0]

    # explanation in terms of the user's own items
    user = train.user_ids[users[0]]
    rec_item = model.recommend([user], k=1)[0][0, 0]
    why = model.explain(user, rec_item)
    if why.reason == "history":
        history = set(train.item_ids[train.csr[users[0]].indices])
        assert why.because and {i for i, _ in why.because} <= history
        assert why.text().startswith("because you")

    # save -> load gives identical scores, with no pickle anywhere
    folder = model.save(tmp_path / "model")
    with np.load(folder / "arrays.npz", allow_pickle=False) as npz:
        assert all(npz[k].dtype != object for k in npz.files)
    loaded = type(model).load(folder)
    np.testing.assert_array_equal(loaded.score(users), full)
    np.testing.assert_array_equal(loaded.recommend_indices(users, k=10)[0], idx)

    # a fresh model refuses to score
    with pytest.raises(NotFittedError):
        type(model)().score(users)

    check_fold_in_and_retrieval(model, users[:8], full[:8])


def check_fold_in_and_retrieval(model: Recommender, users: np.ndarray, full: np.ndarray) -> None:
    """A user's own history, scored as a new history, ranks unseen items like the model does
    (fold-in), and dot-product models' query · item vectors reproduce their scores."""
    if model.scores_histories:
        folded = model.score_histories([model.history_of(u) for u in users])
        assert folded.shape == full.shape and folded.dtype == np.float32
        for row, u in enumerate(users):
            unseen = np.setdiff1d(np.arange(model.n_items), model.seen_[u].indices)
            r = np.corrcoef(folded[row, unseen], full[row, unseen])[0, 1]
            assert r > 0.9, f"{model.name}: fold-in of user {u} correlates {r:.3f} with score"
        assert model.score_histories([]).shape == (0, model.n_items)
        with pytest.raises(IndexError):
            model.score_histories([np.array([model.n_items])])
    else:
        with pytest.raises(NotImplementedError):
            model.score_histories([model.history_of(users[0])])
    vectors = model.item_embeddings()
    if vectors is not None:
        queries = model.user_queries(users)
        assert vectors.dtype == np.float32 and queries.shape == (len(users), vectors.shape[1])
        np.testing.assert_allclose(queries @ vectors.T, full, rtol=1e-4, atol=1e-4)
