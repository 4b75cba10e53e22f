"""BPR: Bayesian personalised ranking with matrix factorisation, trained in PyTorch.

Rendle et al., "BPR: Bayesian Personalized Ranking from Implicit Feedback", UAI 2009. Like
ALS (`shopsense.recommend.factorization`) every user and item gets a vector and an item
scores by their dot product (plus an item bias); BPR fits them so that each user's items
rank above uniformly drawn other items.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from shopsense.data.views import Interactions
from shopsense.estimator import register
from shopsense.recommend.base import Recommender
from shopsense.train.trainer import Trainer, TrainerConfig, select_device, torch_threads

#: standard deviation of the initial user and item vectors (biases start at 0)
INIT_STD = 0.01


@dataclass
class BPRConfig(TrainerConfig):
    factors: int = 64
    """Length of the user and item vectors."""
    learning_rate: float = 0.02
    """Step size of the first epoch; it decays linearly to 0 over the epochs."""
    regularization: float = 0.02
    """λ, L2 penalty on the vectors and biases of each triple's user and two items."""
    epochs: int = 60
    """Passes; each draws as many (user, positive, negative) triples as there are pairs."""
    batch_size: int = 4096
    """Triples per optimizer step."""
    optimizer: str = "adam"
    """"adam", "adamw" or "sgd" (plain SGD: per-triple steps, as in the paper, needs many
    more epochs)."""
    schedule: str = "linear"
    """The learning rate decays linearly to 0 over the epochs."""
    patience: int = 0
    """BPR has no validation of its own: every epoch runs."""


class _BPRNet(torch.nn.Module):
    """User and item vectors and item biases: x_ui = p_uᵀq_i + b_i."""

    def __init__(self, users: np.ndarray, items: np.ndarray) -> None:
        super().__init__()
        self.user_factors = torch.nn.Parameter(torch.from_numpy(users))
        self.item_factors = torch.nn.Parameter(torch.from_numpy(items))
        self.item_bias = torch.nn.Parameter(torch.zeros(len(items)))


class _BPRTask:
    """BPR for the shared trainer: each epoch draws as many triples as there are pairs."""

    def __init__(self, net: _BPRNet, train: Interactions, cfg: BPRConfig, device: torch.device):
        self.module, self.cfg, self.device = net, cfg, device
        pairs = train.binary
        self.n_items = train.n_items
        self.users = np.repeat(np.arange(train.n_users, dtype=np.int64), np.diff(pairs.indptr))
        self.positives = pairs.indices.astype(np.int64)
        self.keys = np.sort(self.users * self.n_items + self.positives)  # (user, positive) codes

    def batches(self, rng: np.random.Generator) -> Iterator[tuple[torch.Tensor, ...]]:
        n, bs = len(self.keys), self.cfg.batch_size
        pick = rng.integers(0, n, n)
        u_np, i_np = self.users[pick], self.positives[pick]
        j_np = sample_negatives(rng, u_np, self.keys, self.n_items)
        u_all, i_all, j_all = (torch.from_numpy(a).to(self.device) for a in (u_np, i_np, j_np))
        for s in range(0, n, bs):
            yield u_all[s : s + bs], i_all[s : s + bs], j_all[s : s + bs]

    def loss(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        u, i, j = batch
        net, embed = self.module, torch.nn.functional.embedding
        # embedding()'s backward is deterministic; indexing's scatter-add is not on CPU
        pu, qi, qj = (
            embed(u, net.user_factors),
            embed(i, net.item_factors),
            embed(j, net.item_factors),
        )
        bias = net.item_bias[:, None]
        bi, bj = embed(i, bias)[:, 0], embed(j, bias)[:, 0]
        diff = (pu * (qi - qj)).sum(1) + bi - bj
        penalty = (pu * pu + qi * qi + qj * qj).sum(1) + bi * bi + bj * bj
        return (self.cfg.regularization * penalty - torch.nn.functional.logsigmoid(diff)).sum()

    def validate(self) -> float | None:
        return None


@register("bpr")
class BPR(Recommender):
    """Bayesian Personalized Ranking matrix factorisation, in PyTorch.

    Rendle, Freudenthaler, Gantner & Schmidt-Thieme, "BPR: Bayesian Personalized Ranking
    from Implicit Feedback", UAI 2009. Score x_ui = p_uᵀq_i + b_i; each step minimises
    Σ −log σ(x_ui − x_uj) + λ(‖p_u‖² + ‖q_i‖² + ‖q_j‖² + b_i² + b_j²) over a batch of
    triples, where (u, i) is drawn uniformly from the training pairs and j uniformly from
    the items u has not interacted with (re-drawn while it is one of u's positives). The
    loss is summed, not averaged, so that `learning_rate` is per triple as in the paper's
    SGD; with Adam the scale does not matter.

    It trains on the shared `Trainer` (Adam by default, fused kernel; linear decay of the
    learning rate to 0; no early stopping, BPR has no validation of its own). The initial
    vectors come from `random_state`, each epoch's triples from the trainer's per-epoch
    generator, so a fit is repeatable on a given device and thread count.
    """

    name = "bpr"
    Config = BPRConfig

    def _device(self) -> torch.device:
        return select_device(self.config.device)

    def _fit(self, train: Interactions, items: pd.DataFrame | None) -> None:
        cfg = self.config
        if cfg.factors < 1 or cfg.epochs < 0 or cfg.batch_size < 1:
            raise ValueError("BPR needs factors >= 1, epochs >= 0 and batch_size >= 1")
        if cfg.learning_rate <= 0 or cfg.regularization < 0:
            raise ValueError("BPR needs learning_rate > 0 and regularization >= 0")
        device = self._device()
        rng = np.random.default_rng(cfg.random_state)
        users = rng.normal(0.0, INIT_STD, (train.n_users, cfg.factors)).astype(np.float32)
        items_ = rng.normal(0.0, INIT_STD, (train.n_items, cfg.factors)).astype(np.float32)
        net = _BPRNet(users, items_).to(device)
        task = _BPRTask(net, train, cfg, device)
        with torch_threads(cfg.threads):
            self.train_result_ = Trainer(cfg, desc="bpr").fit(task)
        self._set_tensors(
            net.user_factors.detach(), net.item_factors.detach(), net.item_bias.detach()
        )

    def _set_tensors(self, users: torch.Tensor, items: torch.Tensor, bias: torch.Tensor) -> None:
        self.user_factors_ = users.contiguous()
        self.item_factors_ = items.contiguous()
        self.item_bias_ = bias.contiguous()

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        device = self.user_factors_.device
        with torch.no_grad():
            idx = torch.from_numpy(np.asarray(user_idx, dtype=np.int64)).to(device)
            scores = self.user_factors_[idx] @ self.item_factors_.T + self.item_bias_
        return scores.cpu().numpy().astype(np.float32, copy=False)

    def item_vectors(self) -> np.ndarray:
        return self.item_factors_.cpu().numpy()

    def item_embeddings(self) -> np.ndarray:
        """[q_i, b_i]: with the query [p_u, 1] the dot product is the score p_uᵀq_i + b_i."""
        q = self.item_factors_.cpu().numpy()
        b = self.item_bias_.cpu().numpy().reshape(-1, 1)
        return np.ascontiguousarray(np.hstack([q, b]), dtype=np.float32)

    def user_queries(self, user_idx: np.ndarray | Sequence[int]) -> np.ndarray:
        p = self.user_factors_.cpu().numpy()[np.asarray(user_idx, dtype=np.int64)]
        return np.hstack([p, np.ones((len(p), 1), np.float32)]).astype(np.float32)

    def _state(self) -> dict[str, np.ndarray]:
        return {
            "user_factors": self.user_factors_.cpu().numpy(),
            "item_factors": self.item_factors_.cpu().numpy(),
            "item_bias": self.item_bias_.cpu().numpy(),
        }

    def _set_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        device = self._device()
        tensors = [
            torch.from_numpy(np.array(arrays[k], dtype=np.float32)).to(device)
            for k in ("user_factors", "item_factors", "item_bias")
        ]
        self._set_tensors(*tensors)


def sample_negatives(
    rng: np.random.Generator, users: np.ndarray, keys: np.ndarray, n_items: int, rounds: int = 100
) -> np.ndarray:
    """Uniform items, re-drawn (vectorised) while they are positives of their user.

    `keys` are the sorted user · n_items + item codes of the positives. After `rounds`
    re-draws the few left (users who have nearly every item) are kept as they are.
    """
    negatives = rng.integers(0, n_items, len(users))
    todo = np.arange(len(users))
    for _ in range(rounds):
        codes = users[todo] * n_items + negatives[todo]
        pos = np.minimum(np.searchsorted(keys, codes), len(keys) - 1)
        todo = todo[keys[pos] == codes]
        if len(todo) == 0:
            break
        negatives[todo] = rng.integers(0, n_items, len(todo))
    return negatives
