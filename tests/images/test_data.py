"""ImageSet views and batch augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shopsense.images.data import ImageSet, augment


def test_split_is_stratified_and_disjoint(train_set):
    tr, te = train_set.split(0.2, random_state=3)
    assert len(tr) + len(te) == len(train_set)
    assert not set(tr.item_ids) & set(te.item_ids)
    share = {c: np.mean(te.labels == c) for c in np.unique(train_set.labels)}
    assert max(share.values()) - min(share.values()) < 0.03


def test_view_checks_its_arrays():
    with pytest.raises(ValueError, match="uint8"):
        ImageSet(np.zeros((2, 4, 4), dtype=np.float32), np.array(["a", "b"]))
    with pytest.raises(ValueError, match="item ids"):
        ImageSet(np.zeros((2, 4, 4), dtype=np.uint8), np.array(["a"]))
    view = ImageSet.from_arrays(np.zeros((3, 4, 4)), np.array(["x", None, "y"], dtype=object))
    assert view.labelled.tolist() == [True, False, True]


def test_augment_shifts_and_flips_without_changing_content():
    x = torch.zeros(64, 1, 8, 8)
    x[:, 0, 3:5, 1:3] = 1.0  # a block left of centre
    g = torch.Generator().manual_seed(0)
    out = augment(x, g, padding=2, flip=True)
    assert out.shape == x.shape
    assert torch.all(out.sum(dim=(1, 2, 3)) <= 4) and torch.any(out.sum(dim=(1, 2, 3)) == 4)
    moved = (out != x).flatten(1).any(dim=1).float().mean()
    assert 0.5 < moved <= 1.0
    same = augment(x, g, padding=0, flip=False)
    assert torch.equal(same, x)
