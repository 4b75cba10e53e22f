"""Anomalous orders and sessions: which invoices and browsing sessions look unlike the rest.

Detectors score units (`shopsense.data.units`), each a row of features plus its sequence
of steps, built from views of the store:

- orders (`order_units`): one per invoice of the raw `order_lines`. Guest lines,
  cancellations and non-product rows (postage, fees, bad-debt adjustments) stay in: they
  are where odd things happen. The steps are the invoice's lines, in file order.
- sessions (`session_units`): one per `session_id` of view events; the steps are the
  session's events, oldest first.

Prices and popularity are compared against a reference (`order_reference`,
`session_reference` in `shopsense.data.references`) computed on a training period, so a
test period's odd prices cannot move their own yardstick.

Two detectors share one API: `fit(units)` on unlabelled units, `score(units)` (higher =
more anomalous), `explain(units, top=3)`, `save` / `load` (JSON + npz / safetensors):

- `IsolationForestDetector`: scikit-learn's IsolationForest on the unit features
  (Liu, Ting & Zhou, "Isolation Forest", ICDM 2008), explained by robust z-scores.
- `SequenceAutoencoder`: a GRU encoder–decoder over the steps and the unit features
  (Malhotra et al., "LSTM-based Encoder-Decoder for Multi-sensor Anomaly Detection",
  ICML workshop 2016), trained with the shared `Trainer`; score = reconstruction error,
  explained per feature.

`evaluate_orders` and `evaluate_sessions` measure both on a temporal split against real
labels and seeded injected anomalies; docs/behaviour-anomalies.md has the numbers.
"""

from __future__ import annotations

from shopsense.behavior.anomaly.autoencoder import (
    WEIGHTS_FILE,
    SequenceAutoencoder,
    SequenceAutoencoderConfig,
)
from shopsense.behavior.anomaly.base import ARRAYS_FILE, CONFIG_FILE, AnomalyDetector
from shopsense.behavior.anomaly.detectors import DETECTORS, load_detector
from shopsense.behavior.anomaly.evaluate import (
    TABLE_COLUMNS,
    DetectorFactories,
    default_detectors,
    evaluate_orders,
    evaluate_sessions,
    ranking_quality,
    temporal_split,
)
from shopsense.behavior.anomaly.inject import (
    ORDER_INJECTIONS,
    SESSION_INJECTIONS,
    inject_orders,
    inject_sessions,
)
from shopsense.behavior.anomaly.isolation_forest import (
    IsolationForestConfig,
    IsolationForestDetector,
)
from shopsense.behavior.anomaly.labels import LABEL_DEFINING, LABEL_FEATURES, order_labels

__all__ = [
    "ARRAYS_FILE",
    "CONFIG_FILE",
    "DETECTORS",
    "LABEL_DEFINING",
    "LABEL_FEATURES",
    "ORDER_INJECTIONS",
    "SESSION_INJECTIONS",
    "TABLE_COLUMNS",
    "WEIGHTS_FILE",
    "AnomalyDetector",
    "DetectorFactories",
    "IsolationForestConfig",
    "IsolationForestDetector",
    "SequenceAutoencoder",
    "SequenceAutoencoderConfig",
    "default_detectors",
    "evaluate_orders",
    "evaluate_sessions",
    "inject_orders",
    "inject_sessions",
    "load_detector",
    "order_labels",
    "ranking_quality",
    "temporal_split",
]
