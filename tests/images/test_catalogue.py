"""The catalogue check finds planted mislabels."""

from __future__ import annotations

import numpy as np

from shopsense.images.catalogue import check_catalogue, flag_quality, plant_mislabels


def test_check_flags_planted_mislabels(fitted, test_set):
    planted_view, planted = plant_mislabels(test_set, 0.1, random_state=0)
    assert len(planted) == 100
    assert (planted_view.labels != test_set.labels).sum() == 100
    flags = check_catalogue(fitted, planted_view, min_confidence=0.8)
    q = flag_quality(flags, planted)
    # a random 10% sample of flags would hit 10%; the check must do far better
    assert q.precision > 0.5 and q.recall > 0.3, q.to_dict()
    assert flags["confidence"].is_monotonic_decreasing and (flags["confidence"] >= 0.8).all()
    stricter = check_catalogue(fitted, planted_view, min_confidence=0.99)
    assert len(stricter) <= len(flags)
    assert set(flags.columns) == {
        "item_id",
        "listed",
        "predicted",
        "confidence",
        "listed_probability",
    }
    assert np.all(flags["listed"] != flags["predicted"])
