import numpy as np
import pytest
import scipy.sparse as sp

from shopsense.recommend.neighbors import ItemKNN, UserKNN, top_k_per_row, weight_matrix
from tests.contracts import check_contract, check_learns


@pytest.mark.parametrize("weighting", ["none", "bm25"])
def test_itemknn_learns_and_keeps_the_contract(ml_split, tmp_path, weighting):
    model, _, _ = check_learns(lambda: ItemKNN(weighting=weighting), ml_split)
    check_contract(model, ml_split, tmp_path)


def test_userknn_learns_and_keeps_the_contract(ml_split, tmp_path):
    model, _, _ = check_learns(lambda: UserKNN(neighbors=50), ml_split)
    check_contract(model, ml_split, tmp_path)


def test_itemknn_scores_are_the_sum_of_explained_contributions(ml_split):
    model = ItemKNN(neighbors=30).fit(ml_split.train)
    user = ml_split.train.user_ids[5]
    item = model.recommend([user], k=1)[0][0, 0]
    history = model.seen_[5].indices
    i = int(model.item_index([item])[0])
    total = model._contributions(5, i, history).sum()
    assert total == pytest.approx(model.score(np.array([5]))[0, i], rel=1e-5)


def test_shrunk_cosine_by_hand():
    # Items 0 and 1 share one user out of 2 and 1 users: cos = 1 / (sqrt(2) * 1 + shrink)
    x = sp.csr_matrix(np.array([[1, 1], [1, 0]], dtype=np.float32))
    from shopsense.data.views import Interactions

    view = Interactions(
        np.array(["u0", "u1"]), np.array(["i0", "i1"]),
        np.array([0, 0, 1], np.int32), np.array([0, 1, 0], np.int32),
        np.ones(3, np.float32), np.arange(3, dtype=np.int64),
    )  # fmt: skip
    model = ItemKNN(shrink=1.0).fit(view)
    assert model.similarity_[0, 1] == pytest.approx(1 / (np.sqrt(2) + 1.0), rel=1e-5)
    assert model.similarity_[0, 0] == 0
    assert x.nnz == 3


def test_top_k_per_row_keeps_the_largest():
    m = sp.csr_matrix(np.array([[0.1, 0.5, 0.3, 0.0], [0.9, 0.0, 0.2, 0.4]], dtype=np.float32))
    kept = top_k_per_row(m, 2).toarray()
    np.testing.assert_allclose(kept, [[0, 0.5, 0.3, 0], [0.9, 0, 0, 0.4]])


def test_weightings_down_weight_popular_items():
    x = sp.csr_matrix(np.array([[1, 1], [1, 0], [1, 0]], dtype=np.float32))
    for w in ("tfidf", "bm25"):
        m = weight_matrix(x, w).toarray()
        assert m[0, 1] > m[0, 0]  # item 1 is rarer than item 0 (bought by everyone)
    with pytest.raises(ValueError, match="weighting"):
        weight_matrix(x, "nope")
