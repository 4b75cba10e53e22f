"""Fashion-MNIST: 70,000 Zalando product photos (28×28 grayscale) in 10 categories.

Files: `<root>/fashion-mnist/{train,t10k}-{images,labels}-classsorted-idx{3,1}-ubyte.gz`
(IDX, gzipped). The images are sorted by class, so anything that trains on them must
shuffle. Licence MIT (Zalando SE); see the data set's README and LICENSE.

Every image becomes an item (`fm-train-00000` ... `fm-test-09999`, category = its class
name) and a row of the `images` table addressing it inside its archive
(`<archive>#<index>`), so the pixels stay in the archive and are not copied.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from shopsense.data.sources import SourceData, conform, require_files, resolve_root

DATASET = "fashion-mnist"
CATEGORIES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
SPLITS = {
    "train": ("train-images-classsorted-idx3-ubyte.gz", "train-labels-classsorted-idx1-ubyte.gz"),
    "test": ("t10k-images-classsorted-idx3-ubyte.gz", "t10k-labels-classsorted-idx1-ubyte.gz"),
}


def fashion_mnist_files(root: Path | str | None = None) -> dict[str, tuple[Path, Path]]:
    """split -> (images archive, labels file), checked to exist."""
    folder = resolve_root(root) / DATASET
    names = [n for pair in SPLITS.values() for n in pair]
    paths = require_files(folder, names, DATASET)
    return {split: (paths[2 * i], paths[2 * i + 1]) for i, split in enumerate(SPLITS)}


def read_split(
    split: str, root: Path | str | None = None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """One split as arrays: images (n, 28, 28) uint8, labels (n,) uint8, item ids."""
    from shopsense.images.io import read_idx

    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    images_path, labels_path = fashion_mnist_files(root)[split]
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"{DATASET}: {images_path.name} {images.shape} and {labels_path.name} "
            f"{labels.shape} do not pair up"
        )
    if labels.max() >= len(CATEGORIES):
        raise ValueError(f"{labels_path}: label {int(labels.max())} is not a known category")
    return images, labels, item_ids(split, len(images))


def item_ids(split: str, n: int) -> list[str]:
    return [f"fm-{split}-{i:05d}" for i in range(n)]


def load_fashion_mnist(root: Path | str | None = None) -> SourceData:
    """Map both splits into items (category = class name) and images (archive rows)."""
    from shopsense.images.io import archive_rows, read_idx

    files = fashion_mnist_files(root)
    items, images = [], []
    for split, (images_path, labels_path) in files.items():
        labels = read_idx(labels_path)
        names = np.asarray(CATEGORIES, dtype=object)[labels]
        ids = item_ids(split, len(labels))
        rows = archive_rows(images_path, ids, names)
        images.append(rows)
        items.append(
            pd.DataFrame(
                {
                    "item_id": ids,
                    "title": [f"{c} ({split} image {i})" for i, c in enumerate(names)],
                    "category": names,
                }
            )
        )
    items_frame = conform("items", pd.concat(items, ignore_index=True))
    images_frame = conform("images", pd.concat(images, ignore_index=True))
    counts = items_frame["category"].value_counts()
    sizes = {split: len(rows) for split, rows in zip(files, images, strict=True)}
    notes = (
        f"items: {len(items_frame):,} product photos ({sizes['train']:,} train, "
        f"{sizes['test']:,} test) in "
        f"{len(counts)} categories of {counts.min():,}-{counts.max():,} items each; item ids "
        "fm-<split>-<index>, where index counts within the class-sorted archive",
        "images: path '<archive>#<index>' points into the gzipped IDX archive (28x28 "
        "grayscale, light product on a dark background); the pixels are not copied",
        "the archives are sorted by class: shuffle before training on them",
    )
    return SourceData(
        name=DATASET, tables={"items": items_frame, "images": images_frame}, notes=notes
    )
