"""Pricing in the service: elasticities, explained price suggestions and demand forecasts.

Everything is read from the registry's active pricing versions, trained with
`shopsense pricing elasticity` and `shopsense pricing forecast` on this store. The weekly
price panel and the daily demand view are built from the store's order lines when first
asked for, and again when another version becomes active or the store has changed; the
default suggestions (the shop's default rules) are computed once with them, so a lookup is
a dictionary access. Custom rules (`POST /v1/pricing/suggest`) are computed per request
over the same panel, and the items asked for are picked from the result: a product's price
is the same by GET, by POST alone or with other products, in the dashboard and from
`shopsense pricing suggest` (the same panel, rules and model give the same answer).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, model_validator

from shopsense.data.orders import order_lines_from_store
from shopsense.data.panel import PricePanel
from shopsense.pricing.elasticity import ElasticityModel
from shopsense.pricing.policy import PriceConstraints
from shopsense.pricing.suggest import suggest_prices
from shopsense.pricing.workflows import (
    ELASTICITY,
    TASK,
    data_source,
    item_titles,
    priced_panel,
    with_titles,
)
from shopsense.registry import ModelVersion
from shopsense.serve.schemas import finite
from shopsense.serve.state import ORDER_TABLES, NotReady, ServiceState

router = APIRouter(prefix="/v1/pricing", tags=["pricing"])
ItemId = Annotated[str, PathParam(min_length=1, max_length=128)]


# ============================================================================ loaded state
@dataclass(frozen=True)
class PricingData:
    """The active elasticity version with the store's panel and default suggestions."""

    version: ModelVersion
    model: ElasticityModel
    panel: PricePanel
    suggestions: pd.DataFrame  # item_id -> row, default rules
    store_stamp: tuple[int, ...]
    titles: pd.Series  # item_id -> the catalogue's title

    @property
    def label(self) -> str:
        return f"{self.version.name}/{self.version.version}"


class PricingDesk:
    """Loads the active pricing versions on first use and keeps them until stale."""

    def __init__(self, state: ServiceState) -> None:
        self.state = state
        self._pricing: PricingData | None = None
        self._forecasts: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def pricing(self) -> PricingData:
        registry = self.state.registry
        auto = self.state.settings.auto_activate
        try:
            version = registry.serving(TASK, ELASTICITY, auto_activate=auto)
        except FileNotFoundError:
            raise NotReady(
                "no elasticities yet; run `shopsense pricing elasticity` on this store"
            ) from None
        source = version.meta.get("data", {}).get("source")
        if source != data_source(self.state.settings):
            raise NotReady(
                f"the active elasticities were fitted on {source}, not on the store; run "
                "`shopsense pricing elasticity` without --file"
            )
        stamp = self.state.data_versions(*ORDER_TABLES)
        with self._lock:
            loaded = self._pricing
            if loaded is None or loaded.version.path != version.path or loaded.store_stamp != stamp:
                loaded = self._pricing = self._load_pricing(version, stamp)
        return loaded

    def _load_pricing(self, version: ModelVersion, stamp: tuple[int, ...]) -> PricingData:
        model = self.state.registry.load(TASK, version.name, version.version)
        panel, titles = self.state.read_store(
            lambda store: (priced_panel(store, model), item_titles(store))
        )
        suggestions = with_titles(suggest_prices(panel, model), titles).set_index("item_id")
        return PricingData(version, model, panel, suggestions, stamp, titles)

    def forecasts(self) -> dict[str, Any]:
        """The active forecaster's forecasts of all its products, as of the store's end."""
        from shopsense.data.demand import demand_view

        registry = self.state.registry
        auto = self.state.settings.auto_activate
        try:
            version = registry.serving(TASK, "demand_forecaster", auto_activate=auto)
        except FileNotFoundError:
            raise NotReady(
                "no demand forecaster yet; run `shopsense pricing forecast` on this store"
            ) from None
        stamp = self.state.data_versions(*ORDER_TABLES)
        with self._lock:
            loaded = self._forecasts
            if loaded is None or loaded["path"] != version.path or loaded["stamp"] != stamp:
                model = registry.load(TASK, version.name, version.version)
                lines = self.state.read_store(order_lines_from_store)
                view = demand_view(lines).select([i for i in model.items_])
                frame = model.predict(view)
                loaded = self._forecasts = {
                    "path": version.path,
                    "stamp": stamp,
                    "label": f"{version.name}/{version.version}",
                    "kind": model.label,
                    "by_item": {k: g for k, g in frame.groupby("item_id", sort=False)},
                }
        return loaded


def desk(request: Request) -> PricingDesk:
    app_state = request.app.state
    if getattr(app_state, "pricing_desk", None) is None:
        app_state.pricing_desk = PricingDesk(app_state.service)
    return app_state.pricing_desk


DeskDep = Annotated[PricingDesk, Depends(desk)]


# ============================================================================ schemas
class ElasticityOut(BaseModel):
    item_id: str
    title: str | None = Field(None, description="the catalogue's title of the product")
    model: str = Field(description="name/version of the elasticity estimate")
    elasticity: float | None = Field(description="used downstream (shrunk to the category)")
    low: float | None = Field(description="90% interval")
    high: float | None
    basis: str = Field(description="own estimate shrunk to its category, or the category's")
    status: str = Field(description="ok, or why the product has no own estimate")
    own_estimate: float | None = None
    category: str | None = None
    periods: int = Field(description="periods with a sale and a known price")
    price_spread: float | None = Field(None, description="std. deviation of log price")


class SuggestionOut(BaseModel):
    item_id: str
    title: str | None = Field(None, description="the catalogue's title of the product")
    status: str
    current_price: float | None = None
    suggested_price: float | None = None
    change: float | None = Field(None, description="relative change, 0.05 = +5%")
    units_now: float | None = Field(None, description="expected units per period now")
    units_new: float | None = Field(None, description="... at the suggested price")
    revenue_now: float | None = None
    revenue_new: float | None = None
    profit_now: float | None = None
    profit_new: float | None = None
    unit_cost: float | None = None
    elasticity: float | None = None
    elasticity_low: float | None = None
    elasticity_high: float | None = None
    elasticity_basis: str | None = Field(
        None, description="own estimate shrunk to its category, or the category's"
    )
    elasticity_borrowed: bool | None = Field(
        None,
        description="true when the product has no elasticity of its own and the one used is "
        "borrowed from its category",
    )
    category: str | None = Field(None, description="the category the elasticity pools over")
    bound_by: str | None = Field(None, description="the rule that held the move back")
    reason: str | None = None


class SuggestIn(BaseModel):
    items: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(
        min_length=1, max_length=500
    )
    objective: Literal["profit", "revenue"] = "profit"
    min_ratio: float = Field(0.7, gt=0, le=1)
    max_ratio: float = Field(1.3, ge=1, le=10)
    max_change: float = Field(0.10, gt=0, le=1)
    margin_floor: float = Field(0.05, ge=0, lt=1)
    cost_share: float = Field(0.5, ge=0, lt=1, description="cost / price where no cost given")
    unit_costs: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict, max_length=500
    )
    min_price: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)
    max_price: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _bounds(self) -> SuggestIn:
        for item, low in self.min_price.items():
            high = self.max_price.get(item)
            if high is not None and high < low:
                raise ValueError(f"max_price of {item!r} is below its min_price")
        return self


class SuggestOut(BaseModel):
    model: str
    suggestions: list[SuggestionOut]


class ForecastDay(BaseModel):
    date: str
    forecast: float
    lo80: float | None = None
    hi80: float | None = None
    lo95: float | None = None
    hi95: float | None = None


class ForecastOut(BaseModel):
    item_id: str
    model: str
    kind: str
    days: list[ForecastDay]


# ============================================================================ routes
_TEXT = ("title", "bound_by", "reason", "category")


def _suggestion(item: str, row: dict[str, Any]) -> SuggestionOut:
    numbers = {
        k: finite(row.get(k))
        for k in SuggestionOut.model_fields
        if k not in ("item_id", "status", "elasticity_basis", "elasticity_borrowed", *_TEXT)
    }
    text = {k: (str(row[k]) if isinstance(row.get(k), str) else None) for k in _TEXT}
    borrowed = row.get("elasticity_borrowed")
    basis = row.get("basis")
    return SuggestionOut(
        item_id=item,
        status=str(row.get("status", "ok")),
        elasticity_basis=basis if isinstance(basis, str) else None,
        elasticity_borrowed=bool(borrowed) if isinstance(borrowed, bool | np.bool_) else None,
        **numbers,
        **text,
    )


@router.get("/elasticity/{item_id}", response_model=ElasticityOut)
async def elasticity(desk: DeskDep, item_id: ItemId) -> ElasticityOut:
    """A product's price elasticity with its 90% interval, or why it has no own estimate."""
    data = await run_in_threadpool(desk.pricing)
    try:
        row = data.model.elasticity(item_id)
    except KeyError:
        raise HTTPException(404, f"item {item_id!r} is not among the priced products") from None
    title = data.titles.get(item_id)
    return ElasticityOut(
        item_id=item_id,
        title=str(title) if title is not None else None,
        model=data.label,
        elasticity=finite(row.get("elasticity")),
        low=finite(row.get("low")),
        high=finite(row.get("high")),
        basis=str(row.get("basis")),
        status=str(row.get("status")),
        own_estimate=finite(row.get("elasticity_own")),
        category=str(row["category"]) if row.get("category") is not None else None,
        periods=int(row.get("periods") or 0),
        price_spread=finite(row.get("price_spread")),
    )


@router.get("/suggestions/{item_id}", response_model=SuggestionOut)
async def suggestion(desk: DeskDep, item_id: ItemId) -> SuggestionOut:
    """Next period's suggested price under the default rules, with its reason."""
    data = await run_in_threadpool(desk.pricing)
    if item_id not in data.suggestions.index:
        raise HTTPException(404, f"item {item_id!r} is not among the priced products")
    return _suggestion(item_id, data.suggestions.loc[item_id].to_dict())


@router.post("/suggest", response_model=SuggestOut)
async def suggest(desk: DeskDep, body: SuggestIn) -> SuggestOut:
    """Suggested prices of `items` under the given rules and costs, each with its reason."""
    data = await run_in_threadpool(desk.pricing)
    unknown = sorted(set(body.items) - set(data.panel.items))
    if unknown:
        raise HTTPException(404, f"not among the priced products: {unknown[:20]}")
    try:
        rules = PriceConstraints(
            min_ratio=body.min_ratio,
            max_ratio=body.max_ratio,
            max_change=body.max_change,
            margin_floor=body.margin_floor,
            min_price=body.min_price,
            max_price=body.max_price,
        )
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    costs = pd.Series(body.unit_costs, dtype=float) if body.unit_costs else None
    frame = await run_in_threadpool(
        suggest_prices,
        data.panel,
        data.model,
        rules,
        unit_cost=costs,
        cost_share=body.cost_share,
        objective=body.objective,
        items=list(dict.fromkeys(body.items)),
    )
    rows = with_titles(frame, data.titles).to_dict(orient="records")
    return SuggestOut(
        model=data.label, suggestions=[_suggestion(str(r["item_id"]), r) for r in rows]
    )


@router.get("/forecast/{item_id}", response_model=ForecastOut)
async def forecast(
    desk: DeskDep,
    item_id: ItemId,
    horizon: Annotated[int | None, Query(ge=1, le=365, description="days; default all")] = None,
) -> ForecastOut:
    """Daily demand forecast of a product from the active forecaster, with intervals when
    the forecaster has them."""
    data = await run_in_threadpool(desk.forecasts)
    frame = data["by_item"].get(item_id)
    if frame is None:
        raise HTTPException(404, f"item {item_id!r} has no forecast (not enough history)")
    if horizon is not None:
        frame = frame[frame["step"] <= horizon]
    days = [
        ForecastDay(
            date=str(pd.Timestamp(r["date"]).date()),
            forecast=float(r["forecast"]),
            **{k: finite(r[k]) for k in ("lo80", "hi80", "lo95", "hi95") if k in r},
        )
        for r in frame.to_dict(orient="records")
    ]
    return ForecastOut(item_id=item_id, model=data["label"], kind=data["kind"], days=days)
