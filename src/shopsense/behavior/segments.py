"""Customer segments a marketer can act on: the classic RFM baseline and a learned one.

Two methods behind one scikit-learn-like estimator, `CustomerSegmenter`:

- "rfm": recency, frequency and monetary value each scored 1–5 by quantiles of the
  customers seen in `fit` (equal values share a score; recency reversed, so 5 is the most
  recent), mapped by fixed rules to named segments (champions, loyal, at risk, ...).
- "autoencoder": the customer features (`CustomerHistory.features()`), log-scaled where
  skewed, gaps imputed with an indicator and standardised on the training customers, are
  compressed by an ensemble of small autoencoders (`ensemble`, trained side by side on the
  shared `Trainer`, each from its own seed) into `embedding_size`-dimensional embeddings,
  each standardised and then concatenated. The segments are a consensus: every member's
  embedding is clustered by k-means at each k of `k_range`, and customers whom those
  clusterings keep together end up together (k by the silhouette of that agreement). Plain
  k-means on the concatenation (k by silhouette) and a Gaussian mixture on its principal
  components (k by BIC) are scored too; every candidate k's score is kept, and the
  segments' stability is the adjusted Rand index between fits with different seeds, which
  share no ensemble member.

Either way `profiles()` describes each segment in a marketer's terms (size, revenue share,
median recency / frequency / monetary, top product groups) under a name generated
deterministically from that profile ("lapsed high-value", "new low-spend", ...).

Autoencoder clustering of customers, e.g. J. Xie, R. Girshick and A. Farhadi (2016),
*Unsupervised deep embedding for clustering analysis*, ICML; the consensus is evidence
accumulation, A. L. N. Fred and A. K. Jain (2005), *Combining multiple clusterings using
evidence accumulation*, IEEE TPAMI 27(6); RFM as in D. Chen, S. L. Sain and K. Guo (2012),
*Data mining for the online retail industry: a case study of RFM model-based customer
segmentation using data mining*, JDMCSM 19(3).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations, pairwise
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from shopsense.behavior.customers import CustomerHistory
from shopsense.estimator import Estimator, register
from shopsense.persist import atomic_write, read_model_json, write_json
from shopsense.train.trainer import (
    Trainer,
    TrainerConfig,
    TrainResult,
    seed_everything,
    select_device,
    torch_threads,
)

METHODS = ("autoencoder", "rfm")
CLUSTERERS = ("consensus", "kmeans", "gmm")
RFM_COLUMNS = ("recency_days", "frequency", "monetary")
#: skewed money / count / day columns: log1p before standardising
LOG_COLUMNS = (
    "frequency",
    "monetary",
    "basket_value",
    "basket_lines",
    "basket_units",
    "distinct_items",
    "cancel_invoices",
    "gap_mean_days",
    "gap_median_days",
    "gap_std_days",
)
#: (name, rule) of the RFM segments; a customer takes the first rule that holds, and the
#: rules cover every (R, F, M) so that each customer has exactly one segment.
RFM_SEGMENTS = (
    ("champions", "R>=4, F>=4, M>=4"),
    ("loyal", "R>=3, F>=4"),
    ("lapsed high-value", "R<=2, (F+M)/2>=4"),
    ("at risk", "R<=2, (F+M)/2>=3"),
    ("new", "R>=4, F=1"),
    ("promising", "R>=4"),
    ("potential loyal", "R=3, (F+M)/2>=3"),
    ("needs attention", "R=3"),
    ("hibernating", "R=2"),
    ("lost", "R=1"),
)
SILHOUETTE_SAMPLE = 10_000
"""Silhouettes of more customers than this are estimated on a seeded sample (O(n²))."""
CONSENSUS_SAMPLE = 5_000
"""Consensus silhouettes (a dense customers × customers co-association) use a seeded sample
of at most this many customers."""

CONFIG_FILE = "model.json"  # the registry's name for every model's config
ARRAYS_FILE = "arrays.npz"
WEIGHTS_FILE = "weights.safetensors"
PROFILES_FILE = "profiles.json"
PLOT_FILE = "segments.png"


@dataclass
class SegmenterConfig(TrainerConfig):
    """Segmentation settings; the trainer's fields (epochs, learning_rate, ...) train the
    autoencoder."""

    method: str = "autoencoder"
    """"autoencoder" (learned embedding + clustering) or "rfm" (quantile rules)."""
    k: int | None = None
    """Number of segments; None chooses it over `k_range` (learned method only)."""
    k_range: tuple[int, int] = (3, 10)
    """Smallest and largest k tried when `k` is None (both included); the consensus also
    clusters every member at each k of this range, whether or not `k` is set."""
    clusterer: str = "consensus"
    """Whose labels become the segments: "consensus" (k-means of the members' clusterings
    at every k of `k_range`, k by consensus silhouette), "kmeans" (on the ensemble
    embedding, k by silhouette) or "gmm" (on its principal components, k by BIC)."""
    ensemble: int = 10
    """Autoencoders trained side by side, member i of a fit seeded `random_state *
    ensemble + i` (so fits with different seeds share no member); their embeddings, each
    centred and scaled to unit root-mean-square norm, are concatenated. 1: a single one."""
    embedding_size: int = 8
    """Dimension of each autoencoder's embedding."""
    hidden_size: int = 32
    """Width of the autoencoders' hidden layers."""
    validation_share: float = 0.1
    """Customers held out (seeded) to stop training early on reconstruction error."""
    stability_seeds: int = 3
    """Runs (seeds random_state, random_state+1, ...) compared by adjusted Rand index;
    below 2: not measured."""
    n_init: int = 10
    """k-means restarts per k (k-means and the consensus's final k-means)."""
    epochs: int = 200
    batch_size: int = 128
    learning_rate: float = 3e-3
    patience: int = 10

    def __post_init__(self) -> None:
        self.k_range = tuple(self.k_range)  # type: ignore[assignment]  # JSON gives a list


# --------------------------------------------------------------------------- RFM
def quantile_score(values: Sequence[float], reference: Sequence[float], n: int = 5) -> np.ndarray:
    """1..n by each value's mid-rank percentile among `reference`.

    The percentile counts reference values below plus half of those equal, so equal values
    always share a score (no arbitrary tie-breaking) and a new customer is scored against the
    customers the scores were fitted on. Heavy ties (a third of customers with one order)
    may leave a score unused rather than split identical customers.
    """
    if len(reference) == 0:
        raise ValueError("quantile_score needs at least one reference value")
    p = _mid_rank(np.asarray(values, dtype=float), reference)
    return np.clip(1 + np.floor(n * p).astype(int), 1, n)


def _mid_rank(values: Any, reference: Sequence[float]) -> Any:
    """Share of `reference` below each value, counting equal values as half below."""
    ref = np.sort(np.asarray(reference, dtype=float))
    below = np.searchsorted(ref, values, side="left")
    upto = np.searchsorted(ref, values, side="right")
    return (below + 0.5 * (upto - below)) / ref.size


def rfm_scores(features: pd.DataFrame, reference: pd.DataFrame | None = None) -> pd.DataFrame:
    """r_score, f_score, m_score (1–5) per customer, quantiles of `reference` (default:
    `features` itself); recency is reversed, so 5 is the most recent."""
    _require(features, RFM_COLUMNS, "rfm_scores")
    ref = features if reference is None else reference
    return pd.DataFrame(
        {
            "r_score": quantile_score(-features["recency_days"], -ref["recency_days"]),
            "f_score": quantile_score(features["frequency"], ref["frequency"]),
            "m_score": quantile_score(features["monetary"], ref["monetary"]),
        },
        index=features.index,
    )


def rfm_segment_labels(scores: pd.DataFrame) -> np.ndarray:
    """Index into `RFM_SEGMENTS` of each customer's (r_score, f_score, m_score)."""
    r, f, m = (scores[c].to_numpy() for c in ("r_score", "f_score", "m_score"))
    fm = (f + m) / 2
    rules = [
        (r >= 4) & (f >= 4) & (m >= 4),
        (r >= 3) & (f >= 4),
        (r <= 2) & (fm >= 4),
        (r <= 2) & (fm >= 3),
        (r >= 4) & (f == 1),
        r >= 4,
        (r == 3) & (fm >= 3),
        r == 3,
        r == 2,
        r <= 1,
    ]
    return np.select(rules, np.arange(len(rules)), default=len(rules) - 1).astype(np.int64)


# --------------------------------------------------------------------------- features
@dataclass
class FeatureScaler:
    """Customer features → standardised matrix: log1p on skewed columns, NaN gaps filled
    with the training median plus one 0/1 indicator per distinct gap pattern, then
    z-scores. Every statistic comes from the customers it was fitted on."""

    columns: list[str] = field(default_factory=list)
    log_columns: list[str] = field(default_factory=list)
    indicators: dict[str, list[str]] = field(default_factory=dict)
    """indicator name -> the columns whose gaps it marks (gaps in the same rows share one)"""
    median: np.ndarray = field(default_factory=lambda: np.zeros(0))
    mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    std: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def output_columns(self) -> list[str]:
        return self.columns + list(self.indicators)

    def fit(self, features: pd.DataFrame) -> Self:
        self.columns = [str(c) for c in features.columns]
        self.log_columns = [c for c in self.columns if c in LOG_COLUMNS]
        raw = self._logged(features)
        with warnings.catch_warnings():  # a column empty among the training customers: 0
            warnings.simplefilter("ignore", RuntimeWarning)
            self.median = np.nan_to_num(np.nanmedian(raw, axis=0))
        self.indicators = {}
        seen: dict[bytes, str] = {}
        for j, name in enumerate(self.columns):
            gaps = np.isnan(raw[:, j])
            if gaps.any():
                key = np.packbits(gaps).tobytes()
                first = seen.setdefault(key, f"{name}_missing")
                self.indicators.setdefault(first, []).append(name)
        x = self._filled(raw)
        self.mean = x.mean(axis=0)
        std = x.std(axis=0)
        self.std = np.where(std > 1e-12, std, 1.0)
        return self

    def transform(self, features: pd.DataFrame) -> np.ndarray:
        """(customers, output_columns) float32 z-scores."""
        missing = [c for c in self.columns if c not in features.columns]
        if missing:
            raise ValueError(f"features lack column(s) {missing} that the segmenter was fit on")
        x = self._filled(self._logged(features))
        return ((x - self.mean) / self.std).astype(np.float32)

    def _logged(self, features: pd.DataFrame) -> np.ndarray:
        raw = features[self.columns].to_numpy(dtype=float, copy=True)
        for j, name in enumerate(self.columns):
            if name in self.log_columns:
                raw[:, j] = np.sign(raw[:, j]) * np.log1p(np.abs(raw[:, j]))
        return raw

    def _filled(self, raw: np.ndarray) -> np.ndarray:
        gaps = np.isnan(raw)
        flags = [
            gaps[:, [self.columns.index(c) for c in cols]].any(axis=1)
            for cols in self.indicators.values()
        ]
        filled = np.where(gaps, self.median, raw)
        return np.column_stack([filled, *flags]).astype(float) if flags else filled

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"scaler.median": self.median, "scaler.mean": self.mean, "scaler.std": self.std}

    def to_json(self) -> dict[str, Any]:
        return {"columns": self.columns, "log": self.log_columns, "indicators": self.indicators}

    @classmethod
    def from_saved(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> FeatureScaler:
        return cls(
            list(meta["columns"]),
            list(meta["log"]),
            {k: list(v) for k, v in meta["indicators"].items()},
            arrays["scaler.median"],
            arrays["scaler.mean"],
            arrays["scaler.std"],
        )


def check_features(
    features: pd.DataFrame, where: str = "features", drop_empty: bool = True
) -> tuple[pd.DataFrame, list[str]]:
    """Numeric customer features with the RFM columns; with `drop_empty` (when fitting),
    columns without any value are dropped and noted.

    Raises ValueError for an empty frame, missing RFM columns, text columns or infinite
    values, naming the columns.
    """
    if not isinstance(features, pd.DataFrame):
        raise TypeError(f"{where}: expected a CustomerHistory or a features DataFrame")
    if features.empty:
        raise ValueError(f"{where} is empty: no customers to segment")
    _require(features, RFM_COLUMNS, where)
    text = [str(c) for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if text:
        raise ValueError(f"{where}: column(s) {text} are not numeric; pass features() output")
    values = features.astype(float)
    infinite = [str(c) for c in values.columns if np.isinf(values[c]).any()]
    if infinite:
        raise ValueError(f"{where}: column(s) {infinite} hold infinite values")
    gaps = [c for c in RFM_COLUMNS if values[c].isna().any()]
    if gaps:
        raise ValueError(f"{where}: recency/frequency/monetary must be known; gaps in {gaps}")
    empty = [str(c) for c in values.columns if drop_empty and values[c].isna().all()]
    notes = [f"column(s) {empty} have no values and were left out"] if empty else []
    return values.drop(columns=empty), notes


# --------------------------------------------------------------------------- the network
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


def _member_mse(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(members,) mean squared reconstruction error of each member on `x`."""
    return ((module(x)[0] - x) ** 2).mean(dim=(1, 2))


class _ReconstructionTask:
    """The trainer's `TrainingTask`: the members' mean squared reconstruction errors, summed
    so that each member gets its own gradient; validation is minus their mean on held-out
    customers (higher is better)."""

    def __init__(
        self, module: nn.Module, train: torch.Tensor, valid: torch.Tensor | None, batch: int
    ) -> None:
        self.module, self.train, self.valid, self.batch = module, train, valid, batch

    def batches(self, rng: np.random.Generator) -> Iterable[torch.Tensor]:
        order = torch.from_numpy(rng.permutation(len(self.train))).to(self.train.device)
        for start in range(0, len(order), self.batch):
            yield self.train[order[start : start + self.batch]]

    def loss(self, batch: torch.Tensor) -> torch.Tensor:
        return _member_mse(self.module, batch).sum()

    def validate(self) -> float | None:
        if self.valid is None:
            return None
        return -float(_member_mse(self.module, self.valid).mean())


@dataclass
class _Embedding:
    scaler: FeatureScaler
    module: EnsembleAutoencoder
    centre: np.ndarray
    """(members, embedding_size) mean of each member's embedding over the fitted customers"""
    spread: np.ndarray
    """(members,) root-mean-square norm of each member's centred embedding"""
    x: np.ndarray
    """(customers, members * embedding_size) the ensemble embedding"""
    training: TrainResult
    reconstruction_mse: float


def _ensemble_embedding(
    module: EnsembleAutoencoder, x: np.ndarray, centre: np.ndarray, spread: np.ndarray
) -> np.ndarray:
    """Standardised features → the members' embeddings, each centred and divided by its
    spread, side by side and scaled by 1/√members (so the whole has unit RMS norm)."""
    with torch.no_grad():
        z = module.encode(torch.from_numpy(x)).numpy()
    z = (z - centre[:, None, :]) / spread[:, None, None] / np.sqrt(len(z))
    return np.ascontiguousarray(z.transpose(1, 0, 2).reshape(len(x), -1), dtype=np.float32)


def _learn_embedding(features: pd.DataFrame, cfg: SegmenterConfig, seed: int) -> _Embedding:
    """Split customers (seeded), fit the scaling on the training part, train the ensemble
    (member i seeded `seed * ensemble + i`), embed all."""
    n = len(features)
    rng = np.random.default_rng(seed)
    n_valid = round(cfg.validation_share * n)
    order = rng.permutation(n)
    valid_idx, train_idx = (order[:n_valid], order[n_valid:]) if n_valid >= 10 else ([], order)
    scaler = FeatureScaler().fit(features.iloc[np.sort(train_idx)])
    x_np = scaler.transform(features)
    x = torch.from_numpy(x_np)
    device = select_device(cfg.device)
    members = []
    for i in range(cfg.ensemble):
        seed_everything(seed * cfg.ensemble + i)
        members.append(CustomerAutoencoder(x.shape[1], cfg.hidden_size, cfg.embedding_size))
    module = EnsembleAutoencoder.of(members).to(device)
    x = x.to(device)
    valid = x[torch.as_tensor(np.sort(valid_idx), dtype=torch.long)] if len(valid_idx) else None
    train = x[torch.as_tensor(np.sort(train_idx), dtype=torch.long)]
    task = _ReconstructionTask(module, train, valid, cfg.batch_size)
    run_cfg = dataclasses.replace(cfg, random_state=seed)
    training = Trainer(run_cfg, desc="segments").fit(task)
    module.eval()
    with torch.no_grad():
        mse = float(_member_mse(module, x).mean())
    module = module.cpu()
    with torch.no_grad():
        z = module.encode(torch.from_numpy(x_np)).numpy().astype(np.float64)
    centre = z.mean(axis=1)
    spread = np.sqrt(((z - centre[:, None, :]) ** 2).sum(axis=2).mean(axis=1))
    centre, spread = centre.astype(np.float32), np.where(spread > 1e-12, spread, 1.0)
    spread = spread.astype(np.float32)
    embedded = _ensemble_embedding(module, x_np, centre, spread)
    return _Embedding(scaler, module, centre, spread, embedded, training, mse)


# --------------------------------------------------------------------------- clustering
@dataclass
class _Clusters:
    """How an ensemble embedding maps to segments.

    kmeans: the nearest of `centers`. gmm: the likeliest component of a mixture (`weights`,
    means `centers`, `covariances`) on the embedding's principal components (`offset`,
    `axes`; None: the embedding itself). consensus: every member's nearest centre at each k
    of `ks` (`member_centers`, (members, sum(ks), embedding_size)) as a 0/1 code, then the
    nearest of `centers` in that code space.
    """

    kind: str
    centers: np.ndarray
    weights: np.ndarray | None = None
    covariances: np.ndarray | None = None
    offset: np.ndarray | None = None
    axes: np.ndarray | None = None
    member_centers: np.ndarray | None = None
    ks: tuple[int, ...] = ()

    def predict(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        if self.kind == "consensus":
            assert self.member_centers is not None
            return self.predict_codes(_codes(z, self.member_centers, self.ks))
        if self.kind == "gmm":
            assert self.weights is not None and self.covariances is not None
            reduced = z if self.axes is None else (z - self.offset) @ self.axes.T
            return _gmm_log_prob(reduced, self.weights, self.centers, self.covariances).argmax(1)
        return _nearest(z, self.centers)

    def predict_codes(self, codes: Any) -> np.ndarray:
        """consensus: the nearest centre of each customer's code."""
        return ((self.centers**2).sum(axis=1) - 2 * (codes @ self.centers.T)).argmin(axis=1)

    def reordered(self, order: np.ndarray) -> _Clusters:
        pick = lambda a: None if a is None else a[order]  # noqa: E731
        return dataclasses.replace(
            self,
            centers=self.centers[order],
            weights=pick(self.weights),
            covariances=pick(self.covariances),
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        names = ("centers", "weights", "covariances", "offset", "axes", "member_centers")
        out = {f"clusters.{n}": getattr(self, n) for n in names if getattr(self, n) is not None}
        if self.ks:
            out["clusters.ks"] = np.asarray(self.ks, dtype=np.int64)
        return out

    @classmethod
    def from_arrays(cls, kind: str, arrays: dict[str, np.ndarray]) -> _Clusters:
        get = arrays.get
        return cls(
            kind,
            arrays["clusters.centers"],
            *(get(f"clusters.{n}") for n in ("weights", "covariances", "offset", "axes")),
            get("clusters.member_centers"),
            tuple(int(k) for k in get("clusters.ks", np.zeros(0, dtype=np.int64))),
        )


def _nearest(z: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Index of each row's nearest centre (squared Euclidean)."""
    return ((centers**2).sum(axis=1) - 2 * (z @ centers.T)).argmin(axis=1).astype(np.int64)


def _codes(z: np.ndarray, member_centers: np.ndarray, ks: Sequence[int]) -> Any:
    """Sparse (customers, members * sum(ks)) 0/1 codes, scaled to unit norm: one column per
    (member, k, cluster), set where the member's nearest centre at that k is the cluster.
    Squared distances between codes are 2 − 2 × the share of clusterings that agree."""
    from scipy import sparse

    members, total, dims = member_centers.shape
    columns = []
    for i in range(members):
        block = z[:, i * dims : (i + 1) * dims]
        start = 0
        for k in ks:
            columns.append(
                i * total + start + _nearest(block, member_centers[i, start : start + k])
            )
            start += k
    n, t = len(z), len(columns)
    indices = np.column_stack(columns).ravel() if n else np.zeros(0, dtype=np.int64)
    data = np.full(n * t, 1 / np.sqrt(t))
    return sparse.csr_matrix((data, indices, np.arange(0, n * t + 1, t)), (n, members * total))


class _Space:
    """An ensemble embedding and what the clusterers need of it, each made once: the
    members' k-means at every k of `ks` and the codes they give (consensus), and the
    embedding's first principal components (mixture)."""

    def __init__(self, x: np.ndarray, members: int, ks: Sequence[int], seed: int) -> None:
        self.x = np.asarray(x, dtype=np.float64)
        self.members, self.ks, self.seed = members, tuple(ks), seed

    @functools.cached_property
    def member_centers(self) -> np.ndarray:
        from sklearn.cluster import KMeans

        rs = np.random.RandomState(self.seed)
        dims = self.x.shape[1] // self.members
        out = np.zeros((self.members, sum(self.ks), dims))
        for i in range(self.members):
            block, start = self.x[:, i * dims : (i + 1) * dims], 0
            for k in self.ks:
                with warnings.catch_warnings():  # fewer distinct customers than k: fine
                    warnings.simplefilter("ignore")
                    km = KMeans(n_clusters=k, n_init=1, random_state=rs).fit(block)
                out[i, start : start + k] = km.cluster_centers_
                start += k
        return out

    @functools.cached_property
    def codes(self) -> Any:
        return _codes(self.x, self.member_centers, self.ks)

    @functools.cached_property
    def code_distances(self) -> tuple[np.ndarray, np.ndarray]:
        """(sample, distances): a seeded sample of at most CONSENSUS_SAMPLE customers and
        their pairwise code distances, √(2 − 2 × share of clusterings that agree)."""
        n = self.codes.shape[0]
        rng = np.random.default_rng(self.seed)
        sample = (
            np.sort(rng.choice(n, CONSENSUS_SAMPLE, replace=False))
            if n > CONSENSUS_SAMPLE
            else np.arange(n)
        )
        dense = self.codes[sample].toarray().astype(np.float32)
        d = dense @ dense.T  # in place from here: this is the large one
        d *= -2
        d += 2
        np.sqrt(np.clip(d, 0, None, out=d), out=d)
        np.fill_diagonal(d, 0)
        return sample, d

    @functools.cached_property
    def principal(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(offset, axes, reduced): the first `embedding_size` principal components."""
        offset = self.x.mean(axis=0)
        _, _, vt = np.linalg.svd(self.x - offset, full_matrices=False)
        axes = vt[: self.x.shape[1] // self.members]
        return offset, axes, (self.x - offset) @ axes.T


def _gmm_log_prob(
    z: np.ndarray, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray
) -> np.ndarray:
    """(n, k) log w_k + log N(z | mean_k, cov_k), by Cholesky factors."""
    out = np.empty((len(z), len(means)))
    for j, (mean, cov) in enumerate(zip(means, covariances, strict=True)):
        chol = np.linalg.cholesky(cov)
        sol = np.linalg.solve(chol, (z - mean).T)
        log_det = 2.0 * np.log(np.diag(chol)).sum()
        out[:, j] = np.log(weights[j]) - 0.5 * (
            (sol**2).sum(axis=0) + log_det + z.shape[1] * np.log(2 * np.pi)
        )
    return out


def _fit_clusters(
    space: _Space, kind: str, k: int, seed: int, n_init: int
) -> tuple[_Clusters, np.ndarray, Any]:
    """The clusters of one kind at one k, the fitted customers' labels and the sklearn
    model."""
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture

    if kind == "gmm":
        offset, axes, reduced = space.principal
        gm = GaussianMixture(k, covariance_type="full", n_init=2, reg_covar=1e-4, random_state=seed)
        gm.fit(reduced)
        clusters = _Clusters("gmm", gm.means_, gm.weights_, gm.covariances_, offset, axes)
        labels = _gmm_log_prob(reduced, gm.weights_, gm.means_, gm.covariances_).argmax(1)
        return clusters, labels, gm
    if kind == "consensus":
        km = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(space.codes)
        clusters = _Clusters(
            "consensus", km.cluster_centers_, member_centers=space.member_centers, ks=space.ks
        )
        return clusters, clusters.predict_codes(space.codes), km
    km = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(space.x)
    clusters = _Clusters("kmeans", km.cluster_centers_.astype(np.float64))
    return clusters, clusters.predict(space.x), km


def _silhouette(x: np.ndarray, labels: np.ndarray, seed: int) -> float | None:
    from sklearn.metrics import silhouette_score

    if len(np.unique(labels)) < 2 or len(np.unique(labels)) >= len(labels):
        return None
    sample = SILHOUETTE_SAMPLE if len(x) > SILHOUETTE_SAMPLE else None
    return float(silhouette_score(x, labels, sample_size=sample, random_state=seed))


def _consensus_silhouette(space: _Space, labels: np.ndarray) -> float | None:
    """Silhouette of `labels` on the code distances (agreement of the members' clusterings)."""
    from sklearn.metrics import silhouette_score

    sample, d = space.code_distances
    mine = labels[sample]
    if len(np.unique(mine)) < 2 or len(np.unique(mine)) >= len(mine):
        return None
    return float(silhouette_score(d, mine, metric="precomputed"))


CRITERIA = {
    "consensus": ("max consensus silhouette", "consensus_silhouette", max),
    "kmeans": ("max silhouette", "silhouette", max),
    "gmm": ("min BIC", "bic", min),
}


def _search(
    space: _Space, kind: str, ks: Sequence[int], seed: int, n_init: int, describe: bool = True
) -> tuple[dict[str, Any], dict[int, tuple[_Clusters, np.ndarray]]]:
    """One clusterer at every candidate k: its scores, the k its criterion picks and every
    fit. `describe`: also the silhouette on the embedding where it is not the criterion."""
    criterion, key, best = CRITERIA[kind]
    scores, fits = [], {}
    for k in ks:
        clusters, labels, model = _fit_clusters(space, kind, k, seed, n_init)
        fits[k] = clusters, labels
        score: dict[str, Any] = {"k": k}
        if kind == "consensus":
            score["consensus_silhouette"] = _consensus_silhouette(space, labels)
        if kind == "gmm":
            score["bic"] = float(model.bic(space.principal[2]))
        if kind == "kmeans" or describe:
            score["silhouette"] = _silhouette(space.x, labels, seed)
        scores.append(score)
    ranked = [s for s in scores if s[key] is not None] or scores
    chosen = best(ranked, key=lambda s: -np.inf if s[key] is None else s[key])
    return {"k": chosen["k"], "criterion": criterion, "scores": scores}, fits


def _select_k(
    space: _Space, ks: Sequence[int], seed: int, n_init: int
) -> tuple[dict[str, Any], dict[tuple[str, int], tuple[_Clusters, np.ndarray]]]:
    """Every clusterer's scores at every candidate k and the k its criterion picks (consensus
    and k-means: the best silhouette, the mixture: the lowest BIC); also every fit, by
    (kind, k)."""
    selection, fits = {}, {}
    for kind in CLUSTERERS:
        selection[kind], by_k = _search(space, kind, ks, seed, n_init)
        fits.update({(kind, k): fit for k, fit in by_k.items()})
    return selection, fits


def _by_revenue(labels: np.ndarray, monetary: np.ndarray, k: int) -> np.ndarray:
    """Old label of each new label: segments ordered by revenue, largest first, so that the
    numbering is the same whatever order the clustering found them in."""
    revenue = np.bincount(labels, weights=monetary, minlength=k)
    return np.lexsort((np.arange(k), -revenue))


# --------------------------------------------------------------------------- profiles
def _percentile(value: float, reference: Sequence[float]) -> float:
    return float(_mid_rank(value, reference))


def profile_name(profile: pd.Series, features: pd.DataFrame) -> str:
    """A short name from where a segment's medians sit among all customers, e.g.
    "lapsed high-value", "active frequent big-basket", "new one-off low-spend"."""
    recent = 1.0 - _percentile(profile["recency_days_median"], features["recency_days"])
    freq = _percentile(profile["frequency_median"], features["frequency"])
    money = _percentile(profile["monetary_median"], features["monetary"])
    words = []
    tenure = profile.get("tenure_days_median")
    if (
        tenure is not None
        and "tenure_days" in features
        and (
            _percentile(tenure, features["tenure_days"]) <= 0.25
            and profile["frequency_median"] <= 2
        )
    ):
        words.append("new")
    elif recent <= 1 / 3:
        words.append("lapsed")
    elif recent >= 2 / 3:
        words.append("active")
    if freq >= 2 / 3:
        words.append("frequent")
    elif profile["frequency_median"] <= 1:
        words.append("one-off")
    if money >= 2 / 3:
        words.append("high-value")
    elif money <= 1 / 3:
        words.append("low-spend")
    else:
        basket = profile.get("basket_value_median")
        b = _percentile(basket, features["basket_value"]) if "basket_value" in features else 0.5
        words.append("big-basket" if b >= 2 / 3 else "small-basket" if b <= 1 / 3 else "mid-value")
    return " ".join(words if len(words) > 1 else ["steady", *words])


def segment_profiles(
    features: pd.DataFrame,
    labels: np.ndarray,
    names: Sequence[str] | None = None,
    top_groups: int = 3,
) -> pd.DataFrame:
    """One row per non-empty segment, ordered by label: customers, share of customers,
    revenue share, medians of recency / frequency / monetary (and basket value, tenure),
    the product groups with the largest share of the segment's spend (`top_groups`) and
    those it buys most above the average mix (`distinctive_groups`, lift ×).

    `names[label]` names the segments; None generates names from the profiles
    (`profile_name`), made unique by the most distinctive group and then a number.
    """
    labels = np.asarray(labels)
    if len(labels) != len(features):
        raise ValueError(f"{len(labels)} labels for {len(features)} customers")
    _require(features, RFM_COLUMNS, "segment_profiles")
    money = features["monetary"].to_numpy(dtype=float)
    groups = [c for c in features.columns if str(c).startswith("group_")]
    medians = [c for c in (*RFM_COLUMNS, "basket_value", "tenure_days") if c in features]
    overall = _group_mix(features, groups)
    rows = []
    for label in np.unique(labels):
        mine = labels == label
        part = features[mine]
        row: dict[str, Any] = {"segment": int(label), "customers": int(mine.sum())}
        row["customer_share"] = float(mine.mean())
        row["revenue_share"] = float(money[mine].sum() / money.sum()) if money.sum() else 0.0
        row.update({f"{c}_median": float(part[c].median()) for c in medians})
        mix = _group_mix(part, groups)
        row["top_groups"] = _top_groups(mix, top_groups)
        row["distinctive_groups"] = _distinctive_groups(mix, overall, top_groups)
        rows.append(row)
    out = pd.DataFrame(rows)
    if names is not None:
        out.insert(1, "name", [names[label] for label in out["segment"]])
    else:
        out.insert(1, "name", _unique([profile_name(r, features) for _, r in out.iterrows()], out))
    return out


def _group_mix(part: pd.DataFrame, groups: list[str]) -> pd.Series:
    """Share of the customers' spend per product group (spend-weighted group shares)."""
    spend = part[groups].mul(part["monetary"], axis=0).sum()
    return spend / spend.sum() if spend.sum() > 0 else spend * 0.0


def _top_groups(mix: pd.Series, n: int) -> str:
    """The largest shares of a segment's spend: "bag|lunch|jumbo 34%, ..."."""
    top = mix[mix > 0].sort_values(ascending=False, kind="stable").head(n)
    return ", ".join(f"{g.removeprefix('group_')} {s:.0%}" for g, s in top.items())


def _distinctive_groups(mix: pd.Series, overall: pd.Series, n: int) -> str:
    """Groups the segment buys most above the average mix (share ≥ 2%, lift ≥ 1.1): "bag ×1.6"."""
    lift = (mix / overall.where(overall > 0)).where(mix >= 0.02).dropna()
    top = lift[lift >= 1.1].sort_values(ascending=False, kind="stable").head(n)
    return ", ".join(f"{g.removeprefix('group_')} ×{v:.1f}" for g, v in top.items())


def _unique(names: list[str], profiles: pd.DataFrame) -> list[str]:
    """Tell apart segments with the same generated name by their most distinctive group,
    then by a number."""
    tops = [
        str(d or t).split(" ")[0]
        for d, t in zip(profiles["distinctive_groups"], profiles["top_groups"], strict=True)
    ]
    out = [
        f"{n} ({top})" if names.count(n) > 1 and top else n
        for n, top in zip(names, tops, strict=True)
    ]
    return [
        n if out[:i].count(n) == 0 else f"{n} {out[:i].count(n) + 1}" for i, n in enumerate(out)
    ]


# --------------------------------------------------------------------------- estimator
@register("customer-segmenter")
class CustomerSegmenter(Estimator):
    """Customer segments by RFM rules or by clustering a learned customer embedding.

    `CustomerSegmenter(**params)` stores `SegmenterConfig` fields and does nothing else;
    `fit(history_or_features)` learns and returns self; `predict(features)` gives each
    customer's segment label, `segment_names_[label]` its name; `profiles()` and `report()`
    describe the fit; `save(folder)` / `load(folder)` keep it as JSON + npz + safetensors.
    """

    name = "segments"
    """the registry's default name (models/behavior/segments/<version>)"""
    fitted_attribute = "labels_"

    def __init__(self, **params: Any) -> None:
        self.config = SegmenterConfig(**params)

    def __repr__(self) -> str:
        cfg = self.config
        return f"CustomerSegmenter(method={cfg.method!r}, k={cfg.k!r}, k_range={cfg.k_range!r})"

    # ----------------------------------------------------------------- fitting
    def fit(self, data: CustomerHistory | pd.DataFrame) -> Self:
        """Segment the customers of a `CustomerHistory` (or of its `features()` frame)."""
        began = time.perf_counter()
        features, notes = check_features(_features(data), "fit")
        self._check_config(len(features))
        self.customer_ids_ = features.index.astype(str).to_numpy()
        try:
            with torch_threads(self.config.threads):
                if self.config.method == "rfm":
                    self._fit_rfm(features)
                else:
                    self._fit_autoencoder(features)
        except BaseException:
            self.__dict__.pop("labels_", None)  # a failed fit leaves it unfitted, not half-fitted
            raise
        self.profiles_ = segment_profiles(
            features, self.labels_, self.segment_names_ if self.config.method == "rfm" else None
        )
        if self.config.method != "rfm":
            self.segment_names_ = _names_by_label(self.profiles_, self.k_)
        self.report_["notes"] = notes + self.report_.get("notes", [])
        self.report_["fit_seconds"] = round(time.perf_counter() - began, 3)
        sizes = zip(self.profiles_["name"], self.profiles_["customers"], strict=True)
        self.report_["sizes"] = {str(n): int(c) for n, c in sizes}
        return self

    def _check_config(self, n: int) -> None:
        cfg = self.config
        if cfg.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, not {cfg.method!r}")
        if cfg.clusterer not in CLUSTERERS:
            raise ValueError(f"clusterer must be one of {CLUSTERERS}, not {cfg.clusterer!r}")
        if cfg.method == "rfm":
            if cfg.k is not None:
                raise ValueError("k applies to the learned method; rfm has fixed named segments")
            return
        if (
            len(cfg.k_range) != 2
            or not 2 <= cfg.k_range[0] <= cfg.k_range[1]
            or (cfg.k is not None and cfg.k < 2)
        ):
            raise ValueError(
                f"need 2 <= k (and k_range low <= high); got k={cfg.k}, k_range={cfg.k_range}"
            )
        # the consensus clusters every member at each k of k_range, whether or not k is set
        hi = max(cfg.k or 0, cfg.k_range[1])
        if n < max(2 * hi, 10):
            raise ValueError(
                f"{n} customers are too few for k={hi}: need at least {max(2 * hi, 10)} "
                "(two per segment, ten in all); lower k or k_range"
            )
        if (
            cfg.embedding_size < 1
            or cfg.hidden_size < 1
            or cfg.ensemble < 1
            or not 0 <= cfg.validation_share < 1
        ):
            raise ValueError(
                "need embedding_size >= 1, hidden_size >= 1, ensemble >= 1, "
                "0 <= validation_share < 1"
            )

    def _fit_rfm(self, features: pd.DataFrame) -> None:
        self.rfm_reference_ = features[list(RFM_COLUMNS)].to_numpy(dtype=float)
        scores = rfm_scores(features)
        self.labels_ = rfm_segment_labels(scores)
        self.segment_names_ = [name for name, _ in RFM_SEGMENTS]
        self.k_ = len(np.unique(self.labels_))
        self.scaler_ = FeatureScaler().fit(features)  # only to compare and plot segments
        self.embedding_ = self.scaler_.transform(features)
        sil = _silhouette(self.embedding_, self.labels_, self.config.random_state)
        self.report_ = {
            "method": "rfm",
            "customers": len(features),
            "k": self.k_,
            "rules": {name: rule for name, rule in RFM_SEGMENTS},
            "silhouette_features": sil,
        }

    def _fit_autoencoder(self, features: pd.DataFrame) -> None:
        cfg, seed = self.config, self.config.random_state
        money = features["monetary"].to_numpy(dtype=float)
        learned = _learn_embedding(features, cfg, seed)
        z = learned.x
        space = _Space(z, cfg.ensemble, _consensus_ks(cfg), seed)
        ks = range(cfg.k_range[0], cfg.k_range[1] + 1) if cfg.k is None else [cfg.k]
        selection, fits = _select_k(space, ks, seed, cfg.n_init)
        self.k_ = int(selection[cfg.clusterer]["k"])
        clusters, raw = fits[cfg.clusterer, self.k_]
        self.clusters_ = clusters.reordered(_by_revenue(raw, money, self.k_))
        self.labels_ = self.clusters_.predict(z)
        self.scaler_, self.module_, self.embedding_ = learned.scaler, learned.module, z
        self.member_centre_, self.member_spread_ = learned.centre, learned.spread
        self.report_ = {
            "method": "autoencoder",
            "clusterer": cfg.clusterer,
            "ensemble": cfg.ensemble,
            "customers": len(features),
            "features": learned.scaler.output_columns,
            "k": self.k_,
            "k_selection": selection,
            "silhouette": _silhouette(z, self.labels_, seed),
            "silhouette_features": _silhouette(
                learned.scaler.transform(features), self.labels_, seed
            ),
            "consensus_silhouette": _consensus_silhouette(space, self.labels_),
            "bic": _score_at(selection["gmm"]["scores"], self.k_, "bic"),
            "kmeans_vs_gmm_ari": _agreement(selection, fits),
            "training": {
                **{k: v for k, v in learned.training.to_dict().items() if k != "history"},
                "reconstruction_mse": round(learned.reconstruction_mse, 5),
            },
            "stability": self._stability(features, self.labels_),
            "notes": _edge_notes(selection, cfg.k_range) if cfg.k is None else [],
        }

    def _stability(self, features: pd.DataFrame, labels: np.ndarray) -> dict[str, Any] | None:
        """Mean adjusted Rand index between the segments of runs with different seeds: each
        run trains its own ensemble (no member shared) and clusters it at the chosen k. With
        k=None, also the k each run's own criterion picks and the agreement at those k."""
        from sklearn.metrics import adjusted_rand_score

        cfg = self.config
        if cfg.stability_seeds < 2:
            return None
        seeds = [cfg.random_state + i for i in range(cfg.stability_seeds)]
        ks = range(cfg.k_range[0], cfg.k_range[1] + 1) if cfg.k is None else [self.k_]
        runs, own, chosen = [labels], [labels], [self.k_]
        for seed in seeds[1:]:
            space = _Space(
                _learn_embedding(features, cfg, seed).x, cfg.ensemble, _consensus_ks(cfg), seed
            )
            part, by_k = _search(space, cfg.clusterer, ks, seed, cfg.n_init, describe=False)
            runs.append(by_k[self.k_][1])
            own.append(by_k[part["k"]][1])
            chosen.append(int(part["k"]))

        def ari(labelings: list[np.ndarray]) -> list[dict[str, Any]]:
            return [
                {"seeds": [seeds[i], seeds[j]], "ari": float(adjusted_rand_score(a, b))}
                for (i, a), (j, b) in combinations(enumerate(labelings), 2)
            ]

        pairs = ari(runs)
        scores = [p["ari"] for p in pairs]
        out = {
            "seeds": seeds,
            "ari_mean": float(np.mean(scores)),
            "ari_min": min(scores),
            "pairs": pairs,
        }
        if cfg.k is None:
            out["k_chosen"] = chosen
            out["ari_mean_own_k"] = float(np.mean([p["ari"] for p in ari(own)]))
        return out

    # ----------------------------------------------------------------- using it
    def transform(self, data: CustomerHistory | pd.DataFrame) -> np.ndarray:
        """(customers, ensemble × embedding_size) ensemble embeddings (rfm: the standardised
        features)."""
        self._check_fitted()
        features, _ = check_features(_features(data), "transform", drop_empty=False)
        x = self.scaler_.transform(features)
        if self.config.method == "rfm":
            return x
        return _ensemble_embedding(self.module_, x, self.member_centre_, self.member_spread_)

    def predict(self, data: CustomerHistory | pd.DataFrame) -> np.ndarray:
        """Segment label of each customer (row), an index into `segment_names_`."""
        self._check_fitted()
        features, _ = check_features(_features(data), "predict", drop_empty=False)
        if self.config.method == "rfm":
            ref = pd.DataFrame(self.rfm_reference_, columns=list(RFM_COLUMNS))
            return rfm_segment_labels(rfm_scores(features, ref))
        return self.clusters_.predict(self.transform(features))

    def predict_names(self, data: CustomerHistory | pd.DataFrame) -> pd.Series:
        """Segment name of each customer, indexed by customer id."""
        features = _features(data)
        labels = self.predict(features)
        names = np.asarray(self.segment_names_, dtype=object)[labels]
        return pd.Series(names, index=features.index, name="segment")

    def profiles(self) -> pd.DataFrame:
        """The fitted segments in a marketer's terms (see `segment_profiles`)."""
        self._check_fitted()
        return self.profiles_.copy()

    def report(self) -> dict[str, Any]:
        """What the fit found: chosen k, every candidate k's score, stability (ARI), sizes,
        silhouettes, training and time. JSON-ready."""
        self._check_fitted()
        return json.loads(json.dumps(self.report_))

    # ----------------------------------------------------------------- files
    def plot(self, folder: str | Path) -> Path:
        """PCA of the fitted customers' embeddings, coloured by segment, as `segments.png`."""
        self._check_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        return plot_segments(
            self.embedding_,
            self.labels_,
            self.segment_names_,
            folder / PLOT_FILE,
            title=f"customer segments ({self.config.method}, k={self.k_})",
        )

    def save(self, folder: str | Path) -> Path:
        """Config + report + profiles as JSON, arrays as npz, network as safetensors; every
        file written to a temporary file first and renamed into place."""
        self._check_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {
            "customer_ids": self.customer_ids_.astype(str),
            "labels": self.labels_,
            "embedding": self.embedding_,
            **self.scaler_.to_arrays(),
        }
        if self.config.method == "rfm":
            arrays["rfm_reference"] = self.rfm_reference_
        else:
            arrays.update(self.clusters_.to_arrays())
            arrays["members.centre"] = self.member_centre_
            arrays["members.spread"] = self.member_spread_
            tensors = {
                k: v.detach().cpu().contiguous() for k, v in self.module_.state_dict().items()
            }
            atomic_write(folder / WEIGHTS_FILE, lambda tmp: save_file(tensors, tmp))
        atomic_write(folder / ARRAYS_FILE, lambda tmp: _write_npz(tmp, arrays))
        meta = {
            "model": "customer-segmenter",
            "config": self.get_params(),
            "k": self.k_,
            "segment_names": self.segment_names_,
            "scaler": self.scaler_.to_json(),
            "report": self.report_,
        }
        _write_json(folder / CONFIG_FILE, meta)
        _write_json(folder / PROFILES_FILE, self.profiles_.to_dict(orient="records"))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> CustomerSegmenter:
        """A segmenter written by `save`: the same predictions as the one saved."""
        folder = Path(folder)
        meta = read_model_json(folder, "customer-segmenter", CONFIG_FILE)
        model = cls(**{"ensemble": 1, **meta["config"]})  # saved before ensembles: one
        with np.load(folder / ARRAYS_FILE, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        model.customer_ids_ = arrays["customer_ids"]
        model.labels_ = arrays["labels"]
        model.embedding_ = arrays["embedding"]
        model.k_ = int(meta["k"])
        model.segment_names_ = list(meta["segment_names"])
        model.scaler_ = FeatureScaler.from_saved(meta["scaler"], arrays)
        model.report_ = meta["report"]
        model.profiles_ = pd.DataFrame(json.loads((folder / PROFILES_FILE).read_text()))
        if model.config.method == "rfm":
            model.rfm_reference_ = arrays["rfm_reference"]
            return model
        model.clusters_ = _Clusters.from_arrays(model.config.clusterer, arrays)
        cfg = model.config
        module = EnsembleAutoencoder(
            len(model.scaler_.output_columns), cfg.hidden_size, cfg.embedding_size, cfg.ensemble
        )
        module.load_weights(load_file(folder / WEIGHTS_FILE))
        model.module_ = module.eval()
        shape = (cfg.ensemble, cfg.embedding_size)
        model.member_centre_ = arrays.get("members.centre", np.zeros(shape, dtype=np.float32))
        model.member_spread_ = arrays.get("members.spread", np.ones(shape[0], dtype=np.float32))
        return model


def plot_segments(
    embedding: np.ndarray,
    labels: np.ndarray,
    names: Sequence[str],
    path: str | Path,
    title: str = "customer segments",
) -> Path:
    """Scatter of the first two principal components, one colour and legend entry (name and
    size) per segment; written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    xy = PCA(n_components=2, random_state=0).fit_transform(np.asarray(embedding, dtype=float))
    fig, ax = plt.subplots(figsize=(8, 6), dpi=110)
    colours = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    for label in np.unique(labels):
        mine = labels == label
        ax.scatter(
            xy[mine, 0],
            xy[mine, 1],
            s=8,
            alpha=0.6,
            color=colours(int(label) % colours.N),
            label=f"{names[label]} ({int(mine.sum()):,})",
        )
    ax.set(title=title, xlabel="PC 1", ylabel="PC 2")
    ax.legend(loc="best", fontsize=8, markerscale=2, frameon=False)
    fig.tight_layout()
    path = Path(path)
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        plt.close(fig)
    return path


# --------------------------------------------------------------------------- helpers
def _features(data: CustomerHistory | pd.DataFrame) -> pd.DataFrame:
    return data.features() if isinstance(data, CustomerHistory) else data


def _require(features: pd.DataFrame, columns: Iterable[str], where: str) -> None:
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise ValueError(
            f"{where}: missing column(s) {missing}; pass CustomerHistory.features() or a frame "
            "with recency_days, frequency and monetary"
        )


def _names_by_label(profiles: pd.DataFrame, k: int) -> list[str]:
    names = [f"segment {i}" for i in range(k)]
    for label, name in zip(profiles["segment"], profiles["name"], strict=True):
        names[int(label)] = str(name)
    return names


def _edge_notes(selection: dict[str, Any], k_range: tuple[int, int]) -> list[str]:
    """A k chosen at either end of the range may only be where the search stopped."""
    return [
        f"{kind}: {part['criterion']} chose k={part['k']}, an end of k_range {list(k_range)}; "
        "widen k_range to see whether the score turns"
        for kind, part in selection.items()
        if part["k"] in k_range
    ]


def _score_at(scores: list[dict[str, Any]], k: int, key: str) -> float | None:
    return next((s[key] for s in scores if s["k"] == k), None)


def _agreement(
    selection: dict[str, Any], fits: dict[tuple[str, int], tuple[_Clusters, np.ndarray]]
) -> float:
    """Adjusted Rand index of k-means and the mixture, each at its own chosen k."""
    from sklearn.metrics import adjusted_rand_score

    km = fits["kmeans", selection["kmeans"]["k"]][1]
    return float(adjusted_rand_score(km, fits["gmm", selection["gmm"]["k"]][1]))


def _consensus_ks(cfg: SegmenterConfig) -> range:
    """The k at which the consensus clusters every member: all of k_range."""
    return range(cfg.k_range[0], cfg.k_range[1] + 1)


def _write_npz(tmp: str, arrays: dict[str, np.ndarray]) -> None:
    for key, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise TypeError(f"segmenter array {key!r} is an object array")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)


def _write_json(path: Path, payload: Any) -> None:
    write_json(path, payload, strict=True)
