"""`ImageSet`: the image view every model of this package takes, and batch augmentation.

A view holds decoded pixels (n, size, size) uint8 with their item ids and listed
categories, so models never open a file. Augmentation runs on whole batches as tensor
indexing (no per-image Python loop): it must keep up with a small CNN on two CPU cores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from shopsense.images.io import ImageProblem, ImageReader

#: Side of the square images the classifier reads (Fashion-MNIST's resolution).
IMAGE_SIZE = 28


@dataclass(frozen=True)
class ImageSet:
    """Decoded product photos.

    images: (n, size, size) uint8, light product on a dark background.
    item_ids: (n,) str. labels: (n,) str category names, None where unknown.
    problems: images of the source that could not be decoded (not in the arrays).
    """

    images: np.ndarray
    item_ids: np.ndarray
    labels: np.ndarray | None = None
    problems: tuple[ImageProblem, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.images.ndim != 3 or self.images.dtype != np.uint8:
            raise ValueError(
                f"images must be (n, size, size) uint8; got {self.images.dtype} {self.images.shape}"
            )
        if len(self.item_ids) != len(self.images):
            raise ValueError(f"{len(self.item_ids)} item ids for {len(self.images)} images")
        if self.labels is not None and len(self.labels) != len(self.images):
            raise ValueError(f"{len(self.labels)} labels for {len(self.images)} images")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def size(self) -> int:
        return int(self.images.shape[1])

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
        train, test = train_test_split(
            rows,
            test_size=test_size,
            random_state=random_state,
            stratify=self.labels[rows].astype(str),
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
        size: int = IMAGE_SIZE,
        where: str | None = None,
        reader: ImageReader | None = None,
    ) -> ImageSet:
        """Every image of the store's `images` table, decoded (failures in `problems`).

        An item with several photos appears once per photo. `root` resolves relative paths
        (default: the store's folder)."""
        from shopsense.data.store import Store

        assert isinstance(store, Store)
        rows = store.read("images", ["item_id", "path", "label"], where=where)
        if rows.empty:
            raise ValueError(f"the store {store.path} has no images; load some first")
        reader = reader or ImageReader(root if root is not None else Path(store.path).parent)
        ids = rows["item_id"].astype(str).to_numpy()
        images, kept, problems = reader.read_many(rows["path"].tolist(), size, item_ids=ids)
        labels = rows["label"].to_numpy(dtype=object)[kept]
        return cls(images, ids[kept].astype(object), labels, tuple(problems))


# ------------------------------------------------------------------------- augmentation
def augment(
    batch: torch.Tensor, generator: torch.Generator | None, *, padding: int, flip: bool
) -> torch.Tensor:
    """Random shifts (crop of a zero-padded image) and horizontal flips of a (b, 1, h, w)
    float batch, vectorised by gathering pixel indices."""
    b, _, h, w = batch.shape
    out = batch
    if padding > 0:
        padded = torch.nn.functional.pad(batch, (padding,) * 4)
        dy = torch.randint(0, 2 * padding + 1, (b,), generator=generator)
        dx = torch.randint(0, 2 * padding + 1, (b,), generator=generator)
        rows = (dy[:, None] + torch.arange(h)[None, :])[:, :, None]  # (b, h, 1)
        cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, :]  # (b, 1, w)
        out = padded[torch.arange(b)[:, None, None], 0, rows, cols].unsqueeze(1)
    if flip:
        mirror = torch.rand(b, generator=generator) < 0.5
        out = torch.where(mirror[:, None, None, None], out.flip(3), out)
    return out
