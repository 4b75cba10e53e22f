"""Price policies: every constraint holds on every step, the learned policy learns only
from the shop's history, beats the current price and gets closer to the oracle, and the
evaluation is reproducible."""

from dataclasses import replace

import numpy as np
import pytest

from shopsense.pricing.elasticity import ElasticityModel
from shopsense.pricing.policy import (
    BestFixedPrice,
    CurrentPrice,
    Oracle,
    PriceConstraints,
    PriceHistory,
    ThompsonPricer,
    evaluate,
)
from shopsense.pricing.simulator import MarketSimulator

CUT = "2018-03-01"  # the policies start here; the world is fitted on the whole panel


@pytest.fixture(scope="module")
def history(retail_panel):
    past = retail_panel.until(CUT)
    return PriceHistory.fit(past, ElasticityModel(n_boot=400).fit(past))


@pytest.fixture(scope="module")
def sim(retail_panel, retail_elasticity, history):
    return MarketSimulator.fit(
        retail_panel.select(list(history.items)), retail_elasticity, as_of=CUT
    )


RULES = PriceConstraints(min_ratio=0.8, max_ratio=1.25, max_change=0.05, margin_floor=0.3)


class Recorder(ThompsonPricer):
    """Thompson sampling that records the prices it chose."""

    def reset(self, history, grid, rng):
        super().reset(history, grid, rng)
        self.prices = []

    def observe(self, t, prices, units):
        self.prices.append(prices.copy())
        super().observe(t, prices, units)


def test_every_constraint_holds_on_every_step(sim, history):
    recorders = []

    def make():
        recorders.append(Recorder())
        return recorders[-1]

    evaluate(sim, history, {"ts": make}, RULES, horizon=24, seeds=3, progress=False)
    lo, hi, floor = RULES.bounds(sim.items, sim.ref_price.copy(), sim.unit_cost)
    for rec in recorders:
        prices = np.asarray(rec.prices)
        assert (prices >= np.maximum(lo, floor) * (1 - 1e-9)).all()  # min price, margin
        assert (prices <= hi * (1 + 1e-9)).all()
        margin = (prices - sim.unit_cost) / prices
        assert (margin >= RULES.margin_floor - 1e-9).all()
        steps = np.vstack([sim.ref_price, prices])
        change = np.abs(steps[1:] / steps[:-1] - 1)
        assert (change <= RULES.max_change + 1e-9).all()


def test_absolute_bounds_override_the_ratios(sim):
    item = str(sim.items[0])
    rules = PriceConstraints(max_price={item: float(sim.ref_price[0])})
    grid = rules.grid(sim.items, sim.ref_price.copy(), sim.unit_cost)
    assert grid[0].max() == pytest.approx(sim.ref_price[0])
    assert grid[1].max() > sim.ref_price[1]


def test_a_price_below_the_floor_moves_up_towards_it(sim):
    rules = PriceConstraints(margin_floor=0.6)  # cost is half the price: floor is 1.25x
    grid = rules.grid(sim.items, sim.ref_price.copy(), sim.unit_cost)
    _, _, floor = rules.bounds(sim.items, sim.ref_price.copy(), sim.unit_cost)
    feasible = rules.feasible(grid, sim.ref_price, floor)
    assert feasible.sum(axis=1).min() >= 1  # never an empty choice
    chosen = grid[np.arange(len(grid)), feasible.argmax(axis=1)]
    assert (chosen >= floor * (1 - 1e-9)).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"min_ratio": 1.2}, "min_ratio"),
        ({"max_change": 0}, "max_change"),
        ({"margin_floor": 1.0}, "margin_floor"),
        ({"min_price": {"x": -1.0}}, "min_price must be > 0"),
    ],
)
def test_bad_constraints_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PriceConstraints(**kwargs)


def test_the_history_is_not_the_world(sim, history):
    # fitted on the periods before the cut, the shop's estimates differ from the world's
    assert not np.allclose(history.level, sim.level)
    assert not np.allclose(history.elasticity, sim.estimate)
    assert np.allclose(history.ref_price, sim.ref_price)  # today's price is known
    assert history.start == sim.start


def test_the_learned_policy_never_reads_the_world(sim, history):
    """Worlds with other levels, seasons and overdispersion: a learned policy's first
    decision is the same, a yardstick's is not."""
    other = replace(sim, level=sim.level * 3, season=sim.season[::-1].copy(),
                    dispersion=sim.dispersion + 1.0)  # fmt: skip
    first = []
    for world in (sim, other):
        rec = Recorder()
        evaluate(world, history, {"ts": lambda r=rec: r}, PriceConstraints(), horizon=1,
                 seeds=1, progress=False)  # fmt: skip
        first.append(rec.prices[0])
    assert np.array_equal(first[0], first[1])


def test_a_world_of_other_products_is_refused(sim, history):
    fewer = replace(sim, items=sim.items[1:], ref_price=sim.ref_price[1:])
    with pytest.raises(ValueError, match="differ in items"):
        evaluate(fewer, history, {"now": CurrentPrice}, PriceConstraints(), horizon=2, seeds=1)


def test_learned_policy_beats_current_price_and_nears_the_oracle(sim, history):
    policies = {
        CurrentPrice.name: CurrentPrice,
        Oracle.name: Oracle,
        BestFixedPrice.name: lambda: BestFixedPrice(24),
        "thompson": ThompsonPricer,
        "thompson, weak prior": lambda: ThompsonPricer(prior_elasticity=-1.0, prior_scale=1.5),
    }
    ev = evaluate(sim, history, policies, PriceConstraints(), horizon=24, seeds=8, progress=False)
    s = ev.summary().set_index("policy")
    assert s.loc["oracle", "regret"] == pytest.approx(0.0, abs=1e-6)
    assert s.loc["thompson", "profit"] > s.loc["current price", "profit"]
    assert s.loc["thompson", "regret"] < 0.5 * s.loc["current price", "regret"]
    assert s.loc["thompson, weak prior", "regret"] < s.loc["current price", "regret"]
    assert (s["regret"] >= -1e-6).all()  # nobody beats an oracle in expectation
    # regret per period shrinks as the policy learns
    curve = ev.curves[ev.curves["policy"] == "thompson, weak prior"]
    by_t = curve.groupby("period")["regret"].mean()
    assert by_t.iloc[-6:].mean() < by_t.iloc[:6].mean()


def test_evaluation_is_reproducible(sim, history):
    a = evaluate(sim, history, {"ts": ThompsonPricer}, PriceConstraints(), horizon=6, seeds=2,
                 progress=False)  # fmt: skip
    b = evaluate(sim, history, {"ts": ThompsonPricer}, PriceConstraints(), horizon=6, seeds=2,
                 progress=False)  # fmt: skip
    assert a.totals.equals(b.totals)


def test_unknown_objective_is_refused(sim, history):
    with pytest.raises(ValueError, match="objective"):
        ThompsonPricer("margin")
    with pytest.raises(ValueError, match="objective"):
        evaluate(sim, history, {}, PriceConstraints(), objective="margin")
