"""Fixtures of the image tests: real Fashion-MNIST slices and a model trained once."""

from __future__ import annotations

import pytest

from shopsense.images.model import ImageClassifier
from tests.images.shop import TINY, sample


@pytest.fixture(scope="session")
def train_set():
    return sample("train", 3000, seed=0)


@pytest.fixture(scope="session")
def test_set():
    return sample("test", 1000, seed=0)


@pytest.fixture(scope="session")
def fitted(train_set) -> ImageClassifier:
    return ImageClassifier(**TINY).fit(train_set)
