"""Visual search returns same-category look-alikes far more often than chance."""

from __future__ import annotations

import numpy as np
import pytest

from shopsense.images.search import VisualSearch


def test_neighbours_share_the_category(fitted, test_set, tmp_path):
    search = VisualSearch.build(fitted, test_set)
    p10 = search.precision_at_k(10)
    assert p10 > 0.6, p10  # chance: about 0.1
    item = str(test_set.item_ids[0])
    found = search.similar_items(item, 10)
    assert len(found) == 10 and item not in set(found["item_id"])
    assert found["similarity"].is_monotonic_decreasing
    search.save(tmp_path / "s")
    again = VisualSearch.load(tmp_path / "s")
    assert again.similar_items(item, 10)["item_id"].tolist() == found["item_id"].tolist()
    same = again.similar_to(fitted.embed(test_set.images[:1])[0], 1)
    assert same["item_id"].iloc[0] == item and np.isclose(same["similarity"].iloc[0], 1, 1e-4)


def test_unlabelled_photos_are_found_but_not_scored(fitted, test_set):
    labels = test_set.labels.copy()
    labels[::2] = None
    search = VisualSearch.build(fitted, test_set.with_labels(labels))
    # half the neighbours have no category and count as misses; chance is about 0.05
    assert 0.25 < search.precision_at_k(10, sample=200) <= 0.6
    none = VisualSearch.build(fitted, test_set.with_labels(np.full(len(test_set), None)))
    with pytest.raises(ValueError, match="none is labelled"):
        none.precision_at_k(10)
