"""Price policies under business constraints, and how they are judged in the simulator.

`PriceConstraints` turns a shop's rules into a feasible price grid per product and period:
prices within [min, max] (relative to the current price, or absolute per product), a margin
floor over unit cost, and a largest change from one period to the next.

`PriceHistory` is everything a learned policy may read: today's prices, the unit costs and
what the shop's own history says (the elasticity model fitted on it, and its estimates of
each product's level, overdispersion and the seasonal shape). It never holds the simulated
world's true parameters, which only the yardsticks (`Oracle`, `BestFixedPrice`) see.

`ThompsonPricer` is the learned policy: a contextual bandit over that grid. Per product it
keeps a Bayesian log-log demand model, log(units) = a + e * log(p / ref) + log season(t),
whose prior comes from the history (the elasticity estimate and its standard error, the
level estimate).
Each period it draws (a, e) from the posterior, picks the feasible price with the highest
expected profit under the draw, sees the units sold, and updates the posterior (conjugate
normal update: no optimiser, one 2×2 system per product, all products at once). With
`explore=False` it plays the posterior mean instead (certainty-equivalent pricing): the
baseline that shows what exploration buys.

`evaluate` runs policies against the simulator over many seeded worlds and reports revenue,
profit and regret against an oracle that knows the true curves, with intervals over seeds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import stats
from tqdm.auto import tqdm

from shopsense.data.panel import PricePanel
from shopsense.estimator import NotFittedError
from shopsense.pricing.elasticity import ElasticityModel
from shopsense.pricing.simulator import ConstantElasticityCurves, MarketSimulator

OBJECTIVES = ("profit", "revenue")


@dataclass(frozen=True)
class PriceHistory(ConstantElasticityCurves):
    """What a shop knows when its pricing decisions start (arrays aligned with `items`):
    today's prices, its unit costs, and its own estimates from the periods before."""

    items: np.ndarray
    ref_price: np.ndarray
    """Today's price: the last known before the first decision."""
    unit_cost: np.ndarray
    """The shop's unit costs (a shop knows them; default a share of today's price)."""
    elasticity: np.ndarray
    """Elasticity estimated on the history, within the plausible range."""
    elasticity_se: np.ndarray
    """Its standard error."""
    level: np.ndarray
    """Mean units per period at today's price in an average period of the history."""
    dispersion: np.ndarray
    """Overdispersion of the history's units around that curve (Var = mu + phi mu^2)."""
    season: np.ndarray
    """The history's seasonal shape by period of the year (mean 1)."""
    start: int
    """Season position of the first decision (the period after the history)."""

    @classmethod
    def fit(
        cls,
        panel: PricePanel,
        elasticity: ElasticityModel,
        *,
        unit_cost: pd.Series | None = None,
        cost_share: float = 0.5,
        min_periods: int = 4,
    ) -> PriceHistory:
        """The shop's estimates from `panel` (its history) and `elasticity` fitted on that
        same history: the simulator's estimators, run on what the shop has seen."""
        own = MarketSimulator.fit(panel, elasticity, unit_cost=unit_cost,
                                  cost_share=cost_share, min_periods=min_periods)  # fmt: skip
        return cls(own.items, own.ref_price, own.unit_cost, own.elasticity, own.elasticity_se,
                   own.level, own.dispersion, own.season, own.start)  # fmt: skip


@dataclass(frozen=True)
class PriceConstraints:
    """A shop's pricing rules (relative bounds apply where no absolute bound is given)."""

    min_ratio: float = 0.7
    """Lowest price as a share of the current price."""
    max_ratio: float = 1.3
    """Highest price as a share of the current price."""
    max_change: float = 0.10
    """Largest relative change from one period's price to the next (0.10: +-10%)."""
    margin_floor: float = 0.05
    """Smallest margin (price - cost) / price; 0.05 means never below cost / 0.95."""
    grid_size: int = 41
    """Candidate prices per product, log-spaced between the lowest and highest allowed."""
    min_price: dict[str, float] = field(default_factory=dict)
    """Absolute lowest price per item id (overrides `min_ratio`)."""
    max_price: dict[str, float] = field(default_factory=dict)
    """Absolute highest price per item id (overrides `max_ratio`)."""

    def __post_init__(self) -> None:
        if not 0 < self.min_ratio <= 1 <= self.max_ratio:
            raise ValueError(
                f"need 0 < min_ratio <= 1 <= max_ratio, got {self.min_ratio}, {self.max_ratio}"
            )
        if not self.max_change > 0:
            raise ValueError(f"max_change must be > 0, got {self.max_change}")
        if not 0 <= self.margin_floor < 1:
            raise ValueError(f"margin_floor must be in [0, 1), got {self.margin_floor}")
        if self.grid_size < 3:
            raise ValueError(f"grid_size must be >= 3, got {self.grid_size}")
        for name, prices in (("min_price", self.min_price), ("max_price", self.max_price)):
            bad = {k: v for k, v in prices.items() if not v > 0}
            if bad:
                raise ValueError(f"{name} must be > 0; got {bad}")

    def bounds(
        self, items: np.ndarray, ref: np.ndarray, cost: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per item: lowest and highest allowed price, and the margin floor's price."""
        lo = self.min_ratio * ref
        hi = self.max_ratio * ref
        for i, item in enumerate(items):
            lo[i] = self.min_price.get(str(item), lo[i])
            hi[i] = self.max_price.get(str(item), hi[i])
        floor = cost / (1.0 - self.margin_floor)
        return lo, hi, floor

    def grid(self, items: np.ndarray, ref: np.ndarray, cost: np.ndarray) -> np.ndarray:
        """items × grid_size candidate prices; the current price is always one of them."""
        lo, hi, floor = self.bounds(items, ref, cost)
        low = np.maximum(lo, np.minimum(floor, hi))
        high = np.maximum(hi, low)
        steps = np.linspace(0.0, 1.0, self.grid_size)
        grid = np.exp(np.log(low)[:, None] + steps * np.log(high / low)[:, None])
        nearest = np.abs(np.log(grid / ref[:, None])).argmin(axis=1)
        inside = (ref >= low) & (ref <= high)
        grid[inside, nearest[inside]] = ref[inside]
        return grid

    def feasible(self, grid: np.ndarray, previous: np.ndarray, floor: np.ndarray) -> np.ndarray:
        """Mask of the grid prices allowed after `previous`. Where none is (the previous
        price broke the margin floor, say), the allowed prices closest to it are."""
        ratio = grid / previous[:, None]
        step_ok = (ratio <= 1 + self.max_change + 1e-9) & (ratio >= 1 - self.max_change - 1e-9)
        margin_ok = grid >= floor[:, None] * (1 - 1e-9)
        mask = step_ok & margin_ok
        empty = ~mask.any(axis=1)
        if empty.any():
            distance = np.where(margin_ok, np.abs(np.log(ratio)), np.inf)
            closest = distance.argmin(axis=1)
            mask[empty, closest[empty]] = True
        return mask


def expected_objective(
    prices: np.ndarray, units: np.ndarray, cost: np.ndarray, objective: str
) -> np.ndarray:
    """Profit ((price - cost) × units) or revenue of every price of the grid."""
    if objective == "revenue":
        return prices * units
    cost = cost.reshape(cost.shape + (1,) * (prices.ndim - cost.ndim))
    return (prices - cost) * units


# ================================================================================ policies
class Policy:
    """A pricing rule over the grid; `choose` returns grid indices (one per item).

    A policy knows nothing until `reset` gives it the shop's history and the grid, so
    `choose` and `observe` before it raise `NotFittedError` (like a model used before
    `fit`), naming what to call, rather than failing deep inside on a missing attribute.
    """

    name = "policy"
    #: the attribute `reset` sets; present (not None) once an episode has started
    started_attribute: ClassVar[str] = "_grid"

    def reset(self, history: PriceHistory, grid: np.ndarray, rng: np.random.Generator) -> None:
        """Start an episode knowing what the shop knows (`history`) and the price grid."""
        self._grid = grid

    def is_started(self) -> bool:
        """Whether `reset` has run."""
        return getattr(self, self.started_attribute, None) is not None

    def check_started(self) -> None:
        """Raise `NotFittedError` unless `reset` has run."""
        if not self.is_started():
            raise NotFittedError(
                f"the {self.name!r} policy is not fitted: call reset(history, grid, rng) "
                "before choose or observe"
            )

    def choose(self, t: int, feasible: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def observe(self, t: int, prices: np.ndarray, units: np.ndarray) -> None:
        """What the period sold at the chosen prices."""
        self.check_started()


class CurrentPrice(Policy):
    """Keep today's price (the status quo every other policy must beat)."""

    name = "current price"
    started_attribute = "_index"

    def reset(self, history: PriceHistory, grid: np.ndarray, rng: np.random.Generator) -> None:
        self._index = np.abs(np.log(grid / history.ref_price[:, None])).argmin(axis=1)

    def choose(self, t: int, feasible: np.ndarray) -> np.ndarray:
        self.check_started()
        return _closest_feasible(self._index, feasible)


class Yardstick(Policy):
    """A baseline that is shown the world's true curves (`reveal`, before `reset`): what a
    learned policy is measured against, never a policy a shop could run."""

    def reveal(self, world: MarketSimulator) -> None:
        self._world = world

    def _check_revealed(self) -> None:
        if getattr(self, "_world", None) is None:
            raise NotFittedError(
                f"the {self.name!r} yardstick has not been shown a world: call reveal(world) "
                "before reset"
            )


class Oracle(Yardstick):
    """Knows the true curves of the world it plays in; best feasible price every period."""

    name = "oracle"

    def __init__(self, objective: str = "profit") -> None:
        self.objective = objective

    def reset(self, history: PriceHistory, grid: np.ndarray, rng: np.random.Generator) -> None:
        self._check_revealed()
        self._grid = grid

    def choose(self, t: int, feasible: np.ndarray) -> np.ndarray:
        self.check_started()
        units = self._world.expected(self._grid.T, t).T
        value = expected_objective(self._grid, units, self._world.unit_cost, self.objective)
        return np.where(feasible, value, -np.inf).argmax(axis=1)


class BestFixedPrice(Yardstick):
    """The single price per product that earns most over the horizon in this world, known in
    hindsight, approached within the change limit and then kept."""

    name = "best fixed price"
    started_attribute = "_target"

    def __init__(self, horizon: int, objective: str = "profit") -> None:
        self.horizon, self.objective = horizon, objective

    def reset(self, history: PriceHistory, grid: np.ndarray, rng: np.random.Generator) -> None:
        self._check_revealed()
        world = self._world
        season = sum(world.season_at(t) for t in range(self.horizon))
        units = world.expected(grid.T, 0).T * (season / world.season_at(0))
        value = expected_objective(grid, units, world.unit_cost, self.objective)
        self._target = value.argmax(axis=1)

    def choose(self, t: int, feasible: np.ndarray) -> np.ndarray:
        self.check_started()
        return _closest_feasible(self._target, feasible)


class ThompsonPricer(Policy):
    """Thompson sampling over the price grid with a Bayesian log-log demand model per item
    (see the module docstring). The prior is the history's elasticity estimate with its
    standard error times `prior_scale`; `explore=False` plays the posterior mean. It reads
    only the `PriceHistory` and what it observes."""

    def __init__(
        self,
        objective: str = "profit",
        *,
        explore: bool = True,
        prior_scale: float = 1.0,
        prior_elasticity: float | None = None,
    ) -> None:
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        self.objective = objective
        self.explore = explore
        self.prior_scale = prior_scale
        self.prior_elasticity = prior_elasticity
        kind = "thompson sampling" if explore else "greedy (posterior mean)"
        prior = "history prior" if prior_elasticity is None else "weak prior"
        self.name = f"{kind}, {prior}"

    def reset(self, history: PriceHistory, grid: np.ndarray, rng: np.random.Generator) -> None:
        self._rng, self._grid, self._history = rng, grid, history
        n = history.n_items
        if self.prior_elasticity is None:
            e0, e_sd = history.elasticity, history.elasticity_se * self.prior_scale
        else:
            e0, e_sd = np.full(n, self.prior_elasticity), np.full(n, self.prior_scale)
        # log-units noise of the negative binomial at the history's demand level
        mu = np.maximum(history.level, 0.5)
        self._noise = np.log1p(1.0 / mu + history.dispersion)
        mean = np.stack([np.log(mu), e0], axis=1)
        var = np.stack([np.full(n, 1.0), np.maximum(e_sd, 0.05) ** 2], axis=1)
        self._precision = np.zeros((n, 2, 2))
        self._precision[:, 0, 0], self._precision[:, 1, 1] = 1.0 / var[:, 0], 1.0 / var[:, 1]
        self._shift = np.einsum("nij,nj->ni", self._precision, mean)

    def posterior(self) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean (items × 2: log level, elasticity) and covariance (items × 2 × 2)."""
        self.check_started()
        cov = np.linalg.inv(self._precision)
        return np.einsum("nij,nj->ni", cov, self._shift), cov

    def choose(self, t: int, feasible: np.ndarray) -> np.ndarray:
        mean, cov = self.posterior()
        if self.explore:
            chol = np.linalg.cholesky(cov)
            draw = mean + np.einsum("nij,nj->ni", chol, self._rng.standard_normal(mean.shape))
        else:
            draw = mean
        h = self._history
        log_rel = np.log(self._grid / h.ref_price[:, None])
        units = np.exp(
            draw[:, :1] + draw[:, 1:] * log_rel + np.log(h.season_at(t)) + self._noise[:, None] / 2
        )
        value = expected_objective(self._grid, units, h.unit_cost, self.objective)
        return np.where(feasible, value, -np.inf).argmax(axis=1)

    def observe(self, t: int, prices: np.ndarray, units: np.ndarray) -> None:
        self.check_started()
        h = self._history
        x = np.stack([np.ones_like(prices), np.log(prices / h.ref_price)], axis=1)
        y = np.log(np.maximum(units, 0.5)) - np.log(h.season_at(t))
        w = 1.0 / self._noise
        self._precision += w[:, None, None] * x[:, :, None] * x[:, None, :]
        self._shift += (w * y)[:, None] * x


def _closest_feasible(target: np.ndarray, feasible: np.ndarray) -> np.ndarray:
    """Per item the feasible grid index nearest the target index."""
    idx = np.arange(feasible.shape[1])
    distance = np.where(feasible, np.abs(idx[None, :] - target[:, None]), np.iinfo(np.int64).max)
    return distance.argmin(axis=1)


# ============================================================================== evaluation
@dataclass
class Evaluation:
    """Per policy and seed totals, and per-period mean regret for the learning curve."""

    totals: pd.DataFrame
    """policy, seed, revenue, profit, regret (expected profit short of the oracle's)."""
    curves: pd.DataFrame
    """policy, seed, period, regret (that period's expected shortfall against the oracle)."""

    def summary(self, confidence: float = 0.95) -> pd.DataFrame:
        """Mean over seeds with a t-interval, and the ratio to the current price's totals."""
        t = self.totals
        base = t[t["policy"] == CurrentPrice.name].set_index("seed")
        rows = []
        for policy, g in t.groupby("policy", sort=False):
            g = g.set_index("seed")
            row: dict[str, object] = {"policy": policy, "seeds": len(g)}
            for col in ("revenue", "profit", "regret"):
                mean, half = _mean_interval(g[col].to_numpy(), confidence)
                row[col], row[f"{col}_ci"] = mean, half
            lift = g["profit"] / base["profit"].reindex(g.index) - 1.0
            row["profit_vs_current"], row["profit_vs_current_ci"] = _mean_interval(
                lift.to_numpy(), confidence
            )
            rows.append(row)
        return pd.DataFrame(rows)


def _mean_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return float(np.mean(values)) if len(values) else float("nan"), float("nan")
    half = stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * stats.sem(values)
    return float(values.mean()), float(half)


def evaluate(
    sim: MarketSimulator,
    history: PriceHistory,
    policies: dict[str, Callable[[], Policy]],
    constraints: PriceConstraints,
    *,
    horizon: int = 52,
    seeds: int = 20,
    objective: str = "profit",
    progress: bool | None = None,
) -> Evaluation:
    """Play every policy for `horizon` periods in `seeds` simulated worlds.

    Learned policies start from `history` (what the shop knew; the same items, today's
    prices and costs as `sim`), yardsticks are shown each world's true curves. Each seed
    draws one world (elasticities from their uncertainty) and one demand-noise stream per
    policy, the same for all policies (common random numbers). Regret is the
    oracle's expected profit minus the expected profit of the prices a policy chose, so it
    measures the decisions rather than the luck of the draws.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    _check_same_shop(sim, history)
    totals, curves = [], []
    grid = constraints.grid(history.items, history.ref_price.copy(), history.unit_cost)
    _, _, floor = constraints.bounds(history.items, history.ref_price.copy(), history.unit_cost)
    bar = tqdm(total=seeds * len(policies), desc="policies × seeds", disable=progress is False)
    for seed in range(seeds):
        world = sim.world(np.random.default_rng([seed, 0]))
        oracle_value = _oracle_values(world, history, grid, floor, constraints, horizon,
                                      objective)  # fmt: skip
        for label, make in policies.items():
            policy = make()
            if isinstance(policy, Yardstick):
                policy.reveal(world)
            policy.reset(history, grid, np.random.default_rng([seed, 1]))
            noise = np.random.default_rng([seed, 2])
            previous = world.ref_price.copy()
            revenue = profit = 0.0
            regret = np.zeros(horizon)
            for t in range(horizon):
                feasible = constraints.feasible(grid, previous, floor)
                chosen = policy.choose(t, feasible)
                prices = grid[np.arange(world.n_items), chosen]
                units = world.sample(prices, t, noise)
                policy.observe(t, prices, units)
                revenue += float(prices @ units)
                profit += float((prices - world.unit_cost) @ units)
                value = expected_objective(prices, world.expected(prices, t), world.unit_cost,
                                           objective)  # fmt: skip
                regret[t] = oracle_value[t] - value.sum()
                previous = prices
            totals.append(
                {"policy": label, "seed": seed, "revenue": revenue, "profit": profit,
                 "regret": float(regret.sum())}
            )  # fmt: skip
            curve = {"policy": label, "seed": seed, "period": np.arange(horizon)}
            curves.append(pd.DataFrame({**curve, "regret": regret}))
            bar.update()
    bar.close()
    return Evaluation(pd.DataFrame(totals), pd.concat(curves, ignore_index=True))


def _check_same_shop(sim: MarketSimulator, history: PriceHistory) -> None:
    """The world and the history must describe the same products, today's prices and costs
    (fit the simulator on `history.items` with `as_of` where the history ends)."""
    same = (
        np.array_equal(sim.items.astype(str), history.items.astype(str))
        and np.allclose(sim.ref_price, history.ref_price)
        and np.allclose(sim.unit_cost, history.unit_cost)
    )
    if not same:
        raise ValueError(
            f"the simulator ({sim.n_items} items) and the history ({history.n_items} items) "
            "differ in items, today's prices or costs; fit the simulator on the history's "
            "items with as_of = the first period after the history"
        )


def _oracle_values(
    world: MarketSimulator,
    history: PriceHistory,
    grid: np.ndarray,
    floor: np.ndarray,
    constraints: PriceConstraints,
    horizon: int,
    objective: str,
) -> np.ndarray:
    """The oracle's expected objective per period (summed over items)."""
    oracle = Oracle(objective)
    oracle.reveal(world)
    oracle.reset(history, grid, np.random.default_rng(0))
    previous = world.ref_price.copy()
    out = np.zeros(horizon)
    for t in range(horizon):
        chosen = oracle.choose(t, constraints.feasible(grid, previous, floor))
        prices = grid[np.arange(world.n_items), chosen]
        out[t] = expected_objective(prices, world.expected(prices, t), world.unit_cost,
                                    objective).sum()  # fmt: skip
        previous = prices
    return out
