"""What every learner shares: the `Learner` interface, the customer hold-out and the sigmoid."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from shopsense.behavior.predict.config import BehaviorConfig
from shopsense.behavior.predict.features import ModelInputs
from shopsense.train.trainer import (
    TrainerConfig,
)


class Learner:
    """One kind of model on `ModelInputs`: binary (probabilities) or regression."""

    def __init__(self, objective: str, config: BehaviorConfig) -> None:
        self.objective = objective
        self.config = config

    def fit(self, x: ModelInputs, y: np.ndarray) -> None:
        raise NotImplementedError

    def predict(self, x: ModelInputs) -> np.ndarray:
        raise NotImplementedError

    def arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def set_arrays(self, arrays: Mapping[str, np.ndarray], n_static: int) -> None:
        raise NotImplementedError


def customer_holdout(
    customers: np.ndarray, share: float, config: TrainerConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of training and of held-out customers (seeded): a customer seen at several
    cut-offs is on one side only, so validation measures new customers, not memory."""
    everyone = np.unique(customers)
    rng = np.random.default_rng(config.random_state)
    n_val = round(share * len(everyone)) if 0 < share < 1 else 0
    held = np.isin(customers, rng.choice(everyone, n_val, replace=False))
    return np.flatnonzero(~held), np.flatnonzero(held)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))
