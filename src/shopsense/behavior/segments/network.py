"""The autoencoder network: one customer autoencoder and an ensemble of them run side by side."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch
from torch import nn


class CustomerAutoencoder(nn.Module):
    """features → hidden → embedding → hidden → features; the embedding is the bottleneck."""

    def __init__(self, n_features: int, hidden_size: int, embedding_size: int) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(n_features, hidden_size), nn.GELU(), nn.Linear(hidden_size, embedding_size)
        )
        self.decoder = nn.Sequential(
            nn.Linear(embedding_size, hidden_size), nn.GELU(), nn.Linear(hidden_size, n_features)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encoder(x)
        return self.decoder(z), z


class EnsembleAutoencoder(nn.Module):
    """`members` independent `CustomerAutoencoder`s run as one network: each layer's weights
    are stacked (members, inputs, outputs) and applied by batched matrix products, so that
    an epoch of ten members takes about twice as long as one of a single member. Members
    differ in their initial weights; they share the batches, the held-out customers and
    (in the trainer) the epoch whose weights are kept."""

    def __init__(
        self, n_features: int, hidden_size: int, embedding_size: int, members: int = 1
    ) -> None:
        super().__init__()
        sizes = [n_features, hidden_size, embedding_size, hidden_size, n_features]
        self.weights = nn.ParameterList(
            nn.Parameter(torch.zeros(members, a, b)) for a, b in pairwise(sizes)
        )
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(members, b)) for b in sizes[1:])

    @property
    def members(self) -> int:
        return int(self.weights[0].shape[0])

    @classmethod
    def of(cls, members: Sequence[CustomerAutoencoder]) -> EnsembleAutoencoder:
        """The ensemble of `members`, starting from their weights."""
        first = members[0].encoder[0]
        out = cls(first.in_features, first.out_features, members[0].encoder[2].out_features)
        layers = [[m.encoder[0], m.encoder[2], m.decoder[0], m.decoder[2]] for m in members]
        with torch.no_grad():
            for j in range(4):
                out.weights[j] = nn.Parameter(torch.stack([ls[j].weight.T for ls in layers]))
                out.biases[j] = nn.Parameter(torch.stack([ls[j].bias for ls in layers]))
        return out

    def load_weights(self, state: dict[str, torch.Tensor]) -> None:
        """Weights as saved by `state_dict`, or a single `CustomerAutoencoder`'s (models
        saved before ensembles)."""
        if "encoder.0.weight" in state:
            names = ("encoder.0", "encoder.2", "decoder.0", "decoder.2")
            state = {
                **{f"weights.{j}": state[f"{n}.weight"].T[None] for j, n in enumerate(names)},
                **{f"biases.{j}": state[f"{n}.bias"][None] for j, n in enumerate(names)},
            }
        self.load_state_dict(state)

    def _layer(self, j: int, h: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.biases[j].unsqueeze(1), h, self.weights[j])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(customers, features) → (members, customers, embedding_size)."""
        h = x.unsqueeze(0).expand(self.members, -1, -1)
        return self._layer(1, nn.functional.gelu(self._layer(0, h)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encode(x)
        return self._layer(3, nn.functional.gelu(self._layer(2, z))), z
