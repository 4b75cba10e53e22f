"""Customer behaviour in the service: the active segmentation and what it says of a customer.

`/v1/segments` lists the segments of the active `behavior/segments` version (trained with
`shopsense segments`) with their profiles; `/v1/customers/{id}` gives one customer's
segment and the features it was read from. The customer view is computed from the store's
order lines when the segmentation is first asked for, and again when another version
becomes active or the store has changed since.

Each model reads the customer view through the feature map it was fitted with (its product
groups), so a changed catalogue does not change what it reads. A segmentation that still
cannot score the store's customers answers 409 saying why and what to run; a predictor that
cannot is left out of a customer's predictions, with the reason under `unavailable`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from shopsense.behavior.feature_map import CannotScore
from shopsense.data.customers import CustomerHistory
from shopsense.registry import ModelVersion
from shopsense.serve.schemas import finite
from shopsense.serve.state import ORDER_TABLES, NotReady, ServiceState

TASK = "behavior"
SEGMENTS = "segments"

router = APIRouter(prefix="/v1", tags=["customers"])


# ============================================================================ loaded state
@dataclass(frozen=True)
class Segmentation:
    """One segmenter version with every known customer's features and segment."""

    version: ModelVersion
    model: Any
    features: pd.DataFrame
    segments: pd.Series  # customer id -> segment name
    store_stamp: tuple[int, ...]
    predictions: pd.DataFrame  # customer id -> one column per trained predictor
    predictors: dict[str, str]  # column -> name/version that predicted it
    unavailable: dict[str, str]  # column -> why its trained predictor could not score

    @property
    def label(self) -> str:
        return f"{self.version.name}/{self.version.version}"


class CannotServe(RuntimeError):
    """The active segmentation cannot score the store's current customers (HTTP 409)."""


class Insights:
    """Loads the active segmentation on first use and keeps it until it is stale."""

    def __init__(self, state: ServiceState) -> None:
        self.state = state
        self._loaded: Segmentation | None = None
        self._failed: tuple[Path, tuple[int, ...], CannotServe] | None = None
        self._lock = threading.Lock()

    def segmentation(self) -> Segmentation:
        registry = self.state.registry
        auto = self.state.settings.auto_activate
        try:
            version = registry.serving(TASK, SEGMENTS, auto_activate=auto)
        except FileNotFoundError:
            raise NotReady(
                "no customer segmentation yet; run `shopsense segments` to train one"
            ) from None
        stamp = self.state.data_versions(*ORDER_TABLES)
        loaded = self._loaded
        if (
            loaded is not None
            and loaded.version.path == version.path
            and loaded.store_stamp == stamp
        ):
            return loaded
        with self._lock:
            failed = self._failed
            if failed is not None and failed[:2] == (version.path, stamp):
                raise failed[2]  # the same model on the same store: still cannot score
            loaded = self._loaded
            if loaded is None or loaded.version.path != version.path or loaded.store_stamp != stamp:
                try:
                    loaded = self._loaded = self._load(version, stamp)
                except CannotServe as e:
                    self._failed = (version.path, stamp, e)
                    raise
        return loaded

    def _load(self, version: ModelVersion, stamp: tuple[int, ...]) -> Segmentation:
        model = self.state.registry.load(TASK, version.name, version.version)
        history = self.state.read_store(CustomerHistory.from_store)
        try:
            features = model.features(history)  # through the groups it was fitted on
            segments = model.predict_names(features)
        except CannotScore as e:
            raise CannotServe(
                f"The segmentation {version.name}/{version.version} cannot score the store's "
                f"current customers: {e} (`shopsense segments`)."
            ) from e
        predictions, predictors, unavailable = self._predict(history, features.index)
        return Segmentation(
            version, model, features, segments, stamp, predictions, predictors, unavailable
        )

    def _predict(
        self, history: CustomerHistory, customers: pd.Index
    ) -> tuple[pd.DataFrame, dict[str, str], dict[str, str]]:
        """Every customer's prediction from each trained predictor (`shopsense predict`),
        as of the store's last order; predictors not trained yet are left out, and so are
        those that cannot score the current customers (with the reason)."""
        from shopsense.behavior.workflows import TARGETS

        registry = self.state.registry
        auto = self.state.settings.auto_activate
        columns: dict[str, pd.Series] = {}
        predictors: dict[str, str] = {}
        unavailable: dict[str, str] = {}
        for target, (name, _, column) in TARGETS.items():
            try:
                version = registry.serving(TASK, name, auto_activate=auto)
            except FileNotFoundError:
                continue
            label = f"{version.name}/{version.version}"
            model = registry.load(TASK, version.name, version.version)
            predict = model.predict if column == "value_90d" else model.predict_proba
            try:
                columns[column] = predict(history)
            except CannotScore as e:
                unavailable[column] = f"{label}: {e} (`shopsense predict {target}`)"
                continue
            predictors[column] = label
        return pd.DataFrame(columns).reindex(customers), predictors, unavailable


def insights(request: Request) -> Insights:
    app_state = request.app.state
    if getattr(app_state, "insights", None) is None:
        app_state.insights = Insights(app_state.service)
    return app_state.insights


InsightsDep = Annotated[Insights, Depends(insights)]


# ============================================================================ schemas
class SegmentProfile(BaseModel):
    segment: int
    name: str = Field(description="a name read from the profile, e.g. 'lapsed high-value'")
    customers: int
    customer_share: float
    revenue_share: float
    recency_days_median: float | None
    frequency_median: float | None
    monetary_median: float | None
    top_groups: str | None = Field(None, description="product groups with the most spend")


class SegmentsOut(BaseModel):
    model: str = Field(description="name/version of the segmentation")
    method: str
    k: int
    customers: int
    stability_ari: float | None = Field(
        None, description="mean adjusted Rand index between fits with different seeds"
    )
    profiles: list[SegmentProfile]


class CustomerOut(BaseModel):
    customer_id: str
    model: str
    segment: str
    predictions: dict[str, float | None] = Field(
        default_factory=dict,
        description="p_purchase_30d, p_churn_90d, value_90d from the trained predictors "
        "(`shopsense predict`); absent when not trained",
    )
    predicted_by: dict[str, str] = Field(default_factory=dict)
    unavailable: dict[str, str] = Field(
        default_factory=dict,
        description="trained predictors that cannot score the store's current customers, "
        "and why (retrain them with `shopsense predict`)",
    )
    features: dict[str, float | None] = Field(
        description="the customer view the segment was read from (RFM, baskets, gaps, ...)"
    )


# ============================================================================ routes
def segments_out(seg: Segmentation) -> SegmentsOut:
    report = seg.model.report()
    profiles = [
        SegmentProfile(
            segment=int(p["segment"]),
            name=str(p["name"]),
            customers=int(p["customers"]),
            customer_share=float(p["customer_share"]),
            revenue_share=float(p["revenue_share"]),
            recency_days_median=finite(p.get("recency_days_median")),
            frequency_median=finite(p.get("frequency_median")),
            monetary_median=finite(p.get("monetary_median")),
            top_groups=str(p["top_groups"]) if p.get("top_groups") else None,
        )
        for p in seg.model.profiles().to_dict(orient="records")
    ]
    return SegmentsOut(
        model=seg.label,
        method=str(report.get("method", "")),
        k=int(report.get("k", len(profiles))),
        customers=int(report.get("customers", 0)),
        stability_ari=finite((report.get("stability") or {}).get("ari_mean")),  # None: not run
        profiles=profiles,
    )


async def _segmentation(insights: Insights) -> Segmentation:
    """The active segmentation; 409 when it cannot score the store's customers."""
    try:
        return await run_in_threadpool(insights.segmentation)
    except CannotServe as e:
        raise HTTPException(409, str(e)) from None


@router.get("/segments", response_model=SegmentsOut)
async def segments(insights: InsightsDep) -> SegmentsOut:
    """The active customer segmentation: one profile per segment (409: it cannot score the
    store's current customers; retrain it)."""
    return segments_out(await _segmentation(insights))


@router.get("/customers/{customer_id}", response_model=CustomerOut)
async def customer(
    insights: InsightsDep,
    customer_id: Annotated[str, PathParam(min_length=1, max_length=128)],
) -> CustomerOut:
    """One customer's segment and the features it was read from (404: no purchases; 409:
    the segmentation cannot score the store's current customers)."""
    seg = await _segmentation(insights)
    if customer_id not in seg.segments.index:
        raise HTTPException(
            404, f"customer {customer_id!r} has no purchases in the store's order lines"
        )
    row = seg.features.loc[customer_id]
    predicted = seg.predictions.loc[customer_id] if len(seg.predictions.columns) else {}
    return CustomerOut(
        customer_id=customer_id,
        model=seg.label,
        segment=str(seg.segments.loc[customer_id]),
        predictions={str(k): finite(v) for k, v in dict(predicted).items()},
        predicted_by=seg.predictors,
        unavailable=seg.unavailable,
        features={str(k): finite(v) for k, v in row.items()},
    )


def segment_sizes(seg: Segmentation) -> dict[str, int]:
    """Customers per segment name (for the dashboard)."""
    counts = seg.segments.value_counts()
    return {str(k): int(v) for k, v in counts.items()}


def embedding_of(seg: Segmentation) -> tuple[np.ndarray, np.ndarray]:
    """Every known customer's embedding and label, for the dashboard's plot."""
    model = seg.model
    return np.asarray(model.embedding_), np.asarray(model.labels_)
