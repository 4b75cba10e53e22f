import numpy as np
import pytest
import scipy.sparse as sp

from shopsense.recommend.ease import EASE, ease_weights
from tests.contracts import check_contract, check_learns


def test_ease_learns_and_keeps_the_contract(ml_split, tmp_path):
    model, _, _ = check_learns(lambda: EASE(l2=500.0), ml_split)
    check_contract(model, ml_split, tmp_path)


def test_closed_form_matches_a_direct_inverse(rng):
    x = sp.random(300, 40, density=0.1, format="csr", random_state=2, dtype=np.float32)
    x.data[:] = 1
    gram = (x.T @ x).toarray().astype(np.float64) + 5.0 * np.eye(40)
    p = np.linalg.inv(gram)
    expected = -p / np.diag(p)[None, :]
    np.fill_diagonal(expected, 0.0)
    got = ease_weights(gram.astype(np.float32).copy())
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert np.all(np.diag(got) == 0)


def test_explanations_add_up_to_the_score(ml_split):
    model = EASE(l2=500.0).fit(ml_split.train)
    u = 7
    item = int(model.recommend_indices([u], k=1)[0][0, 0])
    parts = model._contributions(u, item, model.seen_[u].indices)
    assert parts.sum() == pytest.approx(model.score([u])[0, item], rel=1e-4)


def test_rejects_non_positive_l2(ml_split):
    with pytest.raises(ValueError, match="l2"):
        EASE(l2=0).fit(ml_split.train)


def test_weights_are_row_major_for_fast_scoring(ml_split):
    assert EASE(l2=500.0).fit(ml_split.train).weights_.flags["C_CONTIGUOUS"]
