"""A market simulator fitted on the shop's own price panel: where price policies are tried
before a single real price changes.

Per product i and period t, demand at price p is negative-binomial with mean

    mu_i(t, p) = level_i * season(t) * (p / ref_i) ** e_i

- `ref_i` is the product's current price and `e_i` its elasticity (`ElasticityModel`);
- `season(t)` is the shop's own seasonal shape: its total units per period, lightly smoothed
  and scaled to mean 1, repeating after the panel's length (a year of weekly data);
- `level_i` is chosen so that, replayed at the prices the product actually had, the
  simulator's mean demand equals the observed mean demand (a ratio estimator);
- the noise's overdispersion (Var = mu + phi * mu^2) is the product's own, measured on the
  residuals of that replay.

The elasticity is the least certain of these, so a seed does not only draw noise: `world(rng)`
draws every product's elasticity from its estimate's sampling distribution (normal with the
estimate's standard error, kept within plausible bounds), and a policy is judged across many
such worlds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from shopsense.data.panel import PricePanel
from shopsense.pricing.elasticity import ElasticityModel

ELASTICITY_BOUNDS = (-6.0, -0.2)
"""Elasticities a simulated world may have: negative (demand falls with price) and not
absurdly steep. Estimates outside are clipped; they are noise or confounding."""


class ConstantElasticityCurves:
    """Per-item demand curves units = level · season(t) · (price / ref_price)^elasticity,
    shared by the simulated market (its truth) and a shop's estimate of it (its history).
    Subclasses hold `items`, `ref_price`, `level`, `elasticity`, `season` and `start`."""

    items: np.ndarray
    ref_price: np.ndarray
    level: np.ndarray
    elasticity: np.ndarray
    season: np.ndarray
    start: int

    @property
    def n_items(self) -> int:
        return len(self.items)

    def season_at(self, t: int) -> float:
        """Seasonal factor of period t (0 = the first period after the history)."""
        return float(self.season[(self.start + t) % len(self.season)])

    def expected(self, prices: np.ndarray, t: int) -> np.ndarray:
        """Mean units at `prices` (items, or ... × items) in period t."""
        return self.level * self.season_at(t) * (prices / self.ref_price) ** self.elasticity


@dataclass(frozen=True)
class MarketSimulator(ConstantElasticityCurves):
    """Demand curves of `items` (arrays aligned with it); see the module docstring."""

    items: np.ndarray
    ref_price: np.ndarray
    unit_cost: np.ndarray
    level: np.ndarray
    elasticity: np.ndarray
    elasticity_se: np.ndarray
    dispersion: np.ndarray
    season: np.ndarray
    estimate: np.ndarray
    """The elasticities the simulator was fitted with, the centre its worlds are drawn
    around; `elasticity` is the truth of this simulated world, which `world` redraws. A
    policy reads neither: it learns from a `PriceHistory` (`shopsense.pricing.policy`)."""
    start: int = 0
    """Season position of the first simulated period (the period after the panel)."""

    @classmethod
    def fit(
        cls,
        panel: PricePanel,
        elasticity: ElasticityModel,
        *,
        unit_cost: pd.Series | None = None,
        cost_share: float = 0.5,
        min_periods: int = 4,
        as_of: str | pd.Timestamp | None = None,
    ) -> MarketSimulator:
        """Fit the curves of every product with at least `min_periods` periods.

        `unit_cost` (item_id -> cost) comes from the shop; without it a product's cost is
        `cost_share` of its current price (the data sets here have no costs). `as_of` is
        when the simulated periods begin (default: the period after the panel): today's
        price is the one known before it and the season starts there, while the curves are
        fitted on the whole panel, so the world knows periods a policy starting at `as_of`
        has not seen.
        """
        table = elasticity._table()
        before = panel if as_of is None else panel.until(as_of)
        today = before.current_prices()
        frame = panel.frame[panel.frame["item_id"].isin(table.index)]
        counts = frame.groupby("item_id", sort=False).size()
        keep = counts.index[(counts >= min_periods) & counts.index.isin(today.index)]
        if len(keep) == 0:
            raise ValueError(
                f"{panel.source}: no product has {min_periods} periods with a known price; "
                "a demand curve needs more history"
            )
        frame = frame[frame["item_id"].isin(keep)]
        items = np.asarray(keep, dtype=object)
        ref = today.reindex(items).to_numpy(float)
        e = table.loc[items, "elasticity"].to_numpy(float)
        e = np.clip(np.nan_to_num(e, nan=-1.5), *ELASTICITY_BOUNDS)
        se = np.nan_to_num(table.loc[items, "se"].to_numpy(float), nan=1.0)
        season, position = _season(panel)
        code = pd.Index(items).get_indexer(frame["item_id"])
        s_t = season[position.reindex(frame["period"]).to_numpy()]
        rel = (frame["price"].to_numpy(float) / ref[code]) ** e[code]
        units = frame["units"].to_numpy(float)
        shape = s_t * rel
        level = np.bincount(code, units, len(items)) / np.bincount(code, shape, len(items))
        mu = level[code] * shape
        excess = np.bincount(code, (units - mu) ** 2 - mu, len(items))
        phi = np.clip(excess / np.maximum(np.bincount(code, mu**2, len(items)), 1e-9), 0.0, 5.0)
        if unit_cost is not None:
            cost = unit_cost.reindex(items).to_numpy(float)
            cost = np.where(np.isfinite(cost), cost, cost_share * ref)
        else:
            cost = cost_share * ref
        last = pd.DatetimeIndex([before.frame["period"].max()])
        step = pd.DateOffset(weeks=1) if panel.freq == "W" else pd.DateOffset(months=1)
        start = int(period_of_year(last + step, panel.freq)[0])
        return cls(items, ref, cost, level, e, se, phi, season, e.copy(), start)

    def sample(self, prices: np.ndarray, t: int, rng: np.random.Generator) -> np.ndarray:
        """Units sold at `prices` in period t: gamma-Poisson (negative binomial) draws."""
        mu = self.expected(prices, t)
        phi = np.maximum(self.dispersion, 1e-6)
        rate = rng.gamma(1.0 / phi, mu * phi)
        return rng.poisson(rate).astype(float)

    def world(self, rng: np.random.Generator) -> MarketSimulator:
        """A plausible world: every elasticity drawn from its estimate's uncertainty. The
        curves pivot around the current price: demand there is the same in every world."""
        e = np.clip(rng.normal(self.elasticity, self.elasticity_se), *ELASTICITY_BOUNDS)
        return replace(self, elasticity=e)

    def replay(self, panel: PricePanel) -> pd.DataFrame:
        """Expected units at the prices each product actually had, next to the observed
        units: how well the fitted curves reproduce the data."""
        frame = panel.frame[panel.frame["item_id"].isin(set(self.items))]
        code = pd.Index(self.items).get_indexer(frame["item_id"])
        _, position = _season(panel)
        s_t = self.season[position.reindex(frame["period"]).to_numpy()]
        rel = (frame["price"].to_numpy(float) / self.ref_price[code]) ** self.elasticity[code]
        return pd.DataFrame(
            {
                "item_id": frame["item_id"].to_numpy(),
                "period": frame["period"].to_numpy(),
                "price": frame["price"].to_numpy(float),
                "observed": frame["units"].to_numpy(float),
                "expected": self.level[code] * s_t * rel,
            }
        )


def _season(panel: PricePanel) -> tuple[np.ndarray, pd.Series]:
    """The shop's seasonal shape (mean 1) by period of the year, and each panel period's
    position in it.

    The shape is the mean units per product on sale in the period (not the total: a
    catalogue that grows would look like a rising season), averaged over the years the
    panel covers, smoothed by a circular moving average of three periods; periods of the
    year the panel never saw are interpolated from their neighbours.
    """
    periods = pd.DatetimeIndex(sorted(pd.unique(panel.frame["period"])))
    position = pd.Series(period_of_year(periods, panel.freq), index=periods)
    per_product = panel.frame.groupby("period")["units"].mean().reindex(periods)
    length = 52 if panel.freq == "W" else 12
    raw = per_product.groupby(position.to_numpy()).mean().reindex(range(length))
    values = raw.to_numpy(float)
    values = np.where(values > 0, values, np.nan)
    if np.isnan(values).all():
        return np.ones(length), position
    tiled = pd.Series(np.concatenate([values, values, values]))
    filled = tiled.interpolate(limit_direction="both").to_numpy()[length : 2 * length]
    wrapped = np.concatenate([filled[-1:], filled, filled[:1]])
    smooth = np.convolve(wrapped, np.ones(3) / 3.0, mode="valid")
    return smooth / smooth.mean(), position


def period_of_year(periods: pd.DatetimeIndex, freq: str) -> np.ndarray:
    """0-based week of the year (0..51; ISO week 53 folds into 51) or month (0..11)."""
    if freq == "W":
        return np.minimum(periods.isocalendar().week.to_numpy(int) - 1, 51)
    return periods.month.to_numpy(int) - 1
