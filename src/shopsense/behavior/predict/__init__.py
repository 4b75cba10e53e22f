"""What customers do next: will they buy within 30 days; have they churned (no purchase in 90)?

Every model here learns from *earlier* cut-offs and is scored at a later one, so the period
it is evaluated on is never among its inputs or its labels:

    past = history.until(cutoff)                           # inputs: features, invoices
    future = history.between(cutoff, cutoff + horizon)     # labels

`temporal_split` builds and checks one such pair; `rolling_cutoffs` lists training cut-offs
whose label windows all end by a given date (the evaluation cut-off). Models, one API
(`NextPurchaseModel`, `ChurnModel`; `CustomerValueModel` in `value.py` shares the base):

- "base_rate": the share of positives over the training cut-offs, for everyone;
- "logreg" and "gbm": logistic regression and gradient-boosted trees (scikit-learn's
  HistGradientBoosting) on `customer_features`;
- "gru": a GRU (Cho et al. 2014, "Learning Phrase Representations using RNN
  Encoder-Decoder") over the customer's latest invoices (log value, log lines, log gap,
  log age, month) joined with the same features, trained by the shared `Trainer`.

Saved as config JSON + arrays in safetensors. Boosted trees are exported as node arrays and
scored by a NumPy traversal, so nothing is ever pickled.
"""

from __future__ import annotations

from shopsense.behavior.predict.base import Learner, customer_holdout
from shopsense.behavior.predict.config import BehaviorConfig
from shopsense.behavior.predict.cutoffs import (
    TemporalSplit,
    check_window,
    next_period,
    rolling_cutoffs,
    temporal_split,
)
from shopsense.behavior.predict.evaluate import (
    aligned,
    calibration_plot,
    calibration_table,
    probability_scores,
)
from shopsense.behavior.predict.features import (
    LOG_FEATURES,
    STEP_FEATURES,
    ModelInputs,
    customer_features,
    invoice_steps,
    model_inputs,
)
from shopsense.behavior.predict.learners import (
    ConstantLearner,
    LinearLearner,
    TreeLearner,
    export_trees,
    trees_raw,
)
from shopsense.behavior.predict.models import (
    CONFIG_FILE,
    LEARNERS,
    WEIGHTS_FILE,
    ChurnModel,
    CutoffModel,
    NextPurchaseModel,
)
from shopsense.behavior.predict.sequence import (
    OUTPUTS,
    SequenceLearner,
    SequenceNet,
    ziln_loss,
    ziln_value,
)

__all__ = [
    "CONFIG_FILE",
    "LEARNERS",
    "LOG_FEATURES",
    "OUTPUTS",
    "STEP_FEATURES",
    "WEIGHTS_FILE",
    "BehaviorConfig",
    "ChurnModel",
    "ConstantLearner",
    "CutoffModel",
    "Learner",
    "LinearLearner",
    "ModelInputs",
    "NextPurchaseModel",
    "SequenceLearner",
    "SequenceNet",
    "TemporalSplit",
    "TreeLearner",
    "aligned",
    "calibration_plot",
    "calibration_table",
    "check_window",
    "customer_features",
    "customer_holdout",
    "export_trees",
    "invoice_steps",
    "model_inputs",
    "next_period",
    "probability_scores",
    "rolling_cutoffs",
    "temporal_split",
    "trees_raw",
    "ziln_loss",
    "ziln_value",
]
