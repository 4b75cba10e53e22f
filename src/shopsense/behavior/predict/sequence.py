"""The GRU network over a customer's invoices, its losses and its learner on the shared Trainer."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

import numpy as np
import torch
from torch import nn

from shopsense.behavior.predict.base import Learner, _sigmoid, customer_holdout
from shopsense.behavior.predict.features import STEP_FEATURES, ModelInputs
from shopsense.train.trainer import (
    Trainer,
    TrainResult,
    seed_everything,
    select_device,
    torch_threads,
)

#: network outputs per objective: a logit, a log1p value, or (logit, mu, sigma) of ZILN
OUTPUTS = {"binary": 1, "regression": 1, "ziln": 3}


class SequenceNet(nn.Module):
    """GRU over the invoice steps, its last state joined with the static features, then an
    MLP to the objective's outputs. Input scaling lives in buffers, so the saved weights
    are the whole model."""

    def __init__(
        self, n_steps: int, n_static: int, hidden: int, dropout: float, n_outputs: int = 1
    ) -> None:
        super().__init__()
        self.register_buffer("step_mean", torch.zeros(n_steps))
        self.register_buffer("step_std", torch.ones(n_steps))
        self.register_buffer("static_mean", torch.zeros(n_static))
        self.register_buffer("static_std", torch.ones(n_static))
        self.gru = nn.GRU(n_steps, hidden, batch_first=True)
        self.static = nn.Sequential(nn.Linear(n_static, hidden), nn.ReLU())
        self.head = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(2 * hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, n_outputs),
        )

    def forward(
        self, steps: torch.Tensor, lengths: torch.Tensor, static: torch.Tensor
    ) -> torch.Tensor:
        out, _ = self.gru((steps - self.step_mean) / self.step_std)
        last = out[torch.arange(len(lengths), device=out.device), lengths - 1]
        s = self.static((static - self.static_mean) / self.static_std)
        out = self.head(torch.cat([last, s], dim=1))
        return out.squeeze(1) if out.shape[1] == 1 else out


class SequenceLearner(Learner):
    """`SequenceNet` trained by the shared `Trainer`: seeded, early stopping on held-out
    customers (all their cut-offs), cpu unless cuda is there.

    Objectives: "binary" (BCE on a logit), "regression" (MSE) and "ziln", the zero-inflated
    lognormal of Wang, Liu & Miao 2019 ("A Deep Probabilistic Model for Customer Lifetime
    Value Prediction"): P(spend > 0) and a lognormal for the amount, predicted as
    `ziln_value`. A log1p regression instead predicts a geometric-mean-like value, far
    below what customers who may spend nothing spend on average."""

    def _build(self, n_static: int) -> SequenceNet:
        cfg = self.config
        return SequenceNet(
            len(STEP_FEATURES), n_static, cfg.hidden_size, cfg.dropout, OUTPUTS[self.objective]
        )

    def fit(self, x: ModelInputs, y: np.ndarray) -> None:
        cfg = self.config
        self.device_ = select_device(cfg.device)
        train, val = customer_holdout(x.customers, cfg.validation_share, cfg)
        with torch_threads(cfg.threads):
            seed_everything(cfg.random_state)
            module = self._build(x.static.shape[1])
            _set_scaling(module, x.take(train))
            _set_output_bias(module, y[train], self.objective)
            self.module_ = module.to(self.device_)
            task = _SequenceTask(self, x, y, train, val)
            self.training_: TrainResult = Trainer(cfg, desc=f"gru-{self.objective}").fit(task)
        self.module_.eval()

    def outputs(self, x: ModelInputs, rows: np.ndarray | None = None) -> torch.Tensor:
        """Raw network outputs for `rows` of x (all rows by default), in chunks of similar
        length (a chunk runs as many GRU steps as its longest sequence)."""
        rows = np.arange(len(x)) if rows is None else np.asarray(rows)
        order = np.argsort(x.lengths[rows], kind="stable")
        width = OUTPUTS[self.objective]
        shape = (len(rows),) if width == 1 else (len(rows), width)
        out = torch.zeros(shape, device=self.device_)
        for i in range(0, len(rows), 1024):
            chunk = order[i : i + 1024]
            out[torch.from_numpy(chunk).to(self.device_)] = self._forward(x, rows[chunk])
        return out

    def _forward(self, x: ModelInputs, rows: np.ndarray) -> torch.Tensor:
        lengths = x.lengths[rows]
        width = int(lengths.max())
        dev = self.device_
        return self.module_(
            torch.from_numpy(np.ascontiguousarray(x.steps[rows, :width])).to(dev),
            torch.from_numpy(lengths).to(dev),
            torch.from_numpy(x.static[rows]).to(dev),
        )

    def predict(self, x: ModelInputs) -> np.ndarray:
        self.module_.eval()
        with torch.no_grad(), torch_threads(self.config.threads):
            out = self.outputs(x).double().cpu().numpy()
        if self.objective == "ziln":
            return ziln_value(out)
        return _sigmoid(out) if self.objective == "binary" else out

    def arrays(self) -> dict[str, np.ndarray]:
        state = self.module_.state_dict()
        return {k: v.detach().cpu().contiguous().numpy() for k, v in state.items()}

    def set_arrays(self, arrays: Mapping[str, np.ndarray], n_static: int) -> None:
        self.device_ = select_device(self.config.device)
        module = self._build(n_static)
        module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()})
        self.module_ = module.to(self.device_).eval()


def _set_scaling(module: SequenceNet, x: ModelInputs) -> None:
    """Standardise inputs with training statistics (steps: real positions only)."""
    real = np.arange(x.steps.shape[1])[None, :] < x.lengths[:, None]
    steps = x.steps[real].astype(np.float64)
    static = x.static.astype(np.float64)
    for name, values in (("step", steps), ("static", static)):
        std = values.std(axis=0)
        getattr(module, f"{name}_mean").copy_(torch.from_numpy(values.mean(axis=0)))
        getattr(module, f"{name}_std").copy_(torch.from_numpy(np.where(std > 1e-6, std, 1.0)))


def ziln_loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Zero-inflated lognormal loss: BCE of spending at all + the lognormal negative
    log-likelihood of the amount for those who spent (Wang, Liu & Miao 2019)."""
    positive = (y > 0).float()
    bce = nn.functional.binary_cross_entropy_with_logits(out[:, 0], positive)
    mu, sigma = out[:, 1], nn.functional.softplus(out[:, 2]) + 1e-3
    log_y = torch.log(torch.where(y > 0, y, torch.ones_like(y)))
    nll = (
        log_y + torch.log(sigma) + 0.5 * math.log(2 * math.pi) + (log_y - mu) ** 2 / (2 * sigma**2)
    )
    return bce + (positive * nll).mean()


def ziln_value(out: np.ndarray) -> np.ndarray:
    """The point prediction of a ZILN output: P(spend > 0) · exp(mu), the chance of
    spending times the median amount. The lognormal mean p · exp(mu + sigma² / 2) was
    tried: sigma is poorly pinned per customer, and exp(sigma² / 2) blew single customers
    up (on the bundled sample its MAE was worse than predicting 0 for everyone)."""
    return _sigmoid(out[:, 0]) * np.exp(np.minimum(out[:, 1], 50.0))


def _set_output_bias(module: SequenceNet, y: np.ndarray, objective: str) -> None:
    """Start the output at the training data's own answer (base rate, mean, or the ZILN
    share of spenders and the mean / sd of their log spend): training then learns who
    differs from it instead of first walking there."""
    if objective == "binary":
        rate = float(np.clip(np.mean(y), 1e-4, 1 - 1e-4))
        bias = [math.log(rate / (1 - rate))]
    elif objective == "regression":
        bias = [float(np.mean(y))]
    else:
        spent = y[y > 0]
        rate = float(np.clip(len(spent) / max(len(y), 1), 1e-4, 1 - 1e-4))
        log_y = np.log(spent) if len(spent) else np.zeros(1)
        sd = max(float(np.std(log_y)), 0.1)
        bias = [math.log(rate / (1 - rate)), float(np.mean(log_y)), math.log(math.expm1(sd))]
    last = module.head[-1]
    with torch.no_grad():
        last.bias.copy_(torch.tensor(bias, dtype=last.bias.dtype))


class _SequenceTask:
    """The trainer's view of a `SequenceLearner`: shuffled row batches, the objective's
    loss (BCE, MSE or ZILN), validation = minus the held-out loss (higher is better)."""

    def __init__(
        self,
        learner: SequenceLearner,
        x: ModelInputs,
        y: np.ndarray,
        train: np.ndarray,
        val: np.ndarray,
    ) -> None:
        self.learner, self.x, self.train_rows, self.val_rows = learner, x, train, val
        self.module = learner.module_
        self.y = torch.from_numpy(np.asarray(y, np.float32)).to(learner.device_)
        criteria = {"binary": nn.BCEWithLogitsLoss(), "regression": nn.MSELoss()}
        self.criterion = criteria.get(learner.objective, ziln_loss)

    def batches(self, rng: np.random.Generator) -> Iterator[np.ndarray]:
        """Shuffled batches of customers with similar sequence lengths (sorted within pools
        of 20 batches, batch order shuffled): most batches then run a few GRU steps, not
        `max_length`."""
        size = self.learner.config.batch_size
        order = rng.permutation(self.train_rows)
        pool = 20 * size
        batches = []
        for i in range(0, len(order), pool):
            part = order[i : i + pool]
            part = part[np.argsort(self.x.lengths[part], kind="stable")]
            batches += [part[j : j + size] for j in range(0, len(part), size)]
        for k in rng.permutation(len(batches)):
            yield batches[k]

    def loss(self, rows: np.ndarray) -> torch.Tensor:
        out = self.learner._forward(self.x, rows)
        return self.criterion(out, self.y[torch.from_numpy(rows).to(self.y.device)])

    def validate(self) -> float | None:
        if len(self.val_rows) == 0:
            return None
        out = self.learner.outputs(self.x, self.val_rows)
        target = self.y[torch.from_numpy(self.val_rows).to(self.y.device)]
        return -float(self.criterion(out, target))
