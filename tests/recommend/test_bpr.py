"""BPR: the shared contract, repeatability, plain SGD learning, negative sampling and
parameter checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shopsense.eval.splits import Split
from shopsense.recommend.bpr import BPR, sample_negatives
from tests.contracts import check_contract, check_learns

# Small enough for MovieLens-100k to fit in a few seconds, large enough to learn.
BPR_PARAMS = {"factors": 32, "epochs": 10}


@pytest.fixture(scope="module")
def bpr(ml_split: Split) -> BPR:
    model, _, _ = check_learns(lambda: BPR(**BPR_PARAMS), ml_split)
    return model


def test_bpr_contract(bpr: BPR, ml_split: Split, tmp_path: Path) -> None:
    check_contract(bpr, ml_split, tmp_path)
    assert bpr.item_vectors().shape == (ml_split.train.n_items, BPR_PARAMS["factors"])


def test_bpr_same_seed_same_scores(ml_split: Split) -> None:
    params = {"factors": 8, "epochs": 2, "batch_size": 4096}
    a = BPR(**params).fit(ml_split.train).score(np.arange(50))
    b = BPR(**params).fit(ml_split.train).score(np.arange(50))
    c = BPR(**params, random_state=1).fit(ml_split.train).score(np.arange(50))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_bpr_sgd_learns(ml_split: Split) -> None:
    params = {"factors": 16, "epochs": 10, "optimizer": "sgd", "learning_rate": 0.5}
    check_learns(lambda: BPR(**params), ml_split)


def test_bpr_negatives_are_never_positives(ml_split: Split) -> None:
    pairs = ml_split.train.binary
    users = np.repeat(np.arange(pairs.shape[0]), np.diff(pairs.indptr)).astype(np.int64)
    keys = users * pairs.shape[1] + pairs.indices
    rng = np.random.default_rng(0)
    neg = sample_negatives(rng, users, keys, pairs.shape[1])
    assert not np.asarray(pairs[users, neg]).any()


@pytest.mark.parametrize("params", [{"optimizer": "adagrad"}, {"learning_rate": 0.0}])
def test_bad_params_fail_at_fit(params: dict, ml_split: Split) -> None:
    model = BPR(**params)  # constructing never checks
    with pytest.raises(ValueError):
        model.fit(ml_split.train)
