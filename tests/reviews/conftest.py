"""Review data shared by the review tests (loaded once): the shop's own reviews and questions
that ship with the tests (English and Chinese), and small slices of the public corpora
(skipped without them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shopsense.data.sources import load_source
from tests import shop
from tests.public_data import corpus

ASPECT_SAMPLE = Path(__file__).parent / "data" / "aspects_en.csv"


def _load(name: str, table: str) -> pd.DataFrame:
    return load_source(name, corpus(name)).tables[table]


def _balanced(frame: pd.DataFrame, label: np.ndarray, n: int, seed: int) -> pd.DataFrame:
    """n rows, half of each label, drawn with `seed`."""
    rng = np.random.default_rng(seed)
    picks = [rng.choice(np.flatnonzero(label == c), n // 2, replace=False) for c in (0, 1)]
    return frame.iloc[np.sort(np.concatenate(picks))].reset_index(drop=True)


@pytest.fixture(scope="session")
def zh_reviews() -> pd.DataFrame:
    """4,000 Chinese reviews (all categories), half positive, with a `label` column."""
    r = _load("online-shopping-10-cats", "reviews")
    out = _balanced(r, r["rating"].astype(int).to_numpy(), 4000, 1)
    return out.assign(label=out["rating"].astype(int))


@pytest.fixture(scope="session")
def en_reviews() -> pd.DataFrame:
    """4,000 English clothing reviews, half recommended, with a `label` column."""
    r = _load("womens-ecommerce-clothing-reviews", "reviews")
    out = _balanced(r, r["recommended"].astype(int).to_numpy(), 4000, 2)
    return out.assign(label=out["recommended"].astype(int))


@pytest.fixture(scope="session")
def qa_questions() -> pd.DataFrame:
    """The Q&A pairs of 40 appliances."""
    q = _load("amazon-qa-appliances", "questions")
    items = sorted(q["item_id"].unique())[:40]
    return q[q["item_id"].isin(items)].reset_index(drop=True)


@pytest.fixture(scope="session")
def shop_reviews() -> pd.DataFrame:
    """The shop's reviews with a 1-2 or 4-5 star rating, `label` 0/1, both languages."""
    frame = shop.reviews()
    frame = frame[frame["label"].notna()].reset_index(drop=True)
    return frame.assign(label=frame["label"].astype(int), category=frame["item_id"])


@pytest.fixture(scope="session")
def shop_questions() -> pd.DataFrame:
    return shop.questions()


def halves(frame: pd.DataFrame, train: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """First `train` rows of a seeded shuffle for training, the rest for testing."""
    order = np.random.default_rng(0).permutation(len(frame))
    return frame.iloc[order[:train]], frame.iloc[order[train:]]
