import numpy as np
import pytest
import torch

from shopsense.eval.evaluate import evaluate
from shopsense.recommend.sasrec import SASRec
from shopsense.recommend.sequential import _windows, causal_mask, end_aligned_positions


def test_windows_keep_the_latest_items_right_padded():
    items = np.array([5, 6, 7, 8, 9, 1])
    tokens, lengths = _windows(items, np.array([0, 4, 6]), np.array([4, 6, 6]), 3)
    np.testing.assert_array_equal(lengths, [3, 2, 0])
    np.testing.assert_array_equal(tokens, [[7, 8, 9], [10, 2, 0], [0, 0, 0]])  # item i -> i + 1


def test_positions_count_from_the_end_and_padding_is_zero():
    pos = end_aligned_positions(torch.tensor([3, 1]), 4, max_length=50)
    assert pos.tolist() == [[3, 2, 1, 0], [1, 0, 0, 0]]


def test_causal_mask_hides_the_future_only():
    mask = causal_mask(3, torch.device("cpu"))
    assert mask.tolist() == [[False, True, True], [False, False, True], [False, False, False]]


@pytest.fixture(scope="module")
def sasrec(ml_split):
    return SASRec(epochs=6, hidden=48, dropout=0.2, learning_rate=5e-3).fit(ml_split.train)


def test_padding_does_not_change_a_sequence_s_scores(sasrec):
    """Right padding + causal attention: trailing pad tokens never reach real positions."""
    short = torch.tensor([[3, 4, 5, 0, 0]])
    exact = torch.tensor([[3, 4, 5]])
    with torch.no_grad():
        a = sasrec._scores_of_tokens(short, torch.tensor([3]))
        b = sasrec._scores_of_tokens(exact, torch.tensor([3]))
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_a_session_scores_like_the_user_with_that_history(sasrec, ml_split):
    user = int(ml_split.train.active_users[0])
    history = ml_split.train.item_ids[ml_split.train.sequence(user)]
    ids, scores = sasrec.recommend_session(list(history), k=10)
    user_ids, user_scores = sasrec.recommend([ml_split.train.user_ids[user]], k=10)
    np.testing.assert_array_equal(ids, user_ids[0])
    np.testing.assert_allclose(scores, user_scores[0], rtol=1e-5)


def test_a_session_of_unknown_items_gets_popular_items(sasrec, ml_split):
    ids, _ = sasrec.recommend_session(["no-such-item"], k=5)
    popular = ml_split.train.item_ids[np.argsort(-ml_split.train.item_popularity())[:5]]
    assert set(ids) == set(popular)


def test_with_history_reads_the_new_last_item(sasrec, ml_split, tmp_path):
    model = SASRec.load(sasrec.save(tmp_path / "copy"))  # leave the shared fixture as it is
    before = evaluate(model, ml_split.test, k=10, metrics=["ndcg"]).metrics["ndcg@10"]
    users = ml_split.validation.active_users[:20]
    old = model.score(users)
    model.with_history(ml_split.train_and_validation())
    assert not np.allclose(model.score(users), old)  # the validation item is now the latest
    after = evaluate(model, ml_split.test, k=10, metrics=["ndcg"]).metrics["ndcg@10"]
    assert after > before  # reading the latest item helps predict the next one
