import numpy as np
import pytest
import scipy.sparse as sp

from shopsense.recommend import base
from shopsense.recommend.base import (
    Explanation,
    NotFittedError,
    sparse_rows_times_dense,
    top_k,
)
from shopsense.recommend.popular import MostPopular


def test_top_k_orders_best_first_and_pads_excluded():
    scores = np.array([[0.1, 0.9, -np.inf, 0.5], [-np.inf, -np.inf, 0.2, -np.inf]], np.float32)
    idx, val = top_k(scores, 3)
    np.testing.assert_array_equal(idx, [[1, 3, 0], [2, -1, -1]])
    np.testing.assert_allclose(val[0], [0.9, 0.5, 0.1])
    assert np.isneginf(val[1, 1:]).all()


def test_top_k_matches_full_sort(rng):
    scores = rng.standard_normal((50, 300)).astype(np.float32)
    idx, _ = top_k(scores, 10)
    np.testing.assert_array_equal(idx, np.argsort(-scores, axis=1)[:, :10])


def test_explanation_text_uses_titles():
    why = Explanation("u", "i9", 1.0, [("i1", 0.5), ("i2", 0.2), ("i3", -0.1)])
    assert why.text({"i1": "Red mug", "i2": "Blue mug"}) == "because you bought Red mug, Blue mug"
    assert (
        Explanation("u", "i9", 1.0, [], reason="popular").text()
        == "i9 is popular with other customers"
    )


def test_unfitted_model_says_so():
    with pytest.raises(NotFittedError, match="fit"):
        MostPopular().recommend(["u"], k=3)


def test_bad_arguments(ml_split):
    model = MostPopular().fit(ml_split.train)
    with pytest.raises(ValueError, match="k must"):
        model.recommend_indices([0], k=0)
    with pytest.raises(IndexError):
        model.score([10_000])
    with pytest.raises(TypeError, match="list"):
        model.recommend("1", k=3)
    with pytest.raises(TypeError):
        MostPopular(not_a_param=1)


def test_recommend_pads_when_the_catalogue_runs_out(ml_split):
    model = MostPopular().fit(ml_split.train)
    idx, _ = model.recommend_indices([0], k=model.n_items)
    n_seen = model.seen_[0].nnz
    assert (idx[0] == -1).sum() == n_seen
    ids, _ = model.recommend([ml_split.train.user_ids[0]], k=model.n_items)
    assert (ids[0] == "").sum() == n_seen


def test_load_refuses_another_model_kind(ml_split, tmp_path):
    from shopsense.recommend.neighbors import ItemKNN

    folder = MostPopular().fit(ml_split.train).save(tmp_path / "m")
    with pytest.raises(ValueError, match="popular"):
        ItemKNN.load(folder)


@pytest.mark.parametrize("rows", [[3], [0, 3, 5], list(range(40)), [], [39, 3, 3]])
def test_sparse_rows_times_dense_equals_the_sparse_product(rows, monkeypatch):
    rng = np.random.default_rng(0)
    x = sp.random(40, 30, density=0.1, format="csr", random_state=1, dtype=np.float32)
    x = sp.csr_matrix(x.multiply(np.arange(40)[:, None] != 3))  # row 3 is empty
    dense = rng.standard_normal((30, 7)).astype(np.float32)
    expected = np.asarray(x[rows] @ dense).reshape(len(rows), 7)
    got = sparse_rows_times_dense(x, np.array(rows, dtype=np.int64), dense)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    monkeypatch.setattr(base, "_GATHER_FLOATS", 0)  # the sparse-product branch
    got = sparse_rows_times_dense(x, np.array(rows, dtype=np.int64), dense)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
