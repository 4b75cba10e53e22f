"""SASRec: causal self-attention over the user's item sequence.

Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018. Trained, as in
Klenitskiy & Vasilev, "Turning Dross Into Gold Loss: is BERT4Rec really better than
SASRec?" (RecSys 2023, "SASRec+"), with a full softmax cross-entropy over all items
instead of the paper's one sampled negative per position — the same network, a much
stronger model.

The network is the paper's: item embeddings (scaled by √d) plus learned position
embeddings, `blocks` pre-norm Transformer blocks with causal attention, and the output
scored against the same item embeddings (weights tied).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from shopsense.estimator import register
from shopsense.recommend.sequential import (
    SequentialConfig,
    SequentialRecommender,
    causal_mask,
    end_aligned_positions,
)


@dataclass
class SASRecConfig(SequentialConfig):
    blocks: int = 2
    """Self-attention blocks."""
    heads: int = 1
    """Attention heads per block (hidden must be divisible by it)."""
    dropout: float = 0.5
    """The paper's setting for sparse data such as Amazon Beauty."""
    learning_rate: float = 2e-3
    batch_size: int = 64
    """Sequences per step; small batches (more steps per epoch) converge in fewer epochs."""


class _SASRecNet(torch.nn.Module):
    def __init__(self, n_items: int, cfg: SASRecConfig) -> None:
        super().__init__()
        self.hidden = cfg.hidden
        self.max_length = cfg.max_length
        self.items = torch.nn.Embedding(n_items + 1, cfg.hidden, padding_idx=0)
        self.positions = torch.nn.Embedding(cfg.max_length + 1, cfg.hidden, padding_idx=0)
        self.dropout = torch.nn.Dropout(cfg.dropout)
        self.blocks = torch.nn.ModuleList(
            torch.nn.TransformerEncoderLayer(
                cfg.hidden,
                cfg.heads,
                dim_feedforward=cfg.hidden,
                dropout=cfg.dropout,
                batch_first=True,
                norm_first=True,
            )
            for _ in range(cfg.blocks)
        )
        self.norm = torch.nn.LayerNorm(cfg.hidden)
        torch.nn.init.normal_(self.items.weight[1:], std=cfg.hidden**-0.5)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        width = tokens.shape[1]
        positions = end_aligned_positions(lengths, width, self.max_length)
        x = self.items(tokens) * self.hidden**0.5 + self.positions(positions)
        x = self.dropout(x) * (tokens > 0).unsqueeze(-1)
        mask = causal_mask(width, tokens.device)
        for block in self.blocks:
            x = block(x, src_mask=mask, is_causal=True)
        return self.norm(x)


@register("sasrec")
class SASRec(SequentialRecommender):
    """Next-item prediction with causal self-attention (SASRec, cross-entropy loss)."""

    name = "sasrec"
    Config = SASRecConfig
    config: SASRecConfig

    def _build_module(self) -> torch.nn.Module:
        cfg = self.config
        if cfg.blocks < 1 or cfg.heads < 1 or cfg.hidden % cfg.heads:
            raise ValueError("sasrec: need blocks >= 1 and hidden divisible by heads >= 1")
        return _SASRecNet(self.n_items, cfg)

    def _encode(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.module_(tokens, lengths)

    def _output_weights(self) -> torch.Tensor:
        return self.module_.items.weight[1:]
