"""GRU4Rec: a recurrent network reads the session and predicts the next item.

Hidasi, Karatzoglou, Baltrunas & Tikk, "Session-based Recommendations with Recurrent
Neural Networks", ICLR 2016; Hidasi & Karatzoglou, "Recurrent Neural Networks with Top-k
Gains for Session-based Recommendations", CIKM 2018.

Differences from the papers, on purpose: items enter through an embedding (the papers'
one-hot input is the same thing with a wider first matrix), sequences are trained as
padded mini-batches rather than session-parallel ones, and the loss is a full softmax
cross-entropy over the catalogue instead of sampled ranking losses — on CPU-sized
catalogues the full softmax is affordable and the strongest choice. `cell="lstm"` swaps
the GRU for an LSTM.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from shopsense.estimator import register
from shopsense.recommend.sequential import SequentialConfig, SequentialRecommender

CELLS = ("gru", "lstm")


@dataclass
class GRU4RecConfig(SequentialConfig):
    layers: int = 1
    """Stacked recurrent layers."""
    cell: str = "gru"
    """"gru" (the paper) or "lstm"."""
    learning_rate: float = 2e-3
    batch_size: int = 64
    """Sequences per step; small batches (more steps per epoch) converge in fewer epochs."""
    dropout: float = 0.3


class _GRU4RecNet(torch.nn.Module):
    def __init__(self, n_items: int, cfg: GRU4RecConfig) -> None:
        super().__init__()
        self.items = torch.nn.Embedding(n_items + 1, cfg.hidden, padding_idx=0)
        self.dropout = torch.nn.Dropout(cfg.dropout)
        rnn = torch.nn.GRU if cfg.cell == "gru" else torch.nn.LSTM
        self.rnn = rnn(
            cfg.hidden,
            cfg.hidden,
            num_layers=cfg.layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.layers > 1 else 0.0,
        )
        self.output = torch.nn.Embedding(n_items, cfg.hidden)
        torch.nn.init.normal_(self.items.weight[1:], std=cfg.hidden**-0.5)
        torch.nn.init.normal_(self.output.weight, std=cfg.hidden**-0.5)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        states, _ = self.rnn(self.dropout(self.items(tokens)))
        return self.dropout(states)


@register("gru4rec")
class GRU4Rec(SequentialRecommender):
    """Next-item prediction with a GRU (or LSTM) over the user's item sequence."""

    name = "gru4rec"
    Config = GRU4RecConfig
    config: GRU4RecConfig
    export_fixed_width = True  # torch.export unrolls the recurrence over time

    def _build_module(self) -> torch.nn.Module:
        if self.config.cell not in CELLS:
            raise ValueError(f"gru4rec: cell must be one of {CELLS}, not {self.config.cell!r}")
        if self.config.layers < 1:
            raise ValueError("gru4rec: layers must be at least 1")
        return _GRU4RecNet(self.n_items, self.config)

    def _encode(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # Right padding: the recurrence reaches every real position before any padding.
        return self.module_(tokens)

    def _output_weights(self) -> torch.Tensor:
        return self.module_.output.weight
