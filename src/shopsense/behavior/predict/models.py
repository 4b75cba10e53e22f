"""The cut-off estimators: `CutoffModel`, `NextPurchaseModel` and `ChurnModel`."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from safetensors.numpy import load_file, save_file

from shopsense.behavior.feature_map import FeatureMap
from shopsense.behavior.predict.base import Learner
from shopsense.behavior.predict.config import BehaviorConfig
from shopsense.behavior.predict.cutoffs import rolling_cutoffs, temporal_split
from shopsense.behavior.predict.features import ModelInputs, customer_features, model_inputs
from shopsense.behavior.predict.learners import ConstantLearner, LinearLearner, TreeLearner
from shopsense.behavior.predict.sequence import SequenceLearner
from shopsense.data.customers import CustomerHistory
from shopsense.estimator import Estimator, register
from shopsense.persist import atomic_write, read_model_json

CONFIG_FILE = "model.json"


WEIGHTS_FILE = "weights.safetensors"


LEARNERS: dict[str, type[Learner]] = {
    "base_rate": ConstantLearner,
    "logreg": LinearLearner,
    "gbm": TreeLearner,
    "gru": SequenceLearner,
}


class CutoffModel(Estimator):
    """Shared base: learn from labels at earlier cut-offs, score customers at a later one.

    `fit(history, cutoffs)` builds a `temporal_split` per cut-off (each label window must
    end within `history`), stacks every customer at every cut-off as one example and fits
    the learner of `kind`. `history` should end at the evaluation cut-off so that nothing
    from the evaluated period can reach the model. The model keeps `history`'s product
    groups (`feature_map_`) and scores any later history through them.
    """

    name: ClassVar[str]
    fitted_attribute = "cutoffs_"
    kinds: ClassVar[tuple[str, ...]]
    objective: ClassVar[str] = "binary"
    default_horizon: ClassVar[int]

    def __init__(self, kind: str = "gru", horizon_days: int | None = None, **params: Any):
        known = {f.name for f in fields(BehaviorConfig)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown parameter(s) {unknown}")
        horizon = self.default_horizon if horizon_days is None else horizon_days
        self.config = BehaviorConfig(kind=kind, horizon_days=horizon, **params)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kind={self.config.kind!r}, horizon_days={self.horizon})"

    @property
    def horizon(self) -> int:
        return int(self.config.horizon_days)

    # ----------------------------------------------------------------- what a task defines
    def target(self, labels: pd.DataFrame) -> pd.Series:
        """What this model predicts, as observed in a split's `labels`."""
        raise NotImplementedError

    # ----------------------------------------------------------------- fitting
    def fit(
        self, history: CustomerHistory, cutoffs: Sequence[pd.Timestamp | str] | None = None
    ) -> Self:
        """Learn from every customer at every cut-off (default: `rolling_cutoffs`)."""
        self._check_kind()
        cutoffs = self._cutoffs(history, cutoffs)
        splits = [temporal_split(history, c, self.horizon) for c in cutoffs]
        features = [customer_features(s.past) for s in splits]
        self.feature_names_ = _union_columns(features)
        self.feature_map_ = FeatureMap.of(history, self.feature_names_)
        x = ModelInputs.concat(
            [
                model_inputs(s.past, self.feature_names_, self.config.max_length, f)
                for s, f in zip(splits, features, strict=True)
            ]
        )
        y = np.concatenate([self._encode(self.target(s.labels)) for s in splits])
        self.cutoffs_ = list(cutoffs)
        self.n_examples_ = len(y)
        self.learner_ = LEARNERS[self.config.kind](self._objective(), self.config)
        self.learner_.fit(x, y)
        return self

    def _check_kind(self) -> None:
        if self.config.kind not in self.kinds:
            raise ValueError(
                f"{type(self).__name__}: kind must be one of {self.kinds}, not {self.config.kind!r}"
            )

    def _cutoffs(
        self, history: CustomerHistory, cutoffs: Sequence[pd.Timestamp | str] | None
    ) -> list[pd.Timestamp]:
        if cutoffs is None:
            return rolling_cutoffs(history, self.horizon)
        cutoffs = sorted(pd.Timestamp(c) for c in cutoffs)
        if not cutoffs:
            raise ValueError("fit needs at least one training cut-off")
        return cutoffs

    def _objective(self) -> str:
        """What the learner of this model's kind optimises (see `SequenceLearner`)."""
        return self.objective

    def _encode(self, target: pd.Series) -> np.ndarray:
        return target.to_numpy(np.float64)

    # ----------------------------------------------------------------- scoring
    def _check_input(self, history: CustomerHistory) -> None:
        """Fitted, and handed a customer view (a frame or ids would fail deep inside)."""
        self._check_fitted()
        if not isinstance(history, CustomerHistory):
            raise TypeError(
                f"{type(self).__name__} scores a CustomerHistory, not {type(history).__name__}"
            )

    def _raw(self, history: CustomerHistory) -> pd.Series:
        """The learner's output for every customer with a purchase before history.cutoff."""
        self._check_input(history)
        if history.invoices.empty:
            raise ValueError(
                f"no customer has a purchase before the cut-off {history.cutoff:%Y-%m-%d}: "
                "nobody to score"
            )
        history = self.feature_map_.history(history)  # the product groups it was fitted on
        features = self.feature_map_.align(customer_features(history), type(self).__name__)
        x = model_inputs(history, self.feature_names_, self.config.max_length, features)
        index = pd.Index(x.customers, name="customer_id")
        return pd.Series(self.learner_.predict(x), index=index)

    # ----------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Config and learned state as JSON + arrays as safetensors, each written atomically."""
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta, arrays = self._state()
        arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
        atomic_write(path / WEIGHTS_FILE, lambda tmp: save_file(arrays, tmp))
        meta = {"model": self.name, "config": self.get_params(), **meta}
        text = json.dumps(meta, indent=2)
        atomic_write(path / CONFIG_FILE, lambda tmp: Path(tmp).write_text(text))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a folder written by `save`: the same predictions as the saved model."""
        path = Path(path)
        meta = read_model_json(path, cls.name, CONFIG_FILE)
        model = cls(**meta.pop("config"))
        model._set_state(meta, load_file(path / WEIGHTS_FILE))
        return model

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {
            "feature_names": list(self.feature_names_),
            "feature_map": self.feature_map_.to_json(),
            "cutoffs": [str(c) for c in self.cutoffs_],
            "n_examples": int(self.n_examples_),
        }
        return meta, self.learner_.arrays()

    def _set_state(self, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        self.feature_names_ = list(meta["feature_names"])
        self.feature_map_ = FeatureMap.from_json(meta.get("feature_map"), self.feature_names_)
        self.cutoffs_ = [pd.Timestamp(c) for c in meta["cutoffs"]]
        self.n_examples_ = int(meta["n_examples"])
        self.learner_ = LEARNERS[self.config.kind](self._objective(), self.config)
        self.learner_.set_arrays(arrays, len(self.feature_names_))


@register("next_purchase")
class NextPurchaseModel(CutoffModel):
    """P(a customer buys within `horizon_days` of the cut-off), 30 days by default.

    >>> model = NextPurchaseModel("gbm").fit(history.until("2011-09-01"))
    >>> p = model.predict_proba(history.until("2011-09-01"))   # Series by customer_id
    """

    name = "next_purchase"
    kinds = ("base_rate", "logreg", "gbm", "gru")
    default_horizon = 30

    def target(self, labels: pd.DataFrame) -> pd.Series:
        return labels["purchased"].rename(f"purchase_{self.horizon}d")

    def predict_proba(self, history: CustomerHistory) -> pd.Series:
        """Probability per customer with a purchase before `history.cutoff`."""
        return self._raw(history).rename(f"p_{self.target_name}")

    @property
    def target_name(self) -> str:
        return f"purchase_{self.horizon}d"


@register("churn")
class ChurnModel(NextPurchaseModel):
    """P(a customer makes no purchase within `horizon_days` of the cut-off), 90 by default."""

    name = "churn"
    default_horizon = 90

    def target(self, labels: pd.DataFrame) -> pd.Series:
        return (~labels["purchased"]).rename(self.target_name)

    @property
    def target_name(self) -> str:
        return f"churn_{self.horizon}d"


def _union_columns(frames: Sequence[pd.DataFrame]) -> list[str]:
    """Columns of all frames: those of the first in order, then the new ones sorted."""
    first = list(frames[0].columns)
    extra = sorted({c for f in frames[1:] for c in f.columns} - set(first))
    return first + extra
