"""The shared estimator edges: registration of kinds, one NotFittedError, the small base."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from shopsense.estimator import (
    Estimator,
    NotFittedError,
    register,
    registered,
    registered_kinds,
)


def test_not_fitted_is_caught_by_old_except_clauses():
    for old in (RuntimeError, ValueError):
        with pytest.raises(old):
            raise NotFittedError("x")


def test_a_kind_is_registered_once():
    @register("test-estimator-once")
    class First(Estimator):
        pass

    assert registered("test-estimator-once") is First
    assert First.kind == "test-estimator-once"
    assert "test-estimator-once" in registered_kinds()

    class Second(Estimator):
        pass

    with pytest.raises(ValueError, match=r"already registered to .*First"):
        register("test-estimator-once")(Second)
    assert registered("test-estimator-once") is First
    with pytest.raises(ValueError, match="non-empty string"):
        register("")


def test_the_base_checks_fitting_and_reads_params_from_the_config():
    @dataclass
    class Config:
        alpha: float = 1.0

    class Model(Estimator):
        fitted_attribute = "weights_"

        def __init__(self, **params):
            self.config = Config(**params)

        def fit(self):
            self.weights_ = [1.0]
            return self

    model = Model(alpha=2.0)
    assert model.get_params() == {"alpha": 2.0}
    assert not model.is_fitted()
    with pytest.raises(NotFittedError, match="Model is not fitted"):
        model.check_fitted()
    model.fit().check_fitted()
    with pytest.raises(NotImplementedError):
        model.save("nowhere")
