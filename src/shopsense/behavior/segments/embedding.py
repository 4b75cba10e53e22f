"""Training the autoencoder ensemble on the shared Trainer and the customer embedding it gives."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from shopsense.behavior.segments.config import SegmenterConfig
from shopsense.behavior.segments.features import FeatureScaler
from shopsense.behavior.segments.network import CustomerAutoencoder, EnsembleAutoencoder
from shopsense.train.trainer import (
    Trainer,
    TrainResult,
    seed_everything,
    select_device,
)


def _member_mse(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(members,) mean squared reconstruction error of each member on `x`."""
    return ((module(x)[0] - x) ** 2).mean(dim=(1, 2))


class _ReconstructionTask:
    """The trainer's `TrainingTask`: the members' mean squared reconstruction errors, summed
    so that each member gets its own gradient; validation is minus their mean on held-out
    customers (higher is better)."""

    def __init__(
        self, module: nn.Module, train: torch.Tensor, valid: torch.Tensor | None, batch: int
    ) -> None:
        self.module, self.train, self.valid, self.batch = module, train, valid, batch

    def batches(self, rng: np.random.Generator) -> Iterable[torch.Tensor]:
        order = torch.from_numpy(rng.permutation(len(self.train))).to(self.train.device)
        for start in range(0, len(order), self.batch):
            yield self.train[order[start : start + self.batch]]

    def loss(self, batch: torch.Tensor) -> torch.Tensor:
        return _member_mse(self.module, batch).sum()

    def validate(self) -> float | None:
        if self.valid is None:
            return None
        return -float(_member_mse(self.module, self.valid).mean())


@dataclass
class _Embedding:
    scaler: FeatureScaler
    module: EnsembleAutoencoder
    centre: np.ndarray
    """(members, embedding_size) mean of each member's embedding over the fitted customers"""
    spread: np.ndarray
    """(members,) root-mean-square norm of each member's centred embedding"""
    x: np.ndarray
    """(customers, members * embedding_size) the ensemble embedding"""
    training: TrainResult
    reconstruction_mse: float


def _ensemble_embedding(
    module: EnsembleAutoencoder, x: np.ndarray, centre: np.ndarray, spread: np.ndarray
) -> np.ndarray:
    """Standardised features → the members' embeddings, each centred and divided by its
    spread, side by side and scaled by 1/√members (so the whole has unit RMS norm)."""
    with torch.no_grad():
        z = module.encode(torch.from_numpy(x)).numpy()
    z = (z - centre[:, None, :]) / spread[:, None, None] / np.sqrt(len(z))
    return np.ascontiguousarray(z.transpose(1, 0, 2).reshape(len(x), -1), dtype=np.float32)


def _learn_embedding(features: pd.DataFrame, cfg: SegmenterConfig, seed: int) -> _Embedding:
    """Split customers (seeded), fit the scaling on the training part, train the ensemble
    (member i seeded `seed * ensemble + i`), embed all."""
    n = len(features)
    rng = np.random.default_rng(seed)
    n_valid = round(cfg.validation_share * n)
    order = rng.permutation(n)
    valid_idx, train_idx = (order[:n_valid], order[n_valid:]) if n_valid >= 10 else ([], order)
    scaler = FeatureScaler().fit(features.iloc[np.sort(train_idx)])
    x_np = scaler.transform(features)
    x = torch.from_numpy(x_np)
    device = select_device(cfg.device)
    members = []
    for i in range(cfg.ensemble):
        seed_everything(seed * cfg.ensemble + i)
        members.append(CustomerAutoencoder(x.shape[1], cfg.hidden_size, cfg.embedding_size))
    module = EnsembleAutoencoder.of(members).to(device)
    x = x.to(device)
    valid = x[torch.as_tensor(np.sort(valid_idx), dtype=torch.long)] if len(valid_idx) else None
    train = x[torch.as_tensor(np.sort(train_idx), dtype=torch.long)]
    task = _ReconstructionTask(module, train, valid, cfg.batch_size)
    run_cfg = dataclasses.replace(cfg, random_state=seed)
    training = Trainer(run_cfg, desc="segments").fit(task)
    module.eval()
    with torch.no_grad():
        mse = float(_member_mse(module, x).mean())
    module = module.cpu()
    with torch.no_grad():
        z = module.encode(torch.from_numpy(x_np)).numpy().astype(np.float64)
    centre = z.mean(axis=1)
    spread = np.sqrt(((z - centre[:, None, :]) ** 2).sum(axis=2).mean(axis=1))
    centre, spread = centre.astype(np.float32), np.where(spread > 1e-12, spread, 1.0)
    spread = spread.astype(np.float32)
    embedded = _ensemble_embedding(module, x_np, centre, spread)
    return _Embedding(scaler, module, centre, spread, embedded, training, mse)
