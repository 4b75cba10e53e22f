"""The segmenter's settings, method names, RFM columns and segment rules, and file names."""

from __future__ import annotations

from dataclasses import dataclass

from shopsense.train.trainer import (
    TrainerConfig,
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
