"""A shop to serve: the bundled sample in a store, and trained models in a registry.

Built once per test session (a few seconds): EASE twice (two versions, for activation and
rollback), item-kNN, BPR (a model that cannot fold in new histories), an RFM customer
segmentation, sentiment, image and pricing models; the version of each model but the
recommenders is recorded as active, as a service that served it would.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shopsense import workflows
from shopsense.behavior import workflows as behavior
from shopsense.config import Settings
from shopsense.data.sources import load_sample, load_source
from shopsense.data.store import Store
from shopsense.images import workflows as images
from shopsense.pricing import workflows as pricing
from shopsense.registry import Registry
from shopsense.reviews import workflows as reviews
from shopsense.serve.app import create_app
from tests import shop as test_shop
from tests.public_data import SHIPPED

KEY = "test-key-0123456789"


def sample_shop(root: Path) -> Settings:
    """Settings for a shop under `root` holding the bundled sample and one EASE model."""
    settings = Settings(
        store_path=root / "shop.duckdb",
        models_dir=root / "models",
        reports_dir=root / "reports",
        api_keys=[KEY],
        default_model="ease",
        threads=1,
    )
    data = load_sample()
    with Store(settings.store_path) as store:
        for table, frame in data.tables.items():
            store.write_frame(table, frame, source=data.name)
    workflows.train(settings, "ease", {"l2": 100.0})
    return settings


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Store + registry built once; tests that write get their own copy (`fresh_shop`)."""
    settings = sample_shop(tmp_path_factory.mktemp("shop"))
    workflows.train(settings, "ease", {"l2": 400.0})
    workflows.train(settings, "itemknn")
    workflows.train(settings, "bpr", {"epochs": 5, "factors": 16})
    workflows.evaluate_models(settings, ["popular", "ease"], progress=False)
    behavior.segment(settings, method="rfm")
    with Store(settings.store_path) as store:  # the test shop's own reviews and questions
        written = test_shop.reviews().drop(columns="label")
        store.write_frame("reviews", written, source="shop reviews")
        store.write_frame("questions", test_shop.questions(), source="shop questions")
    reviews.train(settings, language="en")
    photos = load_source("fashion-mnist", SHIPPED).tables["images"].sample(600, random_state=0)
    with Store(settings.store_path) as store:  # some real product photos
        store.write_frame("images", photos, source="fashion-mnist slice")
    tiny = {"widths": [8, 16, 32], "epochs": 2, "batch_size": 64, "threads": 1}
    images.train(settings, params=tiny, test_size=0.2)
    pricing.elasticity(settings, top=40, params={"n_boot": 100})
    pricing.forecast(settings, kind="ets", horizon=14, top=10)
    registry = Registry(settings.models_dir)
    for task in set(registry.tasks()) - {"recommend"}:  # as once served, so no test
        for name in sorted({v.name for v in registry.versions(task)}):  # depends on order
            registry.serving(task, name)
    return settings


@pytest.fixture()
def fresh_shop(shop: Settings, tmp_path: Path) -> Settings:
    """A private copy of the shop for tests that write events or activate versions."""
    shutil.copy(shop.store_path, tmp_path / "shop.duckdb")
    shutil.copytree(shop.models_dir, tmp_path / "models")
    shutil.copytree(shop.reports_dir, tmp_path / "reports")
    return shop.model_copy(
        update={
            "store_path": tmp_path / "shop.duckdb",
            "models_dir": tmp_path / "models",
            "reports_dir": tmp_path / "reports",
        }
    )


@pytest.fixture()
def client(fresh_shop: Settings) -> TestClient:
    with TestClient(create_app(fresh_shop), raise_server_exceptions=False) as c:
        yield c
