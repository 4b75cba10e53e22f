"""The photo view: decoded photos read from the store's `images` table or from arrays,
checked shapes, and a stratified split (real Fashion-MNIST photos)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from shopsense.data.images import IMAGE_SIZE, RGB_SIZE, ImageSet, default_size
from shopsense.data.store import Store
from tests.images.shop import sample


@pytest.fixture(scope="module")
def photos() -> ImageSet:
    return sample("train", 3000, seed=0)


def test_split_is_stratified_and_disjoint(photos):
    tr, te = photos.split(0.2, random_state=3)
    assert len(tr) + len(te) == len(photos)
    assert not set(tr.item_ids) & set(te.item_ids)
    share = {c: np.mean(te.labels == c) for c in np.unique(photos.labels)}
    assert max(share.values()) - min(share.values()) < 0.03


def test_split_refuses_too_few_photos_per_category(photos):
    firsts = [np.flatnonzero(photos.labels == c)[0] for c in np.unique(photos.labels)[:3]]
    few = photos.subset(np.sort(firsts))  # one photo of each of three categories
    with pytest.raises(ValueError, match="too few"):
        few.split(0.5)
    with pytest.raises(ValueError, match="test_size"):
        photos.split(1.5)


def test_view_checks_its_arrays():
    with pytest.raises(ValueError, match="uint8"):
        ImageSet(np.zeros((2, 4, 4), dtype=np.float32), np.array(["a", "b"]))
    with pytest.raises(ValueError, match="item ids"):
        ImageSet(np.zeros((2, 4, 4), dtype=np.uint8), np.array(["a"]))
    with pytest.raises(ValueError, match="labels"):
        ImageSet(np.zeros((2, 4, 4), dtype=np.uint8), np.array(["a", "b"]), np.array(["x"]))
    view = ImageSet.from_arrays(np.zeros((3, 4, 4)), np.array(["x", None, "y"], dtype=object))
    assert view.labelled.tolist() == [True, False, True]
    assert view.item_ids.tolist() == ["0", "1", "2"] and view.channels == 1


def test_default_side_follows_the_channels():
    assert default_size(1) == IMAGE_SIZE and default_size(3) == RGB_SIZE


def test_from_store_reads_the_images_table_and_lists_failures(tmp_path: Path, photos):
    view = photos.subset(np.arange(6))
    rows = []
    for item, img, label in zip(view.item_ids, view.images, view.labels, strict=True):
        Image.fromarray(img).save(tmp_path / f"{item}.png")
        rows.append({"item_id": item, "path": f"{item}.png", "label": label})
    rows.append({"item_id": "gone", "path": "gone.png", "label": "Bag"})
    with Store(tmp_path / "shop.duckdb") as store:
        store.write_frame("images", pd.DataFrame(rows), source="test")
        read = ImageSet.from_store(store)
    assert read.channels == 1 and read.size == IMAGE_SIZE
    assert read.item_ids.tolist() == view.item_ids.tolist()
    assert read.labels.tolist() == view.labels.tolist()
    assert np.abs(read.images.astype(int) - view.images.astype(int)).mean() < 2
    assert [p.path for p in read.problems] == ["gone.png"]


def test_from_store_refuses_a_store_without_photos(tmp_path: Path):
    with Store(tmp_path / "shop.duckdb") as store, pytest.raises(ValueError, match="no images"):
        ImageSet.from_store(store)
