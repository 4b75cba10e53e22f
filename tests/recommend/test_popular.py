import numpy as np

from shopsense.eval.evaluate import evaluate
from shopsense.recommend.popular import MostPopular
from tests.contracts import check_contract


def test_popular_ranks_by_distinct_users(ml_split, tmp_path):
    model = MostPopular().fit(ml_split.train)
    counts = np.diff(ml_split.train.binary.tocsc().indptr)
    idx, _ = model.recommend_indices([0], k=5, exclude_seen=False)
    np.testing.assert_array_equal(np.sort(counts[idx[0]]), np.sort(counts)[-5:])
    check_contract(model, ml_split, tmp_path)
    why = model.explain(ml_split.train.user_ids[0], model.item_ids_[idx[0, 0]])
    assert why.reason == "popular" and "popular" in why.text()


def test_popular_beats_random_on_real_data(ml_split):
    # The trivial baseline must itself carry signal, or "beats popular" means nothing.
    report = evaluate(MostPopular().fit(ml_split.train), ml_split.validation, k=10)
    random_hit_rate = 10 / (ml_split.train.n_items - 100)
    assert report.metrics["hr@10"] > 3 * random_hit_rate
