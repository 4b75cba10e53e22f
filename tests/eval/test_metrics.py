"""Metrics against values computed by hand."""

import math

import numpy as np
import pytest
import scipy.sparse as sp

from shopsense.eval import metrics as M

# Two users, 6 items. User 0 has relevant {1, 4}; user 1 has relevant {5}.
TRUTH = sp.csr_matrix(np.array([[0, 1, 0, 0, 1, 0], [0, 0, 0, 0, 0, 1]], dtype=np.float32))
# User 0's list hits at ranks 2 and 3; user 1's list misses; -1 pads.
RECS = np.array([[0, 1, 4], [2, 3, -1]])


def test_hits():
    np.testing.assert_array_equal(M.hits(RECS, TRUTH), [[False, True, True], [False, False, False]])


def test_hit_rate_recall_precision():
    np.testing.assert_allclose(M.hit_rate(RECS, TRUTH), [1.0, 0.0])
    np.testing.assert_allclose(M.recall(RECS, TRUTH), [2 / 2, 0.0])
    np.testing.assert_allclose(M.precision(RECS, TRUTH), [2 / 3, 0.0])


def test_ndcg_by_hand():
    dcg = 1 / math.log2(3) + 1 / math.log2(4)
    idcg = 1 / math.log2(2) + 1 / math.log2(3)
    np.testing.assert_allclose(M.ndcg(RECS, TRUTH), [dcg / idcg, 0.0])


def test_ndcg_ideal_is_capped_at_k():
    truth = sp.csr_matrix(np.ones((1, 5), dtype=np.float32))  # 5 relevant, k = 2
    np.testing.assert_allclose(M.ndcg(np.array([[0, 1]]), truth), [1.0])
    np.testing.assert_allclose(M.ndcg(np.array([[0, 9 % 5]]), truth), [1.0])


def test_single_relevant_item_ndcg_is_one_over_log_rank():
    truth = sp.csr_matrix(([1.0], ([0], [7])), shape=(1, 10))
    for rank in range(5):
        others = [0, 1, 2, 3, 4, 5]
        recs = np.array([[*others[:rank], 7, *others[rank:4]]])
        assert M.ndcg(recs, truth)[0] == pytest.approx(1 / math.log2(rank + 2))


def test_mrr_and_map():
    np.testing.assert_allclose(M.mrr(RECS, TRUTH), [1 / 2, 0.0])
    # AP@3 for user 0: hits at ranks 2 (P=1/2) and 3 (P=2/3), over min(3, 2) relevant
    np.testing.assert_allclose(M.average_precision(RECS, TRUTH), [(1 / 2 + 2 / 3) / 2, 0.0])


def test_coverage():
    assert M.coverage(RECS, 6) == pytest.approx(5 / 6)  # items 0..4 shown, -1 ignored


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="rows"):
        M.hits(RECS[:1], TRUTH)


def test_vectorised_matches_a_plain_loop(rng):
    n, m, k = 200, 50, 10
    truth = sp.random(n, m, density=0.1, format="csr", random_state=1, dtype=np.float32)
    truth.data[:] = 1
    recs = np.array([rng.permutation(m)[:k] for _ in range(n)])
    rel = [set(truth[u].indices) for u in range(n)]
    for u in range(n):
        if not rel[u]:
            continue
        gains = [1.0 / math.log2(r + 2) for r, i in enumerate(recs[u]) if i in rel[u]]
        ideal = sum(1.0 / math.log2(r + 2) for r in range(min(k, len(rel[u]))))
        assert M.ndcg(recs[u : u + 1], truth[u])[0] == pytest.approx(sum(gains) / ideal)
        hits = len(set(recs[u]) & rel[u])
        assert M.recall(recs[u : u + 1], truth[u])[0] == pytest.approx(hits / len(rel[u]))
