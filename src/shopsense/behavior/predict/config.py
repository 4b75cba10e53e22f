"""The settings every cut-off model shares."""

from __future__ import annotations

from dataclasses import dataclass

from shopsense.train.trainer import (
    TrainerConfig,
)


@dataclass
class BehaviorConfig(TrainerConfig):
    """Settings of a cut-off model; the trainer's fields apply to kind="gru" only."""

    kind: str = "gru"
    """Which model: see the class's `kinds`."""
    horizon_days: int = 30
    """Length of the period after the cut-off that the label describes."""
    max_length: int = 50
    """GRU: latest invoices read per customer."""
    hidden_size: int = 32
    """GRU: width of the recurrent state and of the static-feature layer."""
    dropout: float = 0.1
    """GRU: dropout before the output head."""
    validation_share: float = 0.15
    """GRU and gbm: share of training customers held out to choose epochs / trees (0: none)."""
    gbm_max_iter: int = 300
    """Gradient boosting: most trees; the count is chosen on the held-out customers."""
    gbm_learning_rate: float = 0.05
    gbm_max_leaf_nodes: int = 15
    logreg_c: float = 1.0
    """Logistic regression: inverse L2 strength on standardised features."""
    epochs: int = 40
    batch_size: int = 256
    learning_rate: float = 3e-3
    patience: int = 4
    threads: int = 1
    """CPU threads of torch (gru) and OpenMP (gbm); 0: the libraries' default. These models
    are small: one thread is fast and immune to the spin-waiting that made two threads on a
    busy 2-core machine 100x slower."""
