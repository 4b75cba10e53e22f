"""The sequence autoencoder's network: only the `nn.Module`."""

from __future__ import annotations

import torch
from torch import nn


class _Network(nn.Module):
    """GRU encoder over the steps + the unit features -> code -> unit features and a GRU
    decoder that rebuilds every step from the code alone."""

    def __init__(self, n_unit: int, n_step: int, hidden: int, latent: int) -> None:
        super().__init__()
        self.step_in = nn.Linear(n_step, hidden)
        self.encoder = nn.GRU(hidden, hidden, batch_first=True)
        self.unit_in = nn.Linear(n_unit, hidden)
        self.to_code = nn.Linear(2 * hidden, latent)
        self.unit_out = nn.Sequential(
            nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, n_unit)
        )
        self.decoder_start = nn.Linear(latent, hidden)
        self.decoder = nn.GRU(latent, hidden, batch_first=True)
        self.step_out = nn.Linear(hidden, n_step)

    def forward(
        self, steps: torch.Tensor, lengths: torch.Tensor, unit: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # Padding comes after the real steps, so the state at the last real step is the
        # encoding (the same as packing the sequences, at half the cost).
        out, _ = self.encoder(torch.relu(self.step_in(steps)))
        last = out[torch.arange(len(out), device=out.device), lengths.to(out.device) - 1]
        code = torch.tanh(self.to_code(torch.cat([last, torch.relu(self.unit_in(unit))], dim=1)))
        repeated = code.unsqueeze(1).expand(-1, steps.shape[1], -1).contiguous()
        out, _ = self.decoder(repeated, torch.tanh(self.decoder_start(code)).unsqueeze(0))
        return self.step_out(out), self.unit_out(code)
