"""The one training loop every PyTorch model in shopsense runs on.

A model hands the `Trainer` a `TrainingTask`: its `torch.nn.Module`, how to cut an epoch
into batches, the loss of one batch, and (optionally) a validation score where higher is
better. The trainer owns everything around that: optimiser and learning-rate schedule,
seeds, early stopping, keeping the best weights, the progress bar, and a checkpoint after
every epoch from which a killed run resumes.

Determinism: the module is initialised under `seed`, and every epoch reseeds NumPy and
torch from `(seed, epoch)`. The checkpoint therefore needs no random-generator state, and
a run resumed after epoch e draws exactly what an uninterrupted run would have drawn in
epoch e + 1 — on the same device and thread count the two end bit-for-bit equal.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

CHECKPOINT_FILE = "checkpoint.pt"
SCHEDULES = ("constant", "linear", "cosine")
OPTIMIZERS = ("adam", "adamw", "sgd")


@dataclass
class TrainerConfig:
    """How to train; deep models' configs inherit these fields, so they are set the same
    way as any hyper-parameter (`Model(epochs=50)`, `--param epochs=50`)."""

    epochs: int = 50
    """Most passes over the training data; early stopping usually ends sooner."""
    batch_size: int = 128
    """Examples per optimiser step (users, sequences or pairs, depending on the model)."""
    learning_rate: float = 1e-3
    """Peak step size of the optimiser."""
    weight_decay: float = 0.0
    """Decoupled weight decay (AdamW) or L2 penalty (Adam)."""
    optimizer: str = "adam"
    """"adam", "adamw" or "sgd"."""
    schedule: str = "constant"
    """Learning rate over the epochs: "constant", "linear" decay to 0, or "cosine"."""
    clip_norm: float = 0.0
    """Clip the gradient norm to this value (0: no clipping)."""
    patience: int = 5
    """Stop after this many validations without improvement (0: never stop early)."""
    validate_every: int = 1
    """Validate every n epochs."""
    random_state: int = 0
    """Seed of initial weights, shuffling, negatives and dropout."""
    device: str = "auto"
    """Torch device; "auto" is cuda when available, else cpu."""
    threads: int = 0
    """Torch CPU threads while training (0: leave torch's default)."""


@dataclass
class EpochLog:
    epoch: int
    loss: float
    seconds: float
    metric: float | None = None
    learning_rate: float = 0.0


@dataclass
class TrainResult:
    """What happened during `Trainer.fit`."""

    history: list[EpochLog] = field(default_factory=list)
    best_epoch: int = 0
    """1-based epoch whose weights the module ends with (the last one without validation)."""
    best_metric: float | None = None
    stopped_early: bool = False
    resumed_from: int = 0
    """Epochs already done in the checkpoint this run resumed from (0: fresh start)."""

    @property
    def epochs(self) -> int:
        return len(self.history)

    @property
    def seconds_per_epoch(self) -> float:
        return float(np.median([h.seconds for h in self.history])) if self.history else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "epochs": self.epochs,
            "best_epoch": self.best_epoch,
            "best_metric": self.best_metric,
            "stopped_early": self.stopped_early,
            "resumed_from": self.resumed_from,
            "seconds_per_epoch": round(self.seconds_per_epoch, 3),
            "history": [asdict(h) for h in self.history],
        }


class TrainingTask(Protocol):
    """What a model gives the trainer."""

    module: torch.nn.Module

    def batches(self, rng: np.random.Generator) -> Iterable[Any]:
        """One epoch of batches, shuffled with `rng` (already seeded for this epoch)."""
        ...

    def loss(self, batch: Any) -> torch.Tensor:
        """Scalar loss of one batch (the module is in train mode)."""
        ...

    def validate(self) -> float | None:
        """Validation score, higher is better (the module is in eval mode); None: none."""
        ...


def select_device(name: str = "auto") -> torch.device:
    """`cuda` when present and asked for "auto", else what was named."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def seed_everything(seed: int, epoch: int = 0) -> np.random.Generator:
    """Seed torch for (seed, epoch) and return the NumPy generator of that epoch."""
    torch.manual_seed(seed * 1_000_003 + epoch)
    return np.random.default_rng([seed, epoch])


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Use n torch CPU threads inside the block (n <= 0: unchanged)."""
    before = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class Trainer:
    """Mini-batch training with early stopping, best-weight restore and checkpoints.

    Args:
        config: the model's `TrainerConfig` fields.
        checkpoint_dir: where `checkpoint.pt` is written after every epoch (None: nowhere).
        resume: continue from the checkpoint in `checkpoint_dir` if there is one.
        desc: label of the progress bar.
        on_epoch_end: called with each `EpochLog` after its checkpoint is written.
    """

    def __init__(
        self,
        config: TrainerConfig,
        *,
        checkpoint_dir: str | Path | None = None,
        resume: bool = False,
        desc: str = "train",
        on_epoch_end: Callable[[EpochLog], None] | None = None,
    ) -> None:
        _check_config(config)
        if resume and checkpoint_dir is None:
            raise ValueError("resume=True needs a checkpoint_dir to resume from")
        self.config = config
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.resume = resume
        self.desc = desc
        self.on_epoch_end = on_epoch_end

    def fit(self, task: TrainingTask) -> TrainResult:
        """Train `task.module` in place; it ends with the best validated weights."""
        cfg = self.config
        module = task.module
        optimizer = _optimizer(cfg, module)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(cfg))
        result = TrainResult()
        best_state: dict[str, torch.Tensor] | None = None
        bad_validations = 0
        start_epoch = 0
        if self.resume and self.checkpoint_path is not None and self.checkpoint_path.exists():
            ckpt = self._load_checkpoint()
            module.load_state_dict(ckpt["module"])
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["scheduler"])
            best_state = ckpt["best_state"]
            bad_validations = int(ckpt["bad_validations"])
            result.history = [EpochLog(**h) for h in ckpt["history"]]
            result.best_epoch = int(ckpt["best_epoch"])
            result.best_metric = ckpt["best_metric"]
            start_epoch = result.resumed_from = len(result.history)
            if ckpt["finished"]:
                result.stopped_early = bool(ckpt["stopped_early"])
                start_epoch = cfg.epochs  # nothing left to do
        bar = tqdm(
            range(start_epoch, cfg.epochs),
            desc=self.desc,
            unit="epoch",
            initial=start_epoch,
            total=cfg.epochs,
            leave=False,
            disable=None,
        )
        for epoch in bar:
            began = time.perf_counter()
            rng = seed_everything(cfg.random_state, epoch + 1)
            loss = self._train_epoch(task, optimizer, rng, epoch + 1)
            lr = optimizer.param_groups[0]["lr"]
            scheduler.step()
            metric = None
            if (epoch + 1) % cfg.validate_every == 0 or epoch + 1 == cfg.epochs:
                module.eval()
                with torch.no_grad():
                    metric = task.validate()
            log = EpochLog(epoch + 1, loss, time.perf_counter() - began, metric, lr)
            result.history.append(log)
            if metric is not None and (result.best_metric is None or metric > result.best_metric):
                result.best_metric, result.best_epoch = metric, epoch + 1
                best_state = _copy_state(module)
                bad_validations = 0
            elif metric is not None:
                bad_validations += 1
            elif result.best_metric is None:  # no validation at all: the latest is the best
                result.best_epoch = epoch + 1
            stop = cfg.patience > 0 and bad_validations >= cfg.patience
            finished = stop or epoch + 1 == cfg.epochs
            result.stopped_early = stop and epoch + 1 < cfg.epochs
            self._save_checkpoint(
                module, optimizer, scheduler, result, best_state, bad_validations, finished
            )
            bar.set_postfix(_postfix(log, result))
            if self.on_epoch_end is not None:
                self.on_epoch_end(log)
            if stop:
                break
        bar.close()
        if best_state is not None:
            module.load_state_dict(best_state)
        module.eval()
        return result

    def _train_epoch(
        self,
        task: TrainingTask,
        optimizer: torch.optim.Optimizer,
        rng: np.random.Generator,
        epoch: int,
    ) -> float:
        module = task.module
        module.train()
        total, count = 0.0, 0
        batches = tqdm(
            task.batches(rng), desc=f"epoch {epoch}", unit="batch", leave=False, disable=None
        )
        for batch in batches:
            loss = task.loss(batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"{self.desc}: the loss became {float(loss.detach())}; lower learning_rate "
                    "or set clip_norm"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.config.clip_norm > 0:
                torch.nn.utils.clip_grad_norm_(module.parameters(), self.config.clip_norm)
            optimizer.step()
            total += float(loss.detach())
            count += 1
            if count % 20 == 0:
                batches.set_postfix(loss=f"{total / count:.4f}", refresh=False)
        return total / max(count, 1)

    # ----------------------------------------------------------------- checkpoints
    @property
    def checkpoint_path(self) -> Path | None:
        return None if self.checkpoint_dir is None else self.checkpoint_dir / CHECKPOINT_FILE

    def _save_checkpoint(
        self,
        module: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        result: TrainResult,
        best_state: dict[str, torch.Tensor] | None,
        bad_validations: int,
        finished: bool,
    ) -> None:
        path = self.checkpoint_path
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "module": module.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "best_state": best_state,
            "bad_validations": bad_validations,
            "history": [asdict(h) for h in result.history],
            "best_epoch": result.best_epoch,
            "best_metric": result.best_metric,
            "stopped_early": result.stopped_early,
            "finished": finished,
            "config": asdict(self.config),
        }
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(payload, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)  # a kill mid-write leaves the previous checkpoint intact
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _load_checkpoint(self) -> dict[str, Any]:
        path = self.checkpoint_path
        assert path is not None
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        free = _RUN_FIELDS + (("epochs",) if self.config.schedule == "constant" else ())
        saved = {k: v for k, v in ckpt["config"].items() if k not in free}
        now = {k: v for k, v in asdict(self.config).items() if k not in free}
        if saved != now:
            changed = sorted(k for k in now if saved.get(k) != now[k])
            raise ValueError(
                f"{path} was written with other settings ({', '.join(changed)} differ); "
                "resume with the same settings or start in a new checkpoint folder"
            )
        return ckpt


#: settings that may change between a killed run and its resumption (and "epochs", to
#: train longer, when the learning rate does not depend on it)
_RUN_FIELDS = ("device", "threads", "patience", "validate_every")


def _check_config(cfg: TrainerConfig) -> None:
    if cfg.epochs < 0 or cfg.batch_size < 1 or cfg.validate_every < 1 or cfg.patience < 0:
        raise ValueError("need epochs >= 0, batch_size >= 1, validate_every >= 1, patience >= 0")
    if cfg.learning_rate <= 0 or cfg.weight_decay < 0 or cfg.clip_norm < 0:
        raise ValueError("need learning_rate > 0, weight_decay >= 0 and clip_norm >= 0")
    if cfg.optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, not {cfg.optimizer!r}")
    if cfg.schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, not {cfg.schedule!r}")


def _optimizer(cfg: TrainerConfig, module: torch.nn.Module) -> torch.optim.Optimizer:
    params = [p for p in module.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    # the fused kernel updates every parameter in one pass: several times faster than the
    # per-tensor loop for models with large embedding tables (the same arithmetic)
    fused = bool(params) and all(
        p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params
    )
    return cls(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay, fused=fused)


def _schedule(cfg: TrainerConfig) -> Callable[[int], float]:
    total = max(cfg.epochs, 1)
    if cfg.schedule == "linear":
        return lambda e: max(0.0, 1.0 - e / total)
    if cfg.schedule == "cosine":
        return lambda e: 0.5 * (1.0 + math.cos(math.pi * min(e, total) / total))
    return lambda e: 1.0


def _copy_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _postfix(log: EpochLog, result: TrainResult) -> dict[str, str]:
    out = {"loss": f"{log.loss:.4f}"}
    if log.metric is not None:
        out["val"] = f"{log.metric:.4f}"
    if result.best_metric is not None:
        out["best"] = f"{result.best_metric:.4f}@{result.best_epoch}"
    return out
