import pytest

from shopsense.eval.evaluate import evaluate
from shopsense.recommend.neighbors import ItemKNN
from shopsense.recommend.popular import MostPopular


def test_full_ranking_report(ml_split):
    model = ItemKNN().fit(ml_split.train)
    report = evaluate(model, ml_split.validation, k=[10, 20], protocol="leave_last_out")
    assert report.ranking == "full" and report.n_users == 943
    m = report.metrics
    assert 0 < m["ndcg@10"] <= m["hr@10"] <= m["hr@20"] <= 1
    assert m["recall@10"] == pytest.approx(m["hr@10"])  # one held-out item per user
    assert 0 < m["coverage@10"] <= 1
    assert report.flat()["ndcg@10"] == m["ndcg@10"]


def test_sampled_metrics_are_labelled_and_flatter(ml_split):
    model = MostPopular().fit(ml_split.train)
    full = evaluate(model, ml_split.validation, k=10)
    sampled = evaluate(model, ml_split.validation, k=10, sampled_negatives=100)
    assert sampled.ranking == "sampled-100"
    assert "coverage@10" not in sampled.metrics
    # 1 positive among ~100 negatives is far easier than among all 1,682 items
    assert sampled.metrics["hr@10"] > 2 * full.metrics["hr@10"]


def test_errors(ml_split):
    model = MostPopular().fit(ml_split.train)
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate(model, ml_split.validation, metrics=["auc"])
    empty = ml_split.validation.with_events(ml_split.validation.user_idx < 0)
    with pytest.raises(ValueError, match="no events"):
        evaluate(model, empty)
