"""The Fashion-MNIST loader against the full public files, and against the slice that ships."""

from __future__ import annotations

import numpy as np
import pytest

from shopsense.data.schema import TABLES
from shopsense.data.sources import load_source
from shopsense.data.sources.fashion_mnist import CATEGORIES, DATASET, read_split
from shopsense.images.io import ImageReader
from tests.public_data import SHIPPED, corpus


@pytest.fixture(scope="module")
def data():
    return load_source(DATASET, corpus(DATASET))


def test_items_and_images_follow_the_schema(data):
    items, images = data.tables["items"], data.tables["images"]
    assert tuple(images.columns) == TABLES["images"].column_names
    assert len(items) == len(images) == 70_000 and items["item_id"].is_unique
    counts = items["category"].value_counts()
    assert set(counts.index) == set(CATEGORIES) and (counts == 7000).all()
    assert (images["width"] == 28).all() and images["path"].str.contains("#").all()


def test_archive_rows_decode_to_the_split_arrays(data):
    train, labels, ids = read_split("train", corpus(DATASET))
    rows = data.tables["images"].set_index("item_id").loc[[ids[0], ids[59_999]]]
    got, kept, problems = ImageReader().read_many(rows["path"].tolist(), 28)
    assert not problems and kept.tolist() == [0, 1]
    np.testing.assert_array_equal(got, train[[0, 59_999]])
    assert rows["label"].tolist() == [CATEGORIES[labels[0]], CATEGORIES[labels[59_999]]]
    assert train.mean() == pytest.approx(72.94, abs=0.01)  # the README's check


def test_unknown_split_is_refused():
    with pytest.raises(ValueError, match="split"):
        read_split("validation")


def test_the_shipped_slice_reads_with_the_same_loader():
    data = load_source(DATASET, SHIPPED)
    items, images = data.tables["items"], data.tables["images"]
    assert len(items) == 4000 and (items["category"].value_counts() == 400).all()
    assert "3,000 train, 1,000 test" in data.notes[0]
    got, _, problems = ImageReader().read_many(images["path"].head(3).tolist(), 28)
    assert not problems and got.shape == (3, 28, 28) and got.std() > 0
