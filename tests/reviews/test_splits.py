"""The published split: fixed, stratified, disjoint, covering every row."""

from __future__ import annotations

import numpy as np
import pytest

from shopsense.reviews.splits import split_reviews


def test_split_is_stratified_disjoint_and_reproducible() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 5000)
    cats = rng.choice(["a", "b", "c", "rare"], 5000, p=[0.5, 0.3, 0.198, 0.002])
    s = split_reviews(labels, cats)
    parts = np.concatenate([s.train, s.val, s.test])
    assert sorted(parts.tolist()) == list(range(5000))
    assert s.sizes() == {"train": 3500, "val": 500, "test": 1000}
    for c in ("a", "b"):
        share = [np.mean(cats[p] == c) for p in (s.train, s.val, s.test)]
        assert max(share) - min(share) < 0.01
    again = split_reviews(labels, cats)
    np.testing.assert_array_equal(again.test, s.test)
    other = split_reviews(labels, cats, seed=1)
    assert not np.array_equal(other.test, s.test)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="too few"):
        split_reviews([0, 1, 0])
    with pytest.raises(ValueError, match="test_size"):
        split_reviews([0, 1] * 10, test_size=0.9, val_size=0.2)
