"""Small real slices of Fashion-MNIST (the slice that ships in tests/corpora) for the image
tests, and a shop (store + registry) holding some of its photos plus a folder of PNG files,
one of them truncated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from shopsense.config import Settings
from shopsense.data.images import ImageSet
from shopsense.data.sources.fashion_mnist import (
    CATEGORIES,
    fashion_mnist_files,
    read_split,
)
from shopsense.images.io import archive_rows
from tests.public_data import SHIPPED

NAMES = np.asarray(CATEGORIES, dtype=object)
#: a quick network: the tests check learning, not the benchmark's accuracy
TINY = {"widths": [16, 32, 64], "epochs": 4, "batch_size": 64, "threads": 1}


def sample(split: str, n: int, seed: int = 0) -> ImageSet:
    """n random images of a split (the archives are class-sorted: never take a prefix)."""
    images, labels, ids = read_split(split, SHIPPED)
    rows = np.sort(np.random.default_rng(seed).choice(len(images), n, replace=False))
    return ImageSet(images[rows], np.asarray(ids, dtype=object)[rows], NAMES[labels[rows]])


def write_pngs(folder: Path, view: ImageSet, per_class: int = 3) -> list[Path]:
    """A few photos as PNG in <folder>/<category>/ (white background, like shop photos),
    plus one truncated file."""
    paths = []
    for label in np.unique(view.labels.astype(str)):
        rows = np.flatnonzero(view.labels == label)[:per_class]
        sub = folder / label.replace("/", "-")
        sub.mkdir(parents=True, exist_ok=True)
        for r in rows:
            path = sub / f"{view.item_ids[r]}.png"
            Image.fromarray(255 - view.images[r]).resize((56, 56)).save(path)
            paths.append(path)
    broken = folder / "Bag" / "broken.png"
    broken.parent.mkdir(exist_ok=True)
    broken.write_bytes(paths[0].read_bytes()[:60])
    return paths


def build_shop(root: Path, n: int = 1500) -> Settings:
    """A store with n Fashion-MNIST photos (archive rows) and a trained tiny classifier."""
    from shopsense.data.store import Store
    from shopsense.images import workflows

    settings = Settings(
        store_path=root / "shop.duckdb",
        models_dir=root / "models",
        reports_dir=root / "reports",
        threads=1,
        api_keys=["k" * 20],
    )
    archive, _ = fashion_mnist_files(SHIPPED)["train"]
    _, labels, ids = read_split("train", SHIPPED)
    rows = archive_rows(archive, ids, NAMES[labels])
    pick = np.random.default_rng(1).choice(np.arange(1, len(rows)), n - 1, replace=False)
    pick = np.sort(np.append(pick, 0))  # fm-train-00000 is always there
    with Store(settings.store_path) as store:
        store.write_frame("images", rows.iloc[pick].reset_index(drop=True), source="test")
    workflows.train(settings, params=TINY, test_size=0.2)
    return settings
