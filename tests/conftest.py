"""Shared fixtures: real data that ships (the bundled UCI sample) and small public data sets
found under SHOPSENSE_DATA_ROOT (skipped without them; see tests/public_data.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shopsense.config import Settings
from shopsense.data.views import Interactions
from shopsense.eval.splits import Split, leave_last_out
from tests.public_data import corpus


@pytest.fixture(scope="session")
def movielens_root() -> Path:
    return corpus("movielens-100k")


@pytest.fixture(scope="session")
def ml_events(movielens_root: Path) -> pd.DataFrame:
    """MovieLens 100k ratings as an events frame (user_id, item_id, value, timestamp)."""
    frame = pd.read_csv(
        movielens_root / "movielens-100k" / "u.data.gz",
        sep="\t",
        names=["user_id", "item_id", "value", "unix"],
        dtype={"user_id": str, "item_id": str},
    )
    frame["timestamp"] = pd.to_datetime(frame.pop("unix"), unit="s")
    return frame


@pytest.fixture(scope="session")
def ml_items(movielens_root: Path) -> pd.DataFrame:
    """MovieLens 100k catalogue: item_id, title, category (genres joined by '|')."""
    genres = [
        line.split("|")[0]
        for line in (movielens_root / "movielens-100k" / "u.genre").read_text().splitlines()
        if line.strip()
    ]
    raw = pd.read_csv(
        movielens_root / "movielens-100k" / "u.item",
        sep="|",
        header=None,
        encoding="latin-1",
        dtype={0: str},
    )
    flags = raw.iloc[:, 5:24].to_numpy(bool)
    category = ["|".join(g for g, f in zip(genres, row, strict=True) if f) for row in flags]
    return pd.DataFrame({"item_id": raw[0], "title": raw[1], "category": category})


@pytest.fixture(scope="session")
def ml_interactions(ml_events: pd.DataFrame) -> Interactions:
    return Interactions.from_frame(ml_events)


@pytest.fixture(scope="session")
def ml_split(ml_interactions: Interactions) -> Split:
    """Leave-last-out on MovieLens 100k (943 test users, full ranking over 1,682 items)."""
    return leave_last_out(ml_interactions)


@pytest.fixture(scope="session")
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def sample_shop(root: Path) -> Settings:
    """A store at `root` holding the bundled UCI sample, with registry and reports beside it."""
    from shopsense.data.sources import load_sample
    from shopsense.data.store import Store

    settings = Settings(
        store_path=root / "shop.duckdb", models_dir=root / "models", reports_dir=root / "reports"
    )
    data = load_sample()
    with Store(settings.store_path) as store:
        for table, frame in data.tables.items():
            store.write_frame(table, frame, source=data.name)
    return settings
