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

from shopsense.behavior.segments.clustering import CRITERIA
from shopsense.behavior.segments.config import (
    ARRAYS_FILE,
    CLUSTERERS,
    CONFIG_FILE,
    CONSENSUS_SAMPLE,
    LOG_COLUMNS,
    METHODS,
    PLOT_FILE,
    PROFILES_FILE,
    RFM_COLUMNS,
    RFM_SEGMENTS,
    SILHOUETTE_SAMPLE,
    WEIGHTS_FILE,
    SegmenterConfig,
)
from shopsense.behavior.segments.estimator import CustomerSegmenter
from shopsense.behavior.segments.features import FeatureScaler, check_features
from shopsense.behavior.segments.network import CustomerAutoencoder, EnsembleAutoencoder
from shopsense.behavior.segments.plot import plot_segments
from shopsense.behavior.segments.profiles import profile_name, segment_profiles
from shopsense.behavior.segments.rfm import quantile_score, rfm_scores, rfm_segment_labels

__all__ = [
    "ARRAYS_FILE",
    "CLUSTERERS",
    "CONFIG_FILE",
    "CONSENSUS_SAMPLE",
    "CRITERIA",
    "LOG_COLUMNS",
    "METHODS",
    "PLOT_FILE",
    "PROFILES_FILE",
    "RFM_COLUMNS",
    "RFM_SEGMENTS",
    "SILHOUETTE_SAMPLE",
    "WEIGHTS_FILE",
    "CustomerAutoencoder",
    "CustomerSegmenter",
    "EnsembleAutoencoder",
    "FeatureScaler",
    "SegmenterConfig",
    "check_features",
    "plot_segments",
    "profile_name",
    "quantile_score",
    "rfm_scores",
    "rfm_segment_labels",
    "segment_profiles",
]
