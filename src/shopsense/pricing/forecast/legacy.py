"""Forecasters saved before each kind had its own class: their model.json names the kind
"demand_forecaster" and says in "kind" which forecaster it was ("seasonal_naive", "ets",
"lstm", "gru"). They still load, into today's class for that forecaster, with the same
forecasts."""

from __future__ import annotations

from pathlib import Path

from shopsense.estimator import register
from shopsense.pricing.forecast.base import REGISTRY_NAME, Forecaster, saved_meta
from shopsense.pricing.forecast.ets import ETS
from shopsense.pricing.forecast.recurrent import RecurrentForecaster
from shopsense.pricing.forecast.seasonal_naive import SeasonalNaive

CLASSES: tuple[type[Forecaster], ...] = (SeasonalNaive, ETS, RecurrentForecaster)


@register(REGISTRY_NAME)
class SavedForecaster:
    """Reads an earlier version's forecaster folder; it fits nothing and saves nothing (a
    model it loads saves under its own class's kind)."""

    name = REGISTRY_NAME
    reads_only = True

    @classmethod
    def load(cls, path: str | Path) -> Forecaster:
        """The forecaster saved in `path`, as an instance of today's class for its kind."""
        path = Path(path)
        meta = saved_meta(path)
        kind = meta.get("kind")
        for forecaster in CLASSES:
            if kind in forecaster.legacy_kinds:
                return forecaster.load(path)
        known = [k for c in CLASSES for k in c.legacy_kinds]
        raise ValueError(f"{path}: forecaster kind {kind!r} is not one of {known}")
