"""The photo view: decoded product photos with their item ids and listed categories.

`ImageSet` is what every image model takes, so no model opens a file: (n, size, size)
uint8 grayscale or (n, size, size, 3) uint8 RGB, read from the store's `images` table
(`ImageSet.from_store`) or from arrays already in memory (Fashion-MNIST archives, tests).
How many channels, and the side, come from the data: a store whose photos are all
grayscale reads as one channel at 28 px, any colour photo makes it RGB at `RGB_SIZE` px.
Pixels are decoded by the image pillar's reader (`shopsense.images.io`); what a network
does to them (channels first, normalisation, augmentation) is model preprocessing and
lives in `shopsense.images.data`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shopsense.images.io import ImageProblem, ImageReader

#: Side of grayscale inputs (Fashion-MNIST's resolution).
IMAGE_SIZE = 28
#: Side of RGB inputs: on the Grocery Store validation photos 64 px beat 96 px (0.365 vs
#: 0.318 accuracy after 10 epochs) at about half the training time (benchmarks/images.py
#: --part grocery).
RGB_SIZE = 64


def default_size(channels: int) -> int:
    """The side photos are read at when nothing asks for another one."""
    return IMAGE_SIZE if channels == 1 else RGB_SIZE


@dataclass(frozen=True)
class ImageSet:
    """Decoded product photos.

    images: (n, size, size) uint8 grayscale or (n, size, size, 3) uint8 RGB.
    item_ids: (n,) str. labels: (n,) str category names, None where unknown.
    problems: images of the source that could not be decoded (not in the arrays).
    """

    images: np.ndarray
    item_ids: np.ndarray
    labels: np.ndarray | None = None
    problems: tuple[ImageProblem, ...] = field(default=())

    def __post_init__(self) -> None:
        shape, dtype = self.images.shape, self.images.dtype
        square = self.images.ndim in (3, 4) and shape[1] == shape[2]
        if not square or dtype != np.uint8 or (self.images.ndim == 4 and shape[3] != 3):
            raise ValueError(
                f"images must be (n, size, size) or (n, size, size, 3) uint8; got {dtype} {shape}"
            )
        if len(self.item_ids) != len(self.images):
            raise ValueError(f"{len(self.item_ids)} item ids for {len(self.images)} images")
        if self.labels is not None and len(self.labels) != len(self.images):
            raise ValueError(f"{len(self.labels)} labels for {len(self.images)} images")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def size(self) -> int:
        """Side of the square images."""
        return int(self.images.shape[1])

    @property
    def channels(self) -> int:
        """1 (grayscale) or 3 (RGB)."""
        return 1 if self.images.ndim == 3 else int(self.images.shape[3])

    @property
    def labelled(self) -> np.ndarray:
        """Which images have a listed category."""
        if self.labels is None:
            return np.zeros(len(self), dtype=bool)
        return np.array([v is not None and v == v for v in self.labels], dtype=bool)

    def subset(self, rows: np.ndarray) -> ImageSet:
        """The images at `rows` (positions or a boolean mask)."""
        rows = np.asarray(rows)
        labels = None if self.labels is None else self.labels[rows]
        return ImageSet(self.images[rows], self.item_ids[rows], labels, self.problems)

    def with_labels(self, labels: np.ndarray) -> ImageSet:
        return ImageSet(self.images, self.item_ids, np.asarray(labels, dtype=object), self.problems)

    def split(self, test_size: float, random_state: int = 0) -> tuple[ImageSet, ImageSet]:
        """A stratified random (train, test) split of the labelled images."""
        from sklearn.model_selection import train_test_split

        rows = np.flatnonzero(self.labelled)
        if not 0 < test_size < 1:
            raise ValueError(f"test_size must be in (0, 1), not {test_size}")
        labels = self.labels[rows].astype(str)
        classes = len(np.unique(labels))
        count = max(int(np.ceil(test_size * len(rows))), classes)  # one of each category
        if count > len(rows) - classes:
            raise ValueError(
                f"{len(rows)} labelled photos in {classes} categories are too few to hold out "
                f"one photo of each category for testing and still train on each"
            )
        train, test = train_test_split(
            rows, test_size=count, random_state=random_state, stratify=labels
        )
        return self.subset(np.sort(train)), self.subset(np.sort(test))

    @classmethod
    def from_arrays(
        cls, images: np.ndarray, labels: np.ndarray | None = None, item_ids: list[str] | None = None
    ) -> ImageSet:
        """A view of in-memory arrays (ids default to the row numbers)."""
        images = np.ascontiguousarray(images, dtype=np.uint8)
        ids = np.asarray(item_ids if item_ids is not None else [str(i) for i in range(len(images))])
        lab = None if labels is None else np.asarray(labels, dtype=object)
        return cls(images, ids.astype(object), lab)

    @classmethod
    def from_store(
        cls,
        store: object,
        *,
        root: str | Path | None = None,
        size: int | None = None,
        channels: int | None = None,
        where: str | None = None,
        reader: ImageReader | None = None,
    ) -> ImageSet:
        """Every image of the store's `images` table, decoded (failures in `problems`).

        An item with several photos appears once per photo. `root` resolves relative paths
        (default: the store's folder). `channels` defaults to 1 when every photo is
        grayscale, else 3; `size` to `default_size(channels)`."""
        from shopsense.data.store import Store

        assert isinstance(store, Store)
        rows = store.read("images", ["item_id", "path", "label"], where=where)
        if rows.empty:
            raise ValueError(f"the store {store.path} has no images; load some first")
        reader = reader or ImageReader(root if root is not None else Path(store.path).parent)
        ids = rows["item_id"].astype(str).to_numpy()
        paths = rows["path"].tolist()
        channels = channels or reader.channels_of(paths)
        size = size or default_size(channels)
        images, kept, problems = reader.read_many(paths, size, channels=channels, item_ids=ids)
        labels = rows["label"].to_numpy(dtype=object)[kept]
        return cls(images, ids[kept].astype(object), labels, tuple(problems))
