"""What every PyTorch recommender shares: training on the shared `Trainer`, validation by
NDCG@10 on held-out events, batched scoring, and weights saved as safetensors.

A model file supplies only its maths: `_build_module` (the network for the current
vocabulary), `_batches` and `_loss` (one epoch of training), and `_forward_scores`
(scores of a batch of users over all items). `fit(train, validation=...)` then trains
with early stopping on the validation events, checkpointing every epoch when given a
`checkpoint_dir`.
"""

from __future__ import annotations

import os
import tempfile
from abc import abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from shopsense.data.views import Interactions
from shopsense.recommend.base import Recommender
from shopsense.train.trainer import (
    EpochLog,
    Trainer,
    TrainerConfig,
    TrainResult,
    seed_everything,
    select_device,
    torch_threads,
)

WEIGHTS_FILE = "weights.safetensors"


@dataclass
class NeuralConfig(TrainerConfig):
    validation_users: int = 0
    """Validate on at most this many (seeded, fixed) users of the validation set; 0: all."""


class NeuralRecommender(Recommender):
    """A recommender whose model is a `torch.nn.Module` trained by the shared `Trainer`."""

    Config = NeuralConfig
    config: NeuralConfig
    module_: torch.nn.Module

    # ----------------------------------------------------------------- what a model supplies
    @abstractmethod
    def _build_module(self) -> torch.nn.Module:
        """A freshly initialised network for `self.n_users` × `self.n_items`."""

    def _prepare(self, train: Interactions) -> None:
        """Derive what training and scoring need from the training view (e.g. sequences)."""

    @abstractmethod
    def _batches(self, rng: np.random.Generator) -> Iterable[Any]:
        """One epoch of training batches (tensors on `self.device_`), shuffled with rng."""

    @abstractmethod
    def _loss(self, batch: Any) -> torch.Tensor:
        """Scalar loss of one batch."""

    @abstractmethod
    def _forward_scores(self, user_idx: torch.Tensor) -> torch.Tensor:
        """(batch, n_items) scores; called in eval mode under no_grad."""

    # ----------------------------------------------------------------- training
    def fit(
        self,
        train: Interactions,
        items: pd.DataFrame | None = None,
        validation: Interactions | None = None,
        *,
        checkpoint_dir: str | Path | None = None,
        resume: bool = False,
        on_epoch_end: Callable[[EpochLog], None] | None = None,
    ) -> Self:
        """Train on `train`; with `validation`, stop early on its NDCG@10 and keep the best
        epoch. `checkpoint_dir` + `resume=True` continues a run that was killed;
        `on_epoch_end` sees each epoch's log (loss, validation metric, seconds)."""
        self._run = {
            "validation": validation,
            "checkpoint_dir": checkpoint_dir,
            "resume": resume,
            "on_epoch_end": on_epoch_end,
        }
        try:
            return super().fit(train, items)
        finally:
            del self._run

    def _fit(self, train: Interactions, items: pd.DataFrame | None) -> None:
        cfg = self.config
        validation: Interactions | None = self._run["validation"]
        if validation is not None and (
            validation.n_items != train.n_items or validation.n_users != train.n_users
        ):
            raise ValueError("validation must share the training view's vocabulary")
        self.device_ = select_device(cfg.device)
        with torch_threads(cfg.threads):
            self._prepare(train)
            seed_everything(cfg.random_state)
            self.module_ = self._build_module().to(self.device_)
            trainer = Trainer(
                cfg,
                checkpoint_dir=self._run["checkpoint_dir"],
                resume=self._run["resume"],
                desc=self.name,
                on_epoch_end=self._run["on_epoch_end"],
            )
            self.training_ = trainer.fit(_Task(self, self._capped(validation)))
        self.module_.eval()

    def _validate(self, validation: Interactions | None) -> float | None:
        if validation is None:
            return None
        from shopsense.eval.evaluate import evaluate  # evaluate imports base; avoid a cycle

        return evaluate(self, validation, k=10, metrics=["ndcg"]).metrics["ndcg@10"]

    def _capped(self, validation: Interactions | None) -> Interactions | None:
        """At most `validation_users` users of the validation set, the same every epoch."""
        cap = self.config.validation_users
        if validation is None or not cap or len(validation.active_users) <= cap:
            return validation
        rng = np.random.default_rng(self.config.random_state)
        keep = rng.choice(validation.active_users, cap, replace=False)
        return validation.with_events(np.isin(validation.user_idx, keep))

    # ----------------------------------------------------------------- scoring
    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        idx = torch.from_numpy(np.asarray(user_idx, dtype=np.int64)).to(self.device_)
        return self._inference(self._forward_scores, idx)

    def _inference(self, fn: Any, *args: Any) -> np.ndarray:
        """`fn(*args)` in eval mode without gradients, as a float32 NumPy array."""
        self.module_.eval()
        with torch.no_grad():
            out = fn(*args)
        return out.float().cpu().numpy()

    # ----------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Config JSON + id arrays (npz) + the network's weights as safetensors."""
        path = super().save(path)
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.module_.state_dict().items()}
        fd, tmp = tempfile.mkstemp(dir=path, prefix=f".{WEIGHTS_FILE}.", suffix=".tmp")
        os.close(fd)
        try:
            save_file(tensors, tmp, metadata={"model": self.name})
            os.replace(tmp, path / WEIGHTS_FILE)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | Path) -> Self:
        model = super().load(path)
        model.device_ = select_device(model.config.device)
        module = model._build_module()
        module.load_state_dict(load_file(Path(path) / WEIGHTS_FILE))
        model.module_ = module.to(model.device_).eval()
        if model.exportable:  # scores with its checked ONNX export, per SHOPSENSE_ONNX
            from shopsense.config import Settings

            model.use_runtime(path, Settings().onnx)
        return model

    def _set_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Models with arrays beyond the weights (histories, popularity) extend this."""


class _Task:
    """Adapts a `NeuralRecommender` to the trainer's `TrainingTask`."""

    def __init__(self, model: NeuralRecommender, validation: Interactions | None) -> None:
        self.model = model
        self.module = model.module_
        self.validation = validation

    def batches(self, rng: np.random.Generator) -> Iterable[Any]:
        return self.model._batches(rng)

    def loss(self, batch: Any) -> torch.Tensor:
        return self.model._loss(batch)

    def validate(self) -> float | None:
        return self.model._validate(self.validation)


def training_summary(model: Recommender) -> dict[str, Any]:
    """The trainer's record of a fitted neural model (empty for other models)."""
    result: TrainResult | None = getattr(model, "training_", None)
    return result.to_dict() if result is not None else {}
