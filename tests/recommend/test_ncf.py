"""NeuMF: the shared contract, vectorised scoring equal to the network, negative sampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from shopsense.eval.splits import Split
from shopsense.recommend.ncf import SCORE_BYTES, NeuMF
from tests.contracts import check_contract, check_learns

# A few seconds on MovieLens-100k; one thread because the problem is small (and a second
# thread only spins when the machine is busy).
PARAMS = {"epochs": 3, "threads": 1}


@pytest.fixture(scope="module")
def neumf(ml_split: Split) -> NeuMF:
    model, _, _ = check_learns(lambda: NeuMF(**PARAMS), ml_split)
    return model


def test_contract(neumf: NeuMF, ml_split: Split, tmp_path: Path) -> None:
    check_contract(neumf, ml_split, tmp_path)
    assert neumf.item_vectors().shape == (ml_split.train.n_items, neumf.config.factors)
    assert neumf.training_.epochs == PARAMS["epochs"]


def test_grid_scores_equal_the_network_on_every_pair(neumf: NeuMF) -> None:
    # The GMF matmul and the per-user / per-item first MLP layer are only a rewrite.
    users = torch.arange(7)
    n = neumf.n_items
    with torch.no_grad():
        grid = neumf.module_.score_all(users, chunk=3)  # chunks of 3, 3, 1 users
        pairs = neumf.module_(users.repeat_interleave(n), torch.arange(n).repeat(7))
    torch.testing.assert_close(grid, pairs.view(7, n), rtol=1e-5, atol=1e-5)


def test_scoring_chunks_stay_within_the_memory_bound(neumf: NeuMF) -> None:
    chunk = neumf._score_chunk()
    assert chunk >= 1
    assert chunk * neumf.n_items * (32 + 16) * 4 <= SCORE_BYTES


def test_new_history_changes_exclusions_not_scores(ml_split: Split) -> None:
    model = NeuMF(epochs=1, factors=8, mlp_layers=(16, 8), threads=1).fit(ml_split.train)
    users = ml_split.validation.active_users[:40]
    before = model.score(users)
    top_before, _ = model.recommend_indices(users, k=20)
    model.with_history(ml_split.train_and_validation())
    np.testing.assert_array_equal(model.score(users), before)
    top_after, _ = model.recommend_indices(users, k=20)
    held = ml_split.validation.binary[users]
    for row in range(len(users)):
        assert not set(held[row].indices) & set(top_after[row])
    # only the newly seen items left the lists; the rest kept their order
    for row in range(len(users)):
        kept = [i for i in top_before[row] if i not in set(held[row].indices)]
        assert list(top_after[row][: len(kept)]) == kept


def test_each_pair_once_with_its_negatives(ml_split: Split) -> None:
    model = NeuMF(epochs=0, negatives=3, batch_size=10_000)
    model.fit(ml_split.train)
    train = ml_split.train.binary
    batches = list(model._batches(np.random.default_rng(0)))
    assert all(len(b[0]) == 10_000 for b in batches[:-1])
    users, items, labels = (torch.cat(parts).numpy() for parts in zip(*batches, strict=True))
    assert len(users) == 4 * train.nnz
    positive = labels == 1
    assert positive.sum() == train.nnz
    codes = np.sort(users[positive] * train.shape[1] + items[positive])
    np.testing.assert_array_equal(codes, np.sort(model._pair_keys))  # every pair once
    assert not np.asarray(train[users[~positive], items[~positive]]).any()
    np.testing.assert_array_equal(np.bincount(users[~positive]), 3 * np.diff(train.indptr))
    assert positive[: train.nnz].mean() < 0.5  # shuffled, not the positives first


def test_same_seed_same_scores(ml_split: Split) -> None:
    params = {"epochs": 1, "factors": 8, "mlp_layers": (16, 8), "threads": 1}
    users = np.arange(30)
    a = NeuMF(**params).fit(ml_split.train).score(users)
    b = NeuMF(**params).fit(ml_split.train).score(users)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"factors": 0}, "factors"),
        ({"negatives": 0}, "negatives"),
        ({"mlp_layers": (64,)}, "mlp_layers"),
        ({"mlp_layers": (63, 16)}, "mlp_layers"),
        ({"mlp_layers": (64, 0)}, "mlp_layers"),
        ({"dropout": 1.0}, "dropout"),
        ({"learning_rate": 0.0}, "learning_rate"),
    ],
)
def test_bad_params_fail_at_fit(params: dict, match: str, ml_split: Split) -> None:
    model = NeuMF(**params)  # constructing never checks
    with pytest.raises(ValueError, match=match):
        model.fit(ml_split.train)
    assert not hasattr(model, "item_ids_")  # and a failed fit leaves it unfitted
