"""ALS: the shared contract, its exact explanation, determinism and parameter checks."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from shopsense.eval.splits import Split
from shopsense.recommend.factorization import ALS
from tests.contracts import check_contract, check_learns

# Small enough for MovieLens-100k to fit in a few seconds, large enough to learn.
ALS_PARAMS = {"factors": 32, "iterations": 8, "alpha": 4.0, "regularization": 1.0}


@pytest.fixture(scope="module")
def als(ml_split: Split) -> ALS:
    model, _, _ = check_learns(lambda: ALS(**ALS_PARAMS), ml_split)
    return model


def test_als_contract(als: ALS, ml_split: Split, tmp_path: Path) -> None:
    check_contract(als, ml_split, tmp_path)
    assert als.item_vectors().shape == (ml_split.train.n_items, ALS_PARAMS["factors"])


def _direct_user_vector(model: ALS, user: int) -> np.ndarray:
    """x_u = (YᵀC_uY + λI)⁻¹ YᵀC_u p_u by a dense float64 solve (Hu et al., eq. 4)."""
    y = model.item_factors_.astype(np.float64)
    row = model.weights_[user]
    c = np.ones(model.n_items)
    c[row.indices] += model.config.alpha * row.data
    p = np.zeros(model.n_items)
    p[row.indices] = 1.0
    a = (y.T * c) @ y + model.config.regularization * np.eye(y.shape[1])
    return np.linalg.solve(a, y.T @ (c * p))


def test_als_contributions_are_an_exact_decomposition(als: ALS, ml_split: Split) -> None:
    # Whatever CG left behind, the terms add up to the score of the exact solve.
    for user in ml_split.train.active_users[:20]:
        history = als.seen_[user].indices
        x = _direct_user_vector(als, user)
        for item in (0, 7, int(np.argmax(als.score([user])[0]))):
            terms = als._contributions(user, item, history)
            exact = als.item_factors_[item].astype(np.float64) @ x
            assert terms.shape == history.shape
            assert terms.sum() == pytest.approx(exact, rel=1e-6, abs=1e-9)
    # Items the user never touched contribute nothing.
    user = int(ml_split.train.active_users[0])
    unseen = np.setdiff1d(np.arange(als.n_items), als.seen_[user].indices)[:5]
    np.testing.assert_array_equal(als._contributions(user, 3, unseen), 0.0)


def test_als_contributions_reproduce_the_model_score(ml_split: Split) -> None:
    # Users are solved last, so with as many CG steps as factors the score is the exact
    # solve and the explanation adds up to the score the model ranks by.
    model = ALS(factors=16, iterations=3, cg_steps=16, alpha=4.0).fit(ml_split.train)
    for user in ml_split.train.active_users[:30]:
        scores = model.score([user])[0]
        history = model.seen_[user].indices
        scale = np.abs(scores).max()
        for item in (1, int(np.argmax(scores)), int(np.argmin(scores))):
            total = model._contributions(user, item, history).sum()
            assert abs(total - scores[item]) <= 1e-4 * scale
    why = model.explain(ml_split.train.user_ids[0], ml_split.train.item_ids[0])
    assert why.reason == "history" and len(why.because) == 3


def test_als_is_deterministic_and_float32(ml_split: Split) -> None:
    a = ALS(factors=8, iterations=2).fit(ml_split.train)
    b = ALS(factors=8, iterations=2).fit(ml_split.train)
    assert a.user_factors_.dtype == np.float32 and a.item_factors_.dtype == np.float32
    np.testing.assert_array_equal(a.score([0, 1, 2]), b.score([0, 1, 2]))


@pytest.mark.parametrize(
    ("model", "params"),
    [
        (ALS, {"factors": 0}),
        (ALS, {"cg_steps": 0}),
    ],
)
def test_bad_params_fail_at_fit(model: type, params: dict, ml_split: Split) -> None:
    m = model(**params)  # constructing never checks
    with pytest.raises(ValueError):
        m.fit(ml_split.train)


def test_als_rejects_negative_weights(ml_split: Split) -> None:
    train = dataclasses.replace(ml_split.train, weights=-ml_split.train.weights)
    with pytest.raises(ValueError, match="non-negative"):
        ALS(factors=4, iterations=1).fit(train)
