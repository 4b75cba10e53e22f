"""`CustomerSegmenter`: the estimator that fits, predicts, reports, saves and loads segments."""

from __future__ import annotations

import json
import time
from itertools import combinations
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
from safetensors.torch import load_file, save_file

from shopsense.behavior.feature_map import FeatureMap
from shopsense.behavior.segments.clustering import (
    _agreement,
    _by_revenue,
    _Clusters,
    _consensus_ks,
    _consensus_silhouette,
    _edge_notes,
    _score_at,
    _search,
    _select_k,
    _silhouette,
    _Space,
)
from shopsense.behavior.segments.config import (
    ARRAYS_FILE,
    CLUSTERERS,
    CONFIG_FILE,
    METHODS,
    PLOT_FILE,
    PROFILES_FILE,
    RFM_COLUMNS,
    RFM_SEGMENTS,
    WEIGHTS_FILE,
    SegmenterConfig,
)
from shopsense.behavior.segments.embedding import _ensemble_embedding, _learn_embedding
from shopsense.behavior.segments.features import FeatureScaler, check_features
from shopsense.behavior.segments.inputs import _features
from shopsense.behavior.segments.network import EnsembleAutoencoder
from shopsense.behavior.segments.plot import plot_segments
from shopsense.behavior.segments.profiles import _names_by_label, segment_profiles
from shopsense.behavior.segments.rfm import rfm_scores, rfm_segment_labels
from shopsense.data.customers import CustomerHistory
from shopsense.estimator import Estimator, register
from shopsense.persist import atomic_write, read_model_json, write_json
from shopsense.train.trainer import (
    torch_threads,
)


@register("customer-segmenter")
class CustomerSegmenter(Estimator):
    """Customer segments by RFM rules or by clustering a learned customer embedding.

    `CustomerSegmenter(**params)` stores `SegmenterConfig` fields and does nothing else;
    `fit(history_or_features)` learns and returns self; `predict(features)` gives each
    customer's segment label, `segment_names_[label]` its name; `profiles()` and `report()`
    describe the fit; `save(folder)` / `load(folder)` keep it as JSON + npz + safetensors.
    Fitted on a history, it keeps that history's product groups (`feature_map_`) and reads
    every later history through them, whatever the catalogue has become since.
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
        self.feature_map_ = FeatureMap.of(data, self.scaler_.columns)
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
    def features(self, data: CustomerHistory | pd.DataFrame) -> pd.DataFrame:
        """The customer features this segmenter reads from `data`, in its columns: a
        history through the product groups it was fitted on (see `FeatureMap`).

        Raises CannotScore (a ValueError) when `data` cannot give them.
        """
        self._check_fitted()
        if isinstance(data, CustomerHistory):
            data = self.feature_map_.history(data)
        features, _ = check_features(_features(data), "segmenter", drop_empty=False)
        return self.feature_map_.align(features, "the segmentation")

    def transform(self, data: CustomerHistory | pd.DataFrame) -> np.ndarray:
        """(customers, ensemble × embedding_size) ensemble embeddings (rfm: the standardised
        features)."""
        x = self.scaler_.transform(self.features(data))
        if self.config.method == "rfm":
            return x
        return _ensemble_embedding(self.module_, x, self.member_centre_, self.member_spread_)

    def predict(self, data: CustomerHistory | pd.DataFrame) -> np.ndarray:
        """Segment label of each customer (row), an index into `segment_names_`."""
        features = self.features(data)
        if self.config.method == "rfm":
            ref = pd.DataFrame(self.rfm_reference_, columns=list(RFM_COLUMNS))
            return rfm_segment_labels(rfm_scores(features, ref))
        return self.clusters_.predict(self.transform(features))

    def predict_names(self, data: CustomerHistory | pd.DataFrame) -> pd.Series:
        """Segment name of each customer, indexed by customer id."""
        features = self.features(data)
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
            "feature_map": self.feature_map_.to_json(),
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
        model.feature_map_ = FeatureMap.from_json(meta.get("feature_map"), model.scaler_.columns)
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


def _write_npz(tmp: str, arrays: dict[str, np.ndarray]) -> None:
    for key, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise TypeError(f"segmenter array {key!r} is an object array")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)


def _write_json(path: Path, payload: Any) -> None:
    write_json(path, payload, strict=True)
