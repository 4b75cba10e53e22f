"""Mult-VAE and Mult-DAE: autoencoders of a user's whole item row, multinomial likelihood.

Liang, Krishnan, Hoffman & Jebara, "Variational Autoencoders for Collaborative
Filtering", WWW 2018. The input is the user's 0/1 row over all items, L2-normalised and
passed through dropout; an MLP encoder ([items → 600 → 200], tanh) maps it to a code and
a mirrored decoder maps the code back to logits over all items. The loss is the
multinomial log-likelihood of the user's items under the softmax of the logits, which
ranks items against each other and suits top-k recommendation better than Gaussian or
logistic losses (section 2.1).

Mult-VAE makes the code a Gaussian (the encoder outputs its mean and log-variance) and
adds β · KL(q(z|x) ‖ N(0, I)), with β annealed linearly from 0 to `anneal_cap` (the
paper's "partially regularised" Mult-VAE^PR). Mult-DAE is the same network without the
variational part, regularised by the input dropout and an L2 penalty on the weights.

Both fold in: a user's scores are a forward pass of their current row (eval mode: the
mean code, no dropout), so new events change them without retraining. The first layer
reads only the row's non-zeros (an embedding bag weighted by the normalised values), so
a step costs O(non-zeros × 600) there instead of O(users × items × 600); only the output
layer and its softmax run over all items.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch

from shopsense.data.views import Interactions
from shopsense.estimator import register
from shopsense.recommend import autoencoder_export
from shopsense.recommend.neural import NeuralConfig, NeuralRecommender

#: standard deviation of the initial biases (the authors' code); weights are Glorot-uniform
BIAS_STD = 0.001

#: one batch of rows: item indices, bag offsets, normalised values, and each non-zero's row
Bags = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass
class AutoencoderConfig(NeuralConfig):
    layers: tuple[int, ...] = (600, 200)
    """Encoder widths after the item layer, the last being the code; the decoder mirrors
    them back to the items (the paper's [items → 600 → 200 → 600 → items])."""
    dropout: float = 0.5
    """Dropout on the L2-normalised input row while training (the "denoising"; on Amazon
    Beauty 0.2 was worse and 0.7 no better)."""
    epochs: int = 30
    """Most passes over the users; also the length of a fit without validation (on Amazon
    Beauty Mult-VAE still gained a little at epoch 24, Mult-DAE peaked near 12)."""
    batch_size: int = 128
    """Users per optimiser step (the paper: 500; on Amazon Beauty's 22k users 128 reached
    validation NDCG@10 0.040 in 24 epochs, 500 with learning rate 3e-3 0.037 in 20)."""
    learning_rate: float = 1e-3
    """Adam's step size (the paper's)."""

    def __post_init__(self) -> None:
        # JSON (save/load) turns tuples into lists; keep one type either way.
        self.layers = tuple(self.layers)


@dataclass
class MultVAEConfig(AutoencoderConfig):
    anneal_cap: float = 0.2
    """Largest β, the weight of the KL term (the paper's; 0.05 was worse on Amazon Beauty)."""
    anneal_epochs: float = 20.0
    """β rises linearly with every optimiser step and reaches `anneal_cap` after this many
    epochs' worth of steps. Counted in epochs so that it does not depend on the number of
    users (the paper counts 200,000 steps of 500 users to β = 1 on 117k users)."""


@dataclass
class MultDAEConfig(AutoencoderConfig):
    weight_decay: float = 1e-5
    """L2 penalty on the weights (Adam's coupled weight decay), the paper's λ."""


class _MultNet(torch.nn.Module):
    """Encoder and decoder; the code is Gaussian when `variational`."""

    def __init__(self, n_items: int, layers: tuple[int, ...], dropout: float, vae: bool):
        super().__init__()
        self.variational = vae
        self.dropout = dropout
        widths = list(layers)
        if vae:
            widths[-1] *= 2  # the last encoder layer gives the mean and the log-variance
        # The first layer as an embedding bag: row i of its weight is item i's column.
        self.first = torch.nn.EmbeddingBag(n_items, widths[0], mode="sum")
        self.first_bias = torch.nn.Parameter(torch.empty(widths[0]))
        self.encoder = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in pairwise(widths))
        back = [*reversed(layers), n_items]
        self.decoder = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in pairwise(back))
        if vae:
            # optimiser steps taken, for β's annealing; a buffer so checkpoints resume it
            self.register_buffer("steps", torch.zeros((), dtype=torch.int64))
        torch.nn.init.xavier_uniform_(self.first.weight)
        torch.nn.init.normal_(self.first_bias, std=BIAS_STD)
        for layer in (*self.encoder, *self.decoder):
            torch.nn.init.xavier_uniform_(layer.weight)
            torch.nn.init.normal_(layer.bias, std=BIAS_STD)

    def forward(
        self, items: torch.Tensor, offsets: torch.Tensor, values: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits over all items for a batch of bags, and the KL term of each (VAE)."""
        values = torch.nn.functional.dropout(values, self.dropout, self.training)
        return self.tail(self.first(items, offsets, per_sample_weights=values) + self.first_bias)

    def tail(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Everything after the first layer's sum: what is exported (the first layer reads
        a sparse row, a product NumPy does with the same weights)."""
        for layer in self.encoder:
            h = layer(torch.tanh(h))
        kl = None
        if self.variational:
            mean, log_var = h.chunk(2, dim=1)
            h = mean
            if self.training:
                h = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)
            kl = 0.5 * (torch.exp(log_var) + mean**2 - 1.0 - log_var).sum(dim=1)
        else:
            h = torch.tanh(h)  # the authors' DAE: tanh after every layer but the output
        for k, layer in enumerate(self.decoder):
            h = layer(h if k == 0 else torch.tanh(h))
        return h, kl


class _MultAutoencoder(NeuralRecommender):
    """What Mult-VAE and Mult-DAE share: data, the multinomial loss, fold-in scoring."""

    Config = AutoencoderConfig
    config: AutoencoderConfig
    module_: _MultNet
    folds_in = True
    variational: ClassVar[bool] = False

    def _prepare(self, train: Interactions) -> None:
        cfg = self.config
        if not cfg.layers or min(cfg.layers) < 1:
            raise ValueError(f"{self.name}: layers must be positive widths, not {cfg.layers}")
        if not 0 <= cfg.dropout < 1:
            raise ValueError(f"{self.name}: dropout must be in [0, 1), not {cfg.dropout}")
        self.runtime_ = None  # new weights: an exported file no longer matches them
        self._rows = train.binary
        self._train_users = np.flatnonzero(np.diff(self._rows.indptr))
        self._steps_per_epoch = math.ceil(len(self._train_users) / max(cfg.batch_size, 1))

    def _build_module(self) -> torch.nn.Module:
        cfg = self.config
        return _MultNet(self.n_items, tuple(cfg.layers), cfg.dropout, self.variational)

    def _batches(self, rng: np.random.Generator) -> Iterator[Bags]:
        order = rng.permutation(self._train_users)
        bs = self.config.batch_size
        for s in range(0, len(order), bs):
            yield _bags(self._rows[order[s : s + bs]], self.device_)

    def _loss(self, batch: Bags) -> torch.Tensor:
        items, offsets, values, rows = batch
        logits, kl = self.module_(items, offsets, values)
        # Σ_i x_ui log softmax(logits_u)_i over the user's items (x is 0/1)
        counts = torch.bincount(rows, minlength=len(offsets)).to(logits.dtype)
        log_lik = logits[rows, items].sum() - (counts * torch.logsumexp(logits, dim=1)).sum()
        loss = -log_lik / len(offsets)
        if kl is not None:
            loss = loss + self._beta() * kl.mean()
        return loss

    def _beta(self) -> float:
        """The KL weight of this step (0 for the DAE); counts the step."""
        return 0.0

    def _forward_scores(self, user_idx: torch.Tensor) -> torch.Tensor:
        # read the rows now: `with_history` replaces seen_, and that is the whole fold-in
        return self._logits(self.seen_[user_idx.cpu().numpy()])

    scores_histories = True

    def _score_histories(self, histories: list[np.ndarray]) -> np.ndarray:
        rows = self.history_matrix(histories)
        return self._inference(self._logits, rows)

    def _logits(self, rows: sp.csr_matrix) -> torch.Tensor:
        """Logits over all items of a batch of rows, from the exported network when one is
        attached (then the first layer is a sparse product in NumPy)."""
        if self.runtime_ is None or self.module_.training or torch.is_grad_enabled():
            return self.module_(*_bags(rows, self.device_)[:3])[0]
        return torch.from_numpy(self.runtime_.logits(rows)).to(self.device_)

    # ----------------------------------------------------------------- compressed form
    exportable = True
    #: ONNX Runtime in place of the torch network when scoring (set by `load`), or None
    runtime_: autoencoder_export.TailRuntime | None = None

    def export(self, path: str | Path, *, int8: bool = True) -> dict[str, Any]:
        """Write the network after its first layer as ONNX (and int8) into the folder
        `path`, checked against torch; returns the parity report."""
        return autoencoder_export.export(self, path, int8=int8)

    def use_runtime(self, path: str | Path, precision: str = "fp32") -> bool:
        """Score with the exported file in `path` for `precision` ("off": torch); returns
        whether an exported network is now in use."""
        self.runtime_ = autoencoder_export.runtime_for(self, path, precision)
        return self.runtime_ is not None

    def item_vectors(self) -> np.ndarray:
        """Rows of the output layer's weight: what the decoder's last hidden state meets."""
        return self.module_.decoder[-1].weight.detach().float().cpu().numpy()


@register("multvae")
class MultVAE(_MultAutoencoder):
    """Variational autoencoder with a multinomial likelihood and KL annealing (Mult-VAE^PR).

    β grows by `anneal_cap / (anneal_epochs · steps per epoch)` with each optimiser step
    and stays at `anneal_cap` after; the step count lives in the network's `steps` buffer,
    so a resumed run anneals exactly as an uninterrupted one.
    """

    name = "multvae"
    Config = MultVAEConfig
    config: MultVAEConfig
    variational = True

    def _prepare(self, train: Interactions) -> None:
        cfg = self.config
        if cfg.anneal_cap < 0 or cfg.anneal_epochs < 0:
            raise ValueError("multvae: need anneal_cap >= 0 and anneal_epochs >= 0")
        super()._prepare(train)

    def _beta(self) -> float:
        cfg = self.config
        ramp = cfg.anneal_epochs * self._steps_per_epoch
        done = int(self.module_.steps)
        self.module_.steps += 1
        return cfg.anneal_cap if done >= ramp else cfg.anneal_cap * done / ramp


@register("multdae")
class MultDAE(_MultAutoencoder):
    """Denoising autoencoder with a multinomial likelihood (Mult-DAE)."""

    name = "multdae"
    Config = MultDAEConfig
    config: MultDAEConfig


def _bags(rows: sp.csr_matrix, device: torch.device) -> Bags:
    """A batch of csr rows as embedding-bag inputs, values L2-normalised per row."""
    rows = sp.csr_matrix(rows, dtype=np.float32)
    counts = np.diff(rows.indptr)
    which = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    norms = np.sqrt(np.bincount(which, weights=rows.data**2, minlength=len(counts)))
    values = (rows.data / norms[which]).astype(np.float32)
    items, offsets = rows.indices.astype(np.int64), rows.indptr[:-1].astype(np.int64)
    return (
        torch.from_numpy(items).to(device),
        torch.from_numpy(offsets).to(device),
        torch.from_numpy(values).to(device),
        torch.from_numpy(which).to(device),
    )
