"""The Grocery Store slice that ships in tests/corpora (24 classes, 16 train + 6 test RGB
photos each, three sizes) as image views and as a folder of photos, for the RGB tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from shopsense.data.images import ImageSet
from shopsense.data.sources.grocery_store import DATASET, dataset_folder, read_split
from shopsense.images.io import ImageReader
from tests.public_data import SHIPPED

#: A small RGB network for the tests: 32 px, three narrow stages, one thread.
TINY_RGB = {
    "widths": [16, 32, 64],
    "epochs": 10,
    "batch_size": 32,
    "threads": 1,
    "learning_rate": 3e-3,
    "validation_fraction": 0.0,
}
SIDE = 32


def grocery(split: str, size: int = SIDE) -> ImageSet:
    """One split of the shipped slice, read as (n, size, size, 3) RGB."""
    rows = read_split(split, SHIPPED)
    reader = ImageReader(dataset_folder(SHIPPED))
    images, kept, problems = reader.read_many(rows["path"].tolist(), size, channels=3)
    assert not problems and len(kept) == len(rows)
    return ImageSet(images, rows["item_id"].to_numpy(object), rows["class"].to_numpy(object))


def photo_folder(target: Path, split: str = "train", per_class: int | None = None) -> Path:
    """The slice's photos of a split copied to <target>/<class>/<file>.jpg, as a shop would
    keep them (three sizes, RGB JPEG)."""
    rows = read_split(split, SHIPPED)
    if per_class is not None:
        rows = rows.groupby("class_id").head(per_class)
    for path, cls in zip(rows["path"], rows["class"], strict=True):
        out = target / cls / Path(path).name
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SHIPPED / DATASET / path, out)
    return target


def majority_share(train: ImageSet, test: ImageSet) -> float:
    """Accuracy of always answering the training set's most frequent class."""
    names, counts = np.unique(train.labels.astype(str), return_counts=True)
    return float(np.mean(test.labels.astype(str) == names[counts.argmax()]))
