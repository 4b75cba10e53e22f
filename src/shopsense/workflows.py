"""The jobs a user runs — train, evaluate, recommend — as plain functions over `Settings`.

The CLI is a thin layer over these, and the HTTP service will call the same functions,
so both behave identically. This module does the I/O (store, registry, reports); the
models, splits and metrics it calls stay pure.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
import typing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from shopsense.config import Settings
from shopsense.data.store import Store
from shopsense.data.views import Interactions
from shopsense.eval.evaluate import Report, evaluate
from shopsense.eval.splits import Split, hold_out_last, make_split
from shopsense.recommend.base import Explanation, Recommender
from shopsense.registry import ModelVersion, Registry

TASK = "recommend"


def make_model(name: str, params: dict[str, Any] | None = None) -> Recommender:
    """A model by registry name, with a clear error listing valid names and parameters."""
    from shopsense.recommend import MODELS  # every model, torch ones included: not on import

    try:
        cls = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}") from None
    try:
        return cls(**(params or {}))
    except TypeError:
        fields = [f.name for f in dataclasses.fields(cls.Config)]
        raise ValueError(
            f"bad parameters {params} for {name}; it takes {fields or 'no parameters'}"
        ) from None


def _is_neural(model: Recommender) -> bool:
    """Whether `model` trains with epochs (a `NeuralRecommender`). Asked without importing
    torch: a neural model exists only once its module, and so torch, was imported."""
    neural = sys.modules.get("shopsense.recommend.neural")
    return neural is not None and isinstance(model, neural.NeuralRecommender)


def _training_summary(model: Recommender) -> dict[str, Any]:
    from shopsense.recommend.neural import training_summary

    return training_summary(model)  # type: ignore[arg-type]


def parse_params(name: str, pairs: Sequence[str]) -> dict[str, Any]:
    """`["l2=200", "binary=false"]` -> typed values, using the model's config field types."""
    from shopsense.recommend import MODELS

    cls = MODELS.get(name)
    if cls is None:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    hints = typing.get_type_hints(cls.Config)
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in hints:
            raise ValueError(
                f"bad --param {pair!r}: expected NAME=VALUE with NAME in {list(hints)}"
            )
        out[key] = _convert(raw.strip(), hints[key], key)
    return out


def _convert(raw: str, hint: Any, key: str) -> Any:
    base = typing.get_args(hint)[0] if typing.get_origin(hint) is not None else hint
    try:
        if base is bool:
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return raw.lower() in ("true", "1", "yes")
        if base is int:
            return int(raw)
        if base is float:
            return float(raw)
        if base is tuple:
            return tuple(x.strip() for x in raw.split(",") if x.strip())
    except ValueError:
        raise ValueError(f"--param {key}: {raw!r} is not a valid {base.__name__}") from None
    return raw


def open_store(settings: Settings) -> Store:
    """The store for reading, with a clear error when there is none yet."""
    if not Path(settings.store_path).exists():
        raise FileNotFoundError(
            f"no store at {settings.store_path}; load data first "
            "(`shopsense data load sample` or `shopsense ingest events FILE`)"
        )
    return Store(settings.store_path, read_only=True)


def load_interactions(store: Store, *, keep: str = "all") -> Interactions:
    """All events of the store as one view (each event counts once)."""
    return Interactions.from_store(store, keep=keep)


def load_items(store: Store) -> pd.DataFrame:
    """The catalogue's products (postage, fees and vouchers are never recommended)."""
    return store.read("items", where="kind IS NULL OR kind = 'product'")


def data_fingerprint(data: Interactions) -> dict[str, Any]:
    """What a model was trained on: counts and a hash of the events."""
    h = hashlib.sha256()
    for arr in (data.user_idx, data.item_idx, data.timestamps):
        h.update(np.ascontiguousarray(arr).tobytes())
    return {
        "users": data.n_users,
        "items": data.n_items,
        "events": data.n_events,
        "sha256": h.hexdigest()[:16],
    }


def train(
    settings: Settings,
    model_name: str,
    params: dict[str, Any] | None = None,
    *,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    holdout_metrics: bool = True,
) -> ModelVersion:
    """Fit a model on every event in the store and save it as a new registry version.

    Neural models hold out each user's last event to stop early on (NDCG@10), then read
    every event as history; `checkpoint_dir` + `resume` continue a killed training run.
    With `holdout_metrics` the version records how well the model predicted each user's
    last event (leave-last-out, full ranking): neural models measure it on their early-stop
    hold-out; other models are fitted once more without the last events to measure it (so
    training takes about twice as long). These are the metrics the service lists beside
    each version, so a team can compare versions before activating one.
    """
    with open_store(settings) as store:
        data = load_interactions(store)
        items = load_items(store)
    model = make_model(model_name, params)
    start = time.perf_counter()
    training: dict[str, Any] = {}
    metrics: dict[str, float] = {}
    if _is_neural(model):
        fit_part, last = hold_out_last(data)
        model.fit(fit_part, items, last, checkpoint_dir=checkpoint_dir, resume=resume)
        if holdout_metrics:
            metrics = _holdout_metrics(model, fit_part, last)
        model.with_history(data)
        training = _training_summary(model)
    elif checkpoint_dir is not None or resume:
        raise ValueError(f"{model_name} trains in one step; checkpoints are for neural models")
    else:
        if holdout_metrics:
            fit_part, last = hold_out_last(data)
            if last.n_events:
                fitted = make_model(model_name, params).fit(fit_part, items)
                metrics = _holdout_metrics(fitted, fit_part, last)
        model.fit(data, items)
    seconds = time.perf_counter() - start
    info = {**data_fingerprint(data), "train_s": round(seconds, 3)}
    if metrics:
        info["metrics_protocol"] = (
            "leave-last-out hold-out: each customer's last event, where it is an item new "
            "to them; full ranking"
        )
    if training:
        info["training"] = {k: v for k, v in training.items() if k != "history"}
    return Registry(settings.models_dir).save(
        model, task=TASK, metrics=metrics, data=info, export=settings.onnx != "off"
    )


def _holdout_metrics(
    model: Recommender, fit_part: Interactions, last: Interactions
) -> dict[str, float]:
    """HR, NDCG, recall, MRR @10 on the held-out last events that are new items to the
    customer (a repeat purchase is excluded from ranking, so it could never be a hit)."""
    new = np.asarray(fit_part.binary[last.user_idx, last.item_idx]).ravel() == 0
    heldout = last.with_events(new)
    if not heldout.n_events:
        return {}
    report = evaluate(model, heldout, k=10, protocol="leave_last_out", stage="holdout")
    return {k: round(float(v), 5) for k, v in report.metrics.items()}


@dataclass(frozen=True)
class EvaluationRun:
    """Validation and test reports of several models on one split."""

    protocol: str
    split: dict[str, Any]
    reports: list[Report]
    path: Path | None = None

    def table(self) -> pd.DataFrame:
        rows = []
        for r in self.reports:
            rows.append({**r.flat(), "fit_s": r.params.get("_fit_s")})
        return pd.DataFrame(rows)


def evaluate_models(
    settings: Settings,
    model_names: Sequence[str],
    *,
    protocol: str = "leave_last_out",
    k: int = 10,
    params: dict[str, dict[str, Any]] | None = None,
    keep: str = "first",
    progress: bool = True,
    save_report: bool = True,
) -> EvaluationRun:
    """Fit each model on the split's train part, report validation; refit on train +
    validation, report test. Full ranking over all items the user has not had.

    `keep="first"` keeps only the first event of each (user, item) pair, so the held-out
    item is one the user has not had before (what a recommender is for).
    """
    with open_store(settings) as store:
        data = load_interactions(store, keep=keep)
        items = load_items(store)
    split = make_split(data, protocol)
    reports: list[Report] = []
    for name in tqdm(model_names, desc="evaluating", unit="model", disable=not progress):
        model_params = (params or {}).get(name, {})
        for stage, model, fit_s in _fitted_per_stage(name, model_params, split, items):
            heldout = split.validation if stage == "validation" else split.test
            report = evaluate(
                model, heldout, k=sorted({k, 20}), protocol=protocol, stage=stage, progress=progress
            )
            report.params["_fit_s"] = round(fit_s, 3)
            reports.append(report)
    run = EvaluationRun(protocol, split.summary(), reports)
    if save_report:
        settings.reports_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = settings.reports_dir / f"evaluate-{protocol}-{stamp}.json"
        payload = {
            "protocol": protocol,
            "split": split.summary(),
            "reports": [r.to_dict() for r in reports],
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=2, default=str))
        tmp.replace(path)
        run = dataclasses.replace(run, path=path)
    return run


def _fitted_per_stage(
    name: str, params: dict[str, Any], split: Split, items: pd.DataFrame
) -> Iterator[tuple[str, Recommender, float]]:
    """The model to score each stage with: fitted on train for validation, and on train +
    validation for test. A neural model is trained once, stopping early on validation,
    and reads train + validation as history for the test (retraining would double its
    cost; sequence models and autoencoders use the new history at once)."""
    stages = [s for s in ("validation", "test") if getattr(split, s).n_events]
    model = make_model(name, params)
    if _is_neural(model):
        start = time.perf_counter()
        model.fit(split.train, items, split.validation if "validation" in stages else None)
        fit_s = time.perf_counter() - start
        for stage in stages:
            if stage == "test":
                model.with_history(split.train_and_validation())
            yield stage, model, fit_s
        return
    for stage in stages:
        model = make_model(name, params)
        start = time.perf_counter()
        model.fit(split.train if stage == "validation" else split.train_and_validation(), items)
        yield stage, model, time.perf_counter() - start


def default_model_name(settings: Settings) -> str:
    """The model that answers when none is named: `settings.default_model`, else the most
    recently trained one."""
    if settings.default_model:
        return settings.default_model
    versions = Registry(settings.models_dir).versions(TASK)
    if not versions:
        raise FileNotFoundError(
            f"no trained model under {settings.models_dir}; run `shopsense train --model ease`"
        )
    return max(versions, key=lambda v: v.meta.get("created_at", "")).name


def latest_model(settings: Settings, name: str | None = None) -> tuple[Recommender, ModelVersion]:
    """The serving model: the active version (see `Registry.activate`) of `name`, or of the
    default model."""
    registry = Registry(settings.models_dir)
    version = registry.active(TASK, name or default_model_name(settings))
    return registry.load(TASK, version.name, version.version), version


def _catalogue(settings: Settings) -> pd.DataFrame:
    with open_store(settings) as store:
        return store.read("items", ["item_id", "title", "category", "price"]).set_index("item_id")


def recommend_for_user(
    settings: Settings, user: str, *, k: int = 10, model_name: str | None = None
) -> tuple[pd.DataFrame, str]:
    """Top-k for one user with titles, prices and the reason for each item.

    An unknown user gets the most popular items, labelled as cold start.
    Returns (table, note).
    """
    model, version = latest_model(settings, model_name)
    catalogue = _catalogue(settings)
    titles = catalogue["title"].dropna().to_dict()
    if user in set(model.user_ids_.tolist()):
        ids, scores = model.recommend([user], k=k)
        ids, scores = ids[0], scores[0]
        reasons = [model.explain(user, i).text(titles) if i else "" for i in ids]
        note = f"model {version.name}/{version.version}"
    else:
        popularity = np.asarray(model.seen_.sum(axis=0)).ravel()
        top = np.argsort(-popularity, kind="stable")[:k]
        ids, scores = model.item_ids_[top], popularity[top].astype(np.float32)
        reasons = [f"bought by {int(p)} customers" for p in scores]
        note = (
            f"cold start: user {user!r} is unknown to {version.name}/{version.version}; "
            "popular items"
        )
    return _with_catalogue(ids, scores, catalogue, reasons), note


def similar_to_item(
    settings: Settings, item: str, *, k: int = 10, model_name: str | None = None
) -> pd.DataFrame:
    model, _ = latest_model(settings, model_name)
    ids, scores = model.similar_items([item], k=k)
    return _with_catalogue(ids[0], scores[0], _catalogue(settings))


def explain_pair(
    settings: Settings, user: str, item: str, *, n: int = 5, model_name: str | None = None
) -> tuple[Explanation, pd.DataFrame]:
    """The explanation of one (user, item) pair and a table of the contributing items."""
    model, _ = latest_model(settings, model_name)
    why = model.explain(user, item, n=n)
    catalogue = _catalogue(settings)
    ids = [i for i, _ in why.because]
    table = catalogue.reindex([item, *ids])[["title", "price"]]
    table["contribution"] = [np.nan] + [w for _, w in why.because]
    return why, table


def _with_catalogue(
    ids: np.ndarray,
    scores: np.ndarray,
    catalogue: pd.DataFrame,
    reasons: list[str] | None = None,
) -> pd.DataFrame:
    keep = ids != ""
    ids, scores = ids[keep], scores[keep]
    info = catalogue.reindex(ids)
    table = pd.DataFrame(
        {
            "rank": np.arange(1, len(ids) + 1),
            "item_id": ids,
            "title": info["title"].to_numpy(),
            "price": info["price"].to_numpy(),
            "score": np.round(scores.astype(np.float64), 4),
        }
    )
    if reasons is not None:
        table["why"] = [r for r, k in zip(reasons, keep, strict=True) if k]
    return table
