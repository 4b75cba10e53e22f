"""NeuMF: neural collaborative filtering, a GMF and an MLP branch fused by one linear layer.

He, Liao, Zhang, Nie, Hu & Chua, "Neural Collaborative Filtering", WWW 2017. The
generalised matrix factorisation (GMF) branch multiplies a user and an item vector
element-wise; the MLP branch feeds the concatenation of two other vectors through ReLU
layers; a final linear layer on both outputs gives the logit of "u interacts with i".
Training is pointwise on implicit feedback: every observed pair is a positive, and
`negatives` items drawn uniformly from those the user has not touched are negatives, all
under binary cross-entropy.

Both branches are trained jointly from scratch; the paper's pre-training of GMF and MLP
separately (then fusing their weights) is not used.

Scoring every item is vectorised rather than a loop over (user, item) pairs: the GMF
term (p_u ⊙ q_i)·h is p_u · (q_i ⊙ h), a matrix product, and the MLP's first layer
W[p_u; q_i] = A p_u + B q_i is computed once per user and once per item, so only the
later (narrower) layers run on the users × items grid, in chunks of bounded memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import torch
import torch.nn.functional as F

from shopsense.data.views import Interactions
from shopsense.estimator import register
from shopsense.recommend.bpr import sample_negatives
from shopsense.recommend.neural import NeuralConfig, NeuralRecommender

#: bytes the (users × items × width) MLP activations of one scoring chunk may take
SCORE_BYTES = 256 * 2**20
#: standard deviation of the initial embeddings (the paper's N(0, 0.01))
INIT_STD = 0.01


@dataclass
class NeuMFConfig(NeuralConfig):
    factors: int = 32
    """Length of the GMF branch's user and item vectors (its predictive factors)."""
    mlp_layers: tuple[int, ...] = (64, 32, 16)
    """Widths of the MLP tower, as in the authors' code: the first is the user and item
    vectors side by side (each half as long), each next one a ReLU layer; the last is the
    MLP's predictive factors. At least two entries, the first even."""
    dropout: float = 0.0
    """Dropout after each ReLU layer of the MLP while training (the paper uses none)."""
    negatives: int = 4
    """Negatives drawn per observed pair and epoch: uniform over the items the user has
    not touched (the paper found 3–6 best)."""
    epochs: int = 20
    """Most passes over the pairs; also the length of a fit without validation. The users'
    vectors overfit soon on sparse data (best epoch 8 on Amazon Beauty, 18 on Online
    Retail; validation stops it early)."""
    batch_size: int = 2048
    """Training examples (positives and their negatives, shuffled together) per step."""
    learning_rate: float = 1e-3
    """Adam's step size (3e-3 peaked at epoch 2 on Amazon Beauty, far lower)."""

    def __post_init__(self) -> None:
        # JSON (save/load) turns tuples into lists; keep one type either way.
        self.mlp_layers = tuple(self.mlp_layers)


class _NeuMFNet(torch.nn.Module):
    """The two branches and the fusing layer; `forward` scores pairs, `score_all` grids."""

    def __init__(self, n_users: int, n_items: int, cfg: NeuMFConfig) -> None:
        super().__init__()
        layers = cfg.mlp_layers
        half = layers[0] // 2
        self.gmf_users = torch.nn.Embedding(n_users, cfg.factors)
        self.gmf_items = torch.nn.Embedding(n_items, cfg.factors)
        self.mlp_users = torch.nn.Embedding(n_users, half)
        self.mlp_items = torch.nn.Embedding(n_items, half)
        self.mlp = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in pairwise(layers))
        self.output = torch.nn.Linear(cfg.factors + layers[-1], 1)
        self.dropout = torch.nn.Dropout(cfg.dropout)
        for table in (self.gmf_users, self.gmf_items, self.mlp_users, self.mlp_items):
            torch.nn.init.normal_(table.weight, std=INIT_STD)
        for layer in self.mlp:
            torch.nn.init.xavier_uniform_(layer.weight)
            torch.nn.init.zeros_(layer.bias)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Logits of (users[k], items[k]) pairs."""
        gmf = self.gmf_users(users) * self.gmf_items(items)
        h = torch.cat([self.mlp_users(users), self.mlp_items(items)], dim=1)
        for layer in self.mlp:
            h = self.dropout(torch.relu(layer(h)))
        return self.output(torch.cat([gmf, h], dim=1)).squeeze(1)

    def score_all(self, users: torch.Tensor, chunk: int) -> torch.Tensor:
        """(len(users), n_items) logits, equal to `forward` on every pair (eval mode, no_grad).

        The users × items activations go `chunk` users at a time through buffers allocated
        once: a fresh multi-megabyte tensor per layer and chunk costs more in page faults
        than the arithmetic.
        """
        factors = self.gmf_items.embedding_dim
        h_gmf, h_mlp = self.output.weight[0, :factors], self.output.weight[0, factors:]
        scores = self.gmf_users(users) @ (self.gmf_items.weight * h_gmf).T + self.output.bias
        first = self.mlp[0]
        half = self.mlp_users.embedding_dim
        user_part = self.mlp_users(users) @ first.weight[:, :half].T + first.bias
        item_part = self.mlp_items.weight @ first.weight[:, half:].T
        n_items = len(item_part)
        chunk = min(chunk, len(users))
        buffers = [scores.new_empty(chunk * n_items, layer.out_features) for layer in self.mlp]
        for s in range(0, len(users), chunk):
            c = min(chunk, len(users) - s)
            h = buffers[0][: c * n_items]
            torch.add(
                user_part[s : s + c, None, :], item_part[None, :, :], out=h.view(c, n_items, -1)
            )
            h.relu_()
            for layer, buffer in zip(self.mlp[1:], buffers[1:], strict=True):
                h = torch.addmm(layer.bias, h, layer.weight.T, out=buffer[: c * n_items]).relu_()
            scores[s : s + c] += (h @ h_mlp).view(c, n_items)
        return scores


@register("neumf")
class NeuMF(NeuralRecommender):
    """Neural matrix factorisation (GMF + MLP) trained on sampled negatives.

    `batch_size` counts training examples, positives and negatives alike, as in the
    authors' code. Users are learned vectors, so new events (`with_history`) change only
    what is excluded, not the scores.
    """

    name = "neumf"
    Config = NeuMFConfig
    config: NeuMFConfig
    module_: _NeuMFNet

    def _prepare(self, train: Interactions) -> None:
        _check_config(self.config)
        pairs = train.binary
        self._pair_users = np.repeat(
            np.arange(train.n_users, dtype=np.int64), np.diff(pairs.indptr)
        )
        self._pair_items = pairs.indices.astype(np.int64)
        # csr rows are sorted by user, then item: the codes come out sorted
        self._pair_keys = self._pair_users * train.n_items + self._pair_items

    def _build_module(self) -> torch.nn.Module:
        return _NeuMFNet(self.n_users, self.n_items, self.config)

    def _batches(self, rng: np.random.Generator) -> Iterator[tuple[torch.Tensor, ...]]:
        n_neg = self.config.negatives
        neg_users = np.repeat(self._pair_users, n_neg)
        neg_items = sample_negatives(rng, neg_users, self._pair_keys, self.n_items)
        users = np.concatenate([self._pair_users, neg_users])
        items = np.concatenate([self._pair_items, neg_items])
        labels = np.zeros(len(users), dtype=np.float32)
        labels[: len(self._pair_users)] = 1.0
        order = rng.permutation(len(users))
        tensors = [torch.from_numpy(a[order]).to(self.device_) for a in (users, items, labels)]
        bs = self.config.batch_size
        for s in range(0, len(order), bs):
            yield tuple(t[s : s + bs] for t in tensors)

    def _loss(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        users, items, labels = batch
        return F.binary_cross_entropy_with_logits(self.module_(users, items), labels)

    def _forward_scores(self, user_idx: torch.Tensor) -> torch.Tensor:
        return self.module_.score_all(user_idx, self._score_chunk())

    def _score_chunk(self) -> int:
        """Users per chunk so that the MLP's users × items activations fit in SCORE_BYTES."""
        width = sum(self.config.mlp_layers[1:])  # one buffer per layer, all alive at once
        return max(1, SCORE_BYTES // (4 * self.n_items * width))

    def item_vectors(self) -> np.ndarray:
        """GMF item vectors weighted by the fusing layer (q_i ⊙ h), as the score sees them."""
        net = self.module_
        h_gmf = net.output.weight[0, : net.gmf_items.embedding_dim]
        return (net.gmf_items.weight * h_gmf).detach().float().cpu().numpy()


def _check_config(cfg: NeuMFConfig) -> None:
    layers = tuple(cfg.mlp_layers)
    if cfg.factors < 1 or cfg.negatives < 1:
        raise ValueError("neumf: need factors >= 1 and negatives >= 1")
    if len(layers) < 2 or min(layers) < 1 or layers[0] % 2:
        raise ValueError(
            f"neumf: mlp_layers must have at least two positive widths, the first even (the "
            f"user and item vectors side by side), not {layers}"
        )
    if not 0 <= cfg.dropout < 1:
        raise ValueError(f"neumf: dropout must be in [0, 1), not {cfg.dropout}")
