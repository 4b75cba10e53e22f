"""Mult-VAE and Mult-DAE: the shared contract, fold-in of new events, β's annealing."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from shopsense.eval.splits import Split
from shopsense.recommend.autoencoders import MultDAE, MultVAE, _bags
from shopsense.recommend.neural import NeuralRecommender
from tests.contracts import check_contract, check_learns

# A few seconds each on MovieLens-100k: its 943 users make two steps an epoch at the
# paper's 500 users per step, so smaller steps; one thread, as the problem is small.
SMALL = {"layers": (200, 50), "batch_size": 64, "threads": 1}
VAE_PARAMS = {**SMALL, "epochs": 12, "anneal_epochs": 5.0}
DAE_PARAMS = {**SMALL, "epochs": 12}


@pytest.fixture(scope="module")
def vae(ml_split: Split) -> MultVAE:
    model, _, _ = check_learns(lambda: MultVAE(**VAE_PARAMS), ml_split)
    return model


@pytest.fixture(scope="module")
def dae(ml_split: Split) -> MultDAE:
    model, _, _ = check_learns(lambda: MultDAE(**DAE_PARAMS), ml_split)
    return model


@pytest.fixture(params=["vae", "dae"])
def model(request: pytest.FixtureRequest) -> NeuralRecommender:
    return request.getfixturevalue(request.param)


def test_contract(model: NeuralRecommender, ml_split: Split, tmp_path: Path) -> None:
    check_contract(model, ml_split, tmp_path)
    assert model.item_vectors().shape == (ml_split.train.n_items, 200)


def test_new_events_fold_in(model: NeuralRecommender, ml_split: Split, tmp_path: Path) -> None:
    train, validation = ml_split.train, ml_split.validation
    user, other = validation.active_users[:2]
    users = np.array([user, other])
    before = model.score(users)
    one_more = train.concat(validation.with_events(validation.user_idx == user))
    try:
        model.with_history(one_more)
        after = model.score(users)
        assert not np.allclose(after[0], before[0])  # the user's scores follow the event
        np.testing.assert_array_equal(after[1], before[1])  # nobody else's move
        # what is saved is the folded-in model
        loaded = type(model).load(model.save(tmp_path / "folded"))
        np.testing.assert_array_equal(loaded.score(users), after)
        new_item = validation.binary[user].indices
        assert not set(new_item) & set(model.recommend_indices([user], k=50)[0][0])
    finally:
        model.with_history(train)
    np.testing.assert_array_equal(model.score(users), before)


def test_scores_are_repeatable_in_eval_mode(model: NeuralRecommender) -> None:
    # no input dropout and the mean code at scoring time: the same row, the same scores
    users = np.arange(25)
    np.testing.assert_array_equal(model.score(users), model.score(users))


def test_vae_counts_steps_for_annealing(vae: MultVAE, ml_split: Split) -> None:
    users = len(ml_split.train.active_users)
    per_epoch = math.ceil(users / VAE_PARAMS["batch_size"])
    assert int(vae.module_.steps) == VAE_PARAMS["epochs"] * per_epoch


def test_beta_rises_linearly_to_the_cap(ml_split: Split) -> None:
    model = MultVAE(epochs=0, anneal_cap=0.3, anneal_epochs=2.0, batch_size=100)
    model.fit(ml_split.train)
    per_epoch = model._steps_per_epoch
    betas = [model._beta() for _ in range(3 * per_epoch)]
    np.testing.assert_allclose(
        betas[: 2 * per_epoch], 0.3 * np.arange(2 * per_epoch) / (2 * per_epoch)
    )
    assert betas[2 * per_epoch :] == [0.3] * per_epoch


def test_bags_are_l2_normalised_rows() -> None:
    rows = sp.csr_matrix(np.array([[1, 0, 1, 1], [0, 0, 0, 0], [0, 2, 0, 0]], np.float32))
    items, offsets, values, which = _bags(rows, torch.device("cpu"))
    assert items.tolist() == [0, 2, 3, 1] and offsets.tolist() == [0, 3, 3]
    assert which.tolist() == [0, 0, 0, 2]
    np.testing.assert_allclose(values.numpy(), [3**-0.5] * 3 + [1.0], rtol=1e-6)


def test_dae_has_no_variational_part(dae: MultDAE) -> None:
    assert "steps" not in dict(dae.module_.named_buffers())
    assert dae.config.weight_decay > 0  # the paper's L2 penalty


@pytest.mark.parametrize(
    ("cls", "params", "match"),
    [
        (MultVAE, {"layers": ()}, "layers"),
        (MultDAE, {"layers": (600, 0)}, "layers"),
        (MultDAE, {"dropout": 1.0}, "dropout"),
        (MultVAE, {"anneal_cap": -0.1}, "anneal"),
        (MultVAE, {"anneal_epochs": -1.0}, "anneal"),
        (MultVAE, {"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_params_fail_at_fit(cls: type, params: dict, match: str, ml_split: Split) -> None:
    model = cls(**params)  # constructing never checks
    with pytest.raises(ValueError, match=match):
        model.fit(ml_split.train)
