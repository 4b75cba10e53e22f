"""Catalogue check: photos whose listed category the classifier confidently disputes.

A mislabelled product (a sneaker listed under sandals) hides from shoppers who filter by
category. The check classifies every photo and flags the items where the predicted
category differs from the listed one with probability >= `min_confidence`; a person then
reviews the flags, most confident first. `plant_mislabels` + `flag_quality` measure how
well the check works: relabel a known share of items, run the check, count hits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from shopsense.data.images import ImageSet


def check_catalogue(model: object, view: ImageSet, *, min_confidence: float = 0.9) -> pd.DataFrame:
    """Every labelled image whose prediction disagrees with its listed category with at
    least `min_confidence`, most confident first.

    Columns: item_id, listed, predicted, confidence (of the predicted category),
    listed_probability (what the model gives the listed category)."""
    if not 0 < min_confidence <= 1:
        raise ValueError(f"min_confidence must be in (0, 1], not {min_confidence}")
    labelled = view.subset(view.labelled)
    classes = np.asarray(model.classes_, dtype=object)  # type: ignore[attr-defined]
    proba = model.predict_proba(labelled)  # type: ignore[attr-defined]
    listed = labelled.labels.astype(str)
    known = np.isin(listed, classes)
    col = {c: i for i, c in enumerate(classes)}
    listed_idx = np.array([col.get(v, -1) for v in listed])
    pred_idx = proba.argmax(axis=1)
    conf = proba[np.arange(len(proba)), pred_idx]
    listed_p = np.where(known, proba[np.arange(len(proba)), np.maximum(listed_idx, 0)], np.nan)
    flag = known & (pred_idx != listed_idx) & (conf >= min_confidence)
    out = pd.DataFrame(
        {
            "item_id": labelled.item_ids[flag],
            "listed": listed[flag],
            "predicted": classes[pred_idx[flag]],
            "confidence": conf[flag].astype(float),
            "listed_probability": listed_p[flag].astype(float),
        }
    )
    return out.sort_values("confidence", ascending=False, ignore_index=True)


def plant_mislabels(
    view: ImageSet, share: float, *, random_state: int = 0
) -> tuple[ImageSet, np.ndarray]:
    """A copy of `view` with `share` of its labelled images moved to another (random)
    category, and the item ids that were moved."""
    if not 0 < share < 1:
        raise ValueError(f"share must be in (0, 1), not {share}")
    rng = np.random.default_rng(random_state)
    labels = view.labels.copy()
    rows = np.flatnonzero(view.labelled)
    classes = np.unique(labels[rows].astype(str))
    pick = rng.choice(rows, size=max(1, round(share * len(rows))), replace=False)
    for r in pick:
        others = classes[classes != str(labels[r])]
        labels[r] = str(rng.choice(others))
    return view.with_labels(labels), view.item_ids[pick]


@dataclass(frozen=True)
class FlagQuality:
    """How the flags of a check match the items known to be mislabelled."""

    flagged: int
    planted: int
    hits: int

    @property
    def precision(self) -> float:
        return self.hits / self.flagged if self.flagged else 0.0

    @property
    def recall(self) -> float:
        return self.hits / self.planted if self.planted else 0.0

    def to_dict(self) -> dict[str, float]:
        return {
            "flagged": self.flagged,
            "planted": self.planted,
            "hits": self.hits,
            "precision": self.precision,
            "recall": self.recall,
        }


def flag_quality(flags: pd.DataFrame, planted: np.ndarray) -> FlagQuality:
    """Precision and recall of `flags` (a `check_catalogue` frame) against the planted ids.

    A flag on an item that was NOT planted is not necessarily wrong: the source data has its
    own mislabels, so precision here is a lower bound."""
    flagged = set(flags["item_id"].astype(str))
    truth = {str(i) for i in planted}
    return FlagQuality(len(flagged), len(truth), len(flagged & truth))
