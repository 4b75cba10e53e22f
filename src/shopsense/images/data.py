"""`ImageSet`: the image view every model of this package takes, and batch augmentation.

A view holds decoded pixels with their item ids and listed categories, so models never
open a file: (n, size, size) uint8 grayscale or (n, size, size, 3) uint8 RGB. How many
channels, and the side, come from the data: a store whose photos are all grayscale (or
Fashion-MNIST archives) reads as one channel at 28 px, any colour photo makes it RGB at
`RGB_SIZE` px. Augmentation runs on whole batches as tensor
indexing (no per-image Python loop): it must keep up with a small CNN on two CPU cores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

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


def channels_first(images: np.ndarray) -> np.ndarray:
    """(n, s, s) or (n, s, s, c) pixels as (n, c, s, s), the layout networks read."""
    return images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)


def normalise(images: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(n, s, s[, c]) uint8 -> (n, c, s, s) float32 scaled to [0, 1], minus the per-channel
    mean, over the per-channel std (both measured on the training images)."""
    x = channels_first(np.asarray(images)).astype(np.float32) / np.float32(255.0)
    mean = np.asarray(mean, dtype=np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(std, dtype=np.float32).reshape(1, -1, 1, 1)
    return (x - mean) / std


def channel_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of (n, s, s[, c]) uint8 images scaled to [0, 1], float32,
    computed in chunks (no float copy of the whole set)."""
    c = 1 if images.ndim == 3 else images.shape[3]
    flat = images.reshape(len(images), -1, c)
    total = np.zeros(c, dtype=np.float64)
    squares = np.zeros(c, dtype=np.float64)
    for s in range(0, len(flat), 1024):
        chunk = flat[s : s + 1024].astype(np.float64) / 255.0
        total += chunk.sum(axis=(0, 1))
        squares += np.square(chunk).sum(axis=(0, 1))
    n = max(1, flat.shape[0] * flat.shape[1])
    mean = total / n
    std = np.sqrt(np.maximum(squares / n - mean**2, 0.0)) + 1e-6
    return mean.astype(np.float32), std.astype(np.float32)


# ------------------------------------------------------------------------- augmentation
def augment(
    batch: torch.Tensor, generator: torch.Generator | None, *, padding: int, flip: bool
) -> torch.Tensor:
    """Random shifts (crop of a zero-padded image) and horizontal flips of a (b, c, h, w)
    float batch, vectorised by gathering pixel indices."""
    b, _, h, w = batch.shape
    out = batch
    if padding > 0:
        padded = torch.nn.functional.pad(batch, (padding,) * 4)
        dy = torch.randint(0, 2 * padding + 1, (b,), generator=generator)
        dx = torch.randint(0, 2 * padding + 1, (b,), generator=generator)
        rows = (dy[:, None] + torch.arange(h)[None, :])[:, :, None]  # (b, h, 1)
        cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, :]  # (b, 1, w)
        # advanced indices around a slice: the result is (b, h, w, c)
        out = padded[torch.arange(b)[:, None, None], :, rows, cols].permute(0, 3, 1, 2)
    if flip:
        mirror = torch.rand(b, generator=generator) < 0.5
        out = torch.where(mirror[:, None, None, None], out.flip(3), out)
    return out
