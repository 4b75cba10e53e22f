"""The fixed, published train/validation/test split of a review corpus.

Neither review corpus ships a split, so every model in shopsense (and every number in the
benchmark) uses this one: rows in the loader's order (the record order of the file),
stratified by category and label so each part has the same mix, drawn with `SPLIT_SEED`.
70% train, 10% validation (early stopping, tuning), 20% test (reported once).

    >>> split = split_reviews(labels, categories)       # doctest: +SKIP
    >>> split.train, split.val, split.test              # sorted row positions
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

SPLIT_SEED = 20_240_601
TEST_SIZE = 0.2
VAL_SIZE = 0.1


@dataclass(frozen=True)
class ReviewSplit:
    """Row positions of each part, sorted."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def split_reviews(
    labels: Sequence[object],
    categories: Sequence[object] | None = None,
    *,
    test_size: float = TEST_SIZE,
    val_size: float = VAL_SIZE,
    seed: int = SPLIT_SEED,
) -> ReviewSplit:
    """Stratified (category x label) split of n rows into train / val / test positions.

    Strata too small to be split (fewer than 2 rows in a part) are merged into one "rare"
    stratum, so a one-off category does not make the split fail.
    """
    n = len(labels)
    if not 0 < test_size < 1 or not 0 <= val_size < 1 or test_size + val_size >= 1:
        raise ValueError("need 0 < test_size, 0 <= val_size and test_size + val_size < 1")
    if n < 10:
        raise ValueError(f"{n} rows are too few to split")
    cats = ["" for _ in range(n)] if categories is None else [str(c) for c in categories]
    strata = np.array([f"{c}|{y}" for c, y in zip(cats, labels, strict=True)], dtype=object)
    values, counts = np.unique(strata, return_counts=True)
    small = set(values[counts < 10])
    strata = np.array(["<rare>" if s in small else s for s in strata], dtype=object)
    positions = np.arange(n)
    rest, test = train_test_split(
        positions, test_size=test_size, random_state=seed, stratify=_strata(strata)
    )
    val = np.array([], dtype=np.int64)
    if val_size > 0:
        share = val_size / (1 - test_size)
        rest, val = train_test_split(
            rest, test_size=share, random_state=seed + 1, stratify=_strata(strata[rest])
        )
    return ReviewSplit(np.sort(rest), np.sort(val), np.sort(test))


def _strata(strata: np.ndarray) -> np.ndarray | None:
    """Strata for sklearn, or None when one of them is too small to stratify on."""
    _, counts = np.unique(strata, return_counts=True)
    return strata if counts.min() >= 2 else None
