"""One contract over every price policy: unusable before `reset` (NotFittedError naming what
to call), feasible choices after it, and the same seed gives the same choices."""

from __future__ import annotations

import numpy as np
import pytest

from shopsense.estimator import NotFittedError
from shopsense.pricing import policy as policies
from shopsense.pricing.elasticity import ElasticityModel
from shopsense.pricing.policy import Policy, PriceConstraints, PriceHistory, Yardstick
from shopsense.pricing.simulator import MarketSimulator
from shopsense.pricing.workflows import policy_suite

CUT = "2018-03-01"
SUITE = policy_suite(horizon=6)
RULES = PriceConstraints()


@pytest.fixture(scope="module")
def shop(retail_panel, retail_elasticity):
    past = retail_panel.until(CUT)
    history = PriceHistory.fit(past, ElasticityModel(n_boot=100).fit(past))
    world = MarketSimulator.fit(
        retail_panel.select(list(history.items)), retail_elasticity, as_of=CUT
    )
    grid = RULES.grid(history.items, history.ref_price.copy(), history.unit_cost)
    _, _, floor = RULES.bounds(history.items, history.ref_price.copy(), history.unit_cost)
    return history, world, grid, RULES.feasible(grid, history.ref_price, floor)


def _started(make, shop, seed=0) -> Policy:
    history, world, grid, _ = shop
    policy = make()
    if isinstance(policy, Yardstick):
        policy.reveal(world)
    policy.reset(history, grid, np.random.default_rng(seed))
    return policy


def test_the_suite_holds_every_policy_of_the_module():
    concrete = {
        cls
        for cls in vars(policies).values()
        if isinstance(cls, type) and issubclass(cls, Policy) and cls not in (Policy, Yardstick)
    }
    assert {type(make()) for make in SUITE.values()} == concrete


@pytest.mark.parametrize("label", sorted(SUITE))
def test_a_policy_before_reset_says_so(label, shop):
    history, _, _, feasible = shop
    policy = SUITE[label]()
    assert not policy.is_started()
    with pytest.raises(NotFittedError, match=r"not fitted: call reset\(history, grid, rng\)"):
        policy.choose(0, feasible)
    with pytest.raises(NotFittedError, match="reset"):
        policy.observe(0, history.ref_price, np.ones(history.n_items))


@pytest.mark.parametrize("label", sorted(SUITE))
def test_a_started_policy_chooses_feasible_prices_and_learns(label, shop):
    history, _, grid, feasible = shop
    policy = _started(SUITE[label], shop)
    assert policy.is_started()
    chosen = policy.choose(0, feasible)
    assert chosen.shape == (history.n_items,)
    assert feasible[np.arange(history.n_items), chosen].all()
    prices = grid[np.arange(history.n_items), chosen]
    policy.observe(0, prices, np.full(history.n_items, 3.0))
    assert policy.choose(1, feasible).shape == (history.n_items,)


@pytest.mark.parametrize("label", sorted(SUITE))
def test_the_same_seed_gives_the_same_choices(label, shop):
    *_, feasible = shop
    a, b = _started(SUITE[label], shop, seed=3), _started(SUITE[label], shop, seed=3)
    np.testing.assert_array_equal(a.choose(0, feasible), b.choose(0, feasible))


@pytest.mark.parametrize("label", [k for k in sorted(SUITE) if isinstance(SUITE[k](), Yardstick)])
def test_a_yardstick_must_be_shown_its_world_first(label, shop):
    history, _, grid, _ = shop
    with pytest.raises(NotFittedError, match=r"reveal\(world\)"):
        SUITE[label]().reset(history, grid, np.random.default_rng(0))
