"""Real price panels shared by the pricing tests: the monthly retail-price panel (52
products) and the weekly panel of the bundled UCI sample's 60 best sellers."""

from __future__ import annotations

from pathlib import Path

import pytest

from shopsense.data.demand import demand_view
from shopsense.data.panel import PricePanel, panel_from_order_lines, read_price_panel
from shopsense.data.sources import load_sample
from shopsense.pricing.elasticity import ElasticityModel
from tests.public_data import corpus


@pytest.fixture(scope="session")
def retail_csv() -> Path:
    return corpus("retail-price-optimization") / "retail-price-optimization" / "retail_price.csv"


@pytest.fixture(scope="session")
def retail_panel(retail_csv: Path) -> PricePanel:
    return read_price_panel(retail_csv)


@pytest.fixture(scope="session")
def sample_lines():
    return load_sample().order_lines_view()


@pytest.fixture(scope="session")
def uci_panel(sample_lines) -> PricePanel:
    view = demand_view(sample_lines)
    return panel_from_order_lines(sample_lines, items=view.top_items(60), view=view)


@pytest.fixture(scope="session")
def retail_elasticity(retail_panel: PricePanel) -> ElasticityModel:
    return ElasticityModel(n_boot=400).fit(retail_panel)
