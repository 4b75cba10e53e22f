"""A GRU sequence autoencoder over an order's lines or a session's events (Malhotra et al.,
"LSTM-based Encoder-Decoder for Multi-sensor Anomaly Detection", ICML workshop 2016),
trained with the shared `Trainer`; score = reconstruction error."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file

from shopsense.behavior.anomaly.base import AnomalyDetector, _robust_scale
from shopsense.behavior.anomaly.network import _Network
from shopsense.data.units import Units
from shopsense.estimator import register
from shopsense.persist import atomic_write_stream
from shopsense.train.trainer import (
    Trainer,
    TrainerConfig,
    TrainResult,
    seed_everything,
    select_device,
    torch_threads,
)

WEIGHTS_FILE = "weights.safetensors"


@dataclass
class SequenceAutoencoderConfig(TrainerConfig):
    """The trainer's fields (defaults below: a small network on many short sequences) and
    the autoencoder's own."""

    epochs: int = 30
    batch_size: int = 256
    """Windows per step."""
    patience: int = 3
    learning_rate: float = 3e-3
    threads: int = 1
    """One torch thread: batches of a small GRU gain nothing from more, and on shared cores
    extra threads waiting on each other made an epoch 3–15 times slower."""
    hidden_size: int = 32
    """GRU width of the encoder and the decoder."""
    latent_size: int = 8
    """Bottleneck: the code a unit is squeezed through (small, so rare patterns do not fit)."""
    max_length: int = 32
    """Steps per window; longer units are cut into windows, each reconstructed on its own."""
    validation_share: float = 0.1
    """Units held out (seeded) for early stopping on their reconstruction error; 0: none."""
    clip: float = 10.0
    """Inputs are robust z-scores clipped to ±clip, so one extreme line cannot blow up a
    training step."""


@dataclass
class _Windows:
    """Units cut into padded windows of at most `max_length` steps."""

    steps: torch.Tensor  # (n_windows, max_length, n_step), scaled
    lengths: torch.Tensor  # (n_windows,) int64
    unit: torch.Tensor  # (n_windows, n_unit), scaled
    window_unit: np.ndarray  # (n_windows,) unit index of each window
    step_row: np.ndarray  # (n_windows, max_length) row in the sorted steps, -1 = padding
    order: np.ndarray  # steps sorted by unit: positions in units.steps
    step_unit: np.ndarray  # unit index of each sorted step

    def take(self, idx: np.ndarray, device: torch.device) -> tuple[torch.Tensor, ...]:
        """(steps, lengths, unit, mask) of windows `idx`, cut to their longest window."""
        t = torch.from_numpy(np.asarray(idx, dtype=np.int64))
        lengths = self.lengths[t]
        n = int(lengths.max())
        steps = self.steps[t, :n].to(device)
        mask = (torch.arange(n).unsqueeze(0) < lengths.unsqueeze(1)).to(device)
        return steps, lengths, self.unit[t].to(device), mask


@register("sequence_autoencoder")
class SequenceAutoencoder(AnomalyDetector):
    """A GRU sequence autoencoder over an order's lines or a session's events.

    The encoder reads the (robust-scaled) steps and the unit features into a small code;
    the decoder rebuilds the unit features and every step from that code. Trained on
    unlabelled units with the shared `Trainer` (seeded; cuda when present, else cpu) to
    minimise the squared error. A unit's score is its reconstruction error in robust z
    units: the squared error of each unit feature (mean over its windows) plus, for each
    step feature, the mean squared error over its steps. The mean, not the worst step: the
    worst of many steps grows with their number, which made long ordinary orders outrank
    short odd ones; one odd line still shows through unit features such as
    price_ratio_min. `explain` lists those terms, largest first.
    """

    name = "sequence_autoencoder"
    Config = SequenceAutoencoderConfig
    config: SequenceAutoencoderConfig

    def _step_names(self) -> list[str]:
        return [f"{self.step_name_}.{c}" for c in self.step_features_]

    def _fit(self, units: Units) -> None:
        cfg = self.config
        if not self.step_features_:
            raise ValueError(f"{self.name}: the units have no step features left")
        if cfg.max_length < 1 or not 0 <= cfg.validation_share < 1 or cfg.clip <= 0:
            raise ValueError("need max_length >= 1, 0 <= validation_share < 1 and clip > 0")
        steps = units.step_frame[self.step_features_].to_numpy(dtype=float)
        self.step_center_, self.step_scale_ = _robust_scale(steps)
        self.device_ = select_device(cfg.device)
        with torch_threads(cfg.threads):
            windows = self._windows(units)
            seed_everything(cfg.random_state)
            self.module_ = self._build_module().to(self.device_)
            train, val = _held_out(len(units), cfg.validation_share, cfg.random_state)
            task = _AutoencoderTask(self, windows, train, val)
            self.training_: TrainResult = Trainer(cfg, desc=self.name).fit(task)
        self.module_.eval()

    def _build_module(self) -> _Network:
        cfg = self.config
        return _Network(
            len(self.unit_features_), len(self.step_features_), cfg.hidden_size, cfg.latent_size
        )

    def _windows(self, units: Units) -> _Windows:
        clip, length = self.config.clip, self.config.max_length
        unit_x = units.features[self.unit_features_].to_numpy(dtype=float)
        unit_x = np.clip((unit_x - self.center_) / self.scale_, -clip, clip)
        code = units.features.index.get_indexer(units.steps["unit"])
        order = np.argsort(code, kind="stable")
        step_unit = code[order]
        steps = units.step_frame[self.step_features_].to_numpy(dtype=float)[order]
        steps = np.clip((steps - self.step_center_) / self.step_scale_, -clip, clip)
        starts = np.r_[0, np.flatnonzero(np.diff(step_unit)) + 1]
        position = np.arange(len(step_unit)) - np.repeat(starts, np.diff(np.r_[starts, len(code)]))
        chunk = position // length
        new_window = np.r_[True, (np.diff(step_unit) != 0) | (np.diff(chunk) != 0)]
        window = np.cumsum(new_window) - 1
        n_windows = int(window[-1]) + 1
        slot = position % length
        padded = np.zeros((n_windows, length, steps.shape[1]), dtype=np.float32)
        padded[window, slot] = steps
        step_row = np.full((n_windows, length), -1, dtype=np.int64)
        step_row[window, slot] = np.arange(len(step_unit))
        lengths = np.bincount(window, minlength=n_windows)
        window_unit = step_unit[new_window]
        return _Windows(
            torch.from_numpy(padded),
            torch.from_numpy(lengths.astype(np.int64)),
            torch.from_numpy(unit_x[window_unit].astype(np.float32)),
            window_unit,
            step_row,
            order,
            step_unit,
        )

    def _errors(self, units: Units) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per unit: squared error of each unit feature (mean over windows), of each step
        feature (mean over steps), and the row in `units.steps` of each step feature's
        worst step."""
        with torch_threads(self.config.threads):
            w = self._windows(units)
            self.module_.eval()
            unit_sq = np.zeros((len(w.window_unit), len(self.unit_features_)))
            step_sq = np.zeros((len(w.step_unit), len(self.step_features_)))
            with torch.no_grad():
                for idx in _chunks(np.arange(len(w.window_unit)), 1024):
                    steps, lengths, unit, _ = w.take(idx, self.device_)
                    step_hat, unit_hat = self.module_(steps, lengths, unit)
                    unit_sq[idx] = ((unit_hat - unit) ** 2).cpu().numpy()
                    err = ((step_hat - steps) ** 2).cpu().numpy()
                    rows = w.step_row[idx, : steps.shape[1]]
                    real = rows >= 0
                    step_sq[rows[real]] = err[real]
        n = len(units)
        per_unit = np.zeros((n, unit_sq.shape[1]))
        np.add.at(per_unit, w.window_unit, unit_sq)
        per_unit /= np.bincount(w.window_unit, minlength=n)[:, None]
        frame = pd.DataFrame(step_sq).groupby(w.step_unit, sort=True)
        return per_unit, frame.mean().to_numpy(), w.order[frame.idxmax().to_numpy()]

    def _score(self, units: Units) -> np.ndarray:
        unit_err, step_err, _ = self._errors(units)
        return unit_err.sum(axis=1) + step_err.sum(axis=1)

    def _contributions(self, units: Units) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        unit_err, step_err, worst = self._errors(units)
        unit_x = units.features[self.unit_features_].to_numpy(dtype=float)
        step_x = units.step_frame[self.step_features_].to_numpy(dtype=float)
        step_values = step_x[worst, np.arange(step_x.shape[1])]
        values = np.hstack([unit_x, step_values])
        typical = np.broadcast_to(np.r_[self.center_, self.step_center_], values.shape)
        return np.hstack([unit_err, step_err]), values, typical

    def _state(self) -> dict[str, np.ndarray]:
        return {"step_center": self.step_center_, "step_scale": self.step_scale_}

    def _save_weights(self, path: Path) -> None:
        """The network's weights as safetensors (no pickle)."""
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.module_.state_dict().items()}
        atomic_write_stream(path / WEIGHTS_FILE, lambda f: f.write(_safetensors_bytes(tensors)))

    def _set_state(self, arrays: Mapping[str, np.ndarray], path: Path) -> None:
        self.step_center_, self.step_scale_ = arrays["step_center"], arrays["step_scale"]
        self.device_ = select_device(self.config.device)
        module = self._build_module()
        module.load_state_dict(load_file(path / WEIGHTS_FILE))
        self.module_ = module.to(self.device_).eval()


class _AutoencoderTask:
    """Adapts a `SequenceAutoencoder` to the trainer's `TrainingTask`: windows of the
    training units in shuffled batches; validation = minus the held-out units' loss."""

    def __init__(
        self, model: SequenceAutoencoder, windows: _Windows, train: np.ndarray, val: np.ndarray
    ) -> None:
        self.model = model
        self.module = model.module_
        self.windows = windows
        in_train = np.isin(windows.window_unit, train)
        self.train = np.flatnonzero(in_train)
        self.val = np.flatnonzero(~in_train)

    def batches(self, rng: np.random.Generator) -> Iterator[np.ndarray]:
        return _chunks(rng.permutation(self.train), self.model.config.batch_size)

    def loss(self, batch: np.ndarray) -> torch.Tensor:
        steps, lengths, unit, mask = self.windows.take(batch, self.model.device_)
        step_hat, unit_hat = self.module(steps, lengths, unit)
        step_err = ((step_hat - steps) ** 2).mean(dim=2)
        return (step_err * mask).sum() / mask.sum() + ((unit_hat - unit) ** 2).mean()

    def validate(self) -> float | None:
        if len(self.val) == 0:
            return None
        losses = [float(self.loss(b)) * len(b) for b in _chunks(self.val, 1024)]
        return -sum(losses) / len(self.val)


def _held_out(n: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit indices to train on and to validate on (seeded); no validation when too few."""
    n_val = round(n * share)
    if n_val < 1 or n - n_val < 1:
        return np.arange(n), np.arange(0)
    perm = np.random.default_rng([seed, 1]).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def _chunks(idx: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for i in range(0, len(idx), size):
        yield idx[i : i + size]


def _safetensors_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    from safetensors.torch import save

    return save(tensors, metadata={"model": SequenceAutoencoder.name})
