"""Write the small slices of permissively licensed public data that ship in `tests/corpora/`.

A fresh clone has no public data folder, yet every pillar must be tested on real data, so
small slices of the MIT-licensed image sets ship with the tests, in the same layout and
format as the full data sets (the same loaders read them):

- `fashion-mnist/`: 300 training and 100 test photos per class, drawn with a fixed seed,
  written as class-sorted gzipped IDX files like the full archives.
- `grocery-store-images/`: for 24 product classes, 16 training and 6 test phone photos each
  (the authors' split), scaled so the long side is 112 px (aspect kept: three sizes), plus
  each class's iconic catalogue photo and description; lists and `classes.csv` in the
  authors' format.

Run from the repository root with the full data sets under SHOPSENSE_DATA_ROOT:

    python scripts/make_test_corpora.py
"""

from __future__ import annotations

import argparse
import gzip
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from shopsense.config import Settings
from shopsense.data.sources.fashion_mnist import SPLITS, read_split

OUT = Path(__file__).resolve().parent.parent / "tests" / "corpora"
FASHION_PER_CLASS = {"train": 300, "test": 100}
GROCERY_CLASSES = (
    "Granny-Smith", "Pink-Lady", "Banana", "Kiwi", "Lemon", "Avocado", "Mango", "Orange",
    "Oatly-Oat-Milk", "Arla-Standard-Milk", "Alpro-Vanilla-Soyghurt", "Arla-Natural-Yoghurt",
    "Tropicana-Apple-Juice", "God-Morgon-Orange-Juice", "Carrots", "Cucumber", "Garlic",
    "Yellow-Onion", "Red-Bell-Pepper", "Floury-Potato", "Vine-Tomato", "Zucchini",
    "Brown-Cap-Mushroom", "Ginger",
)  # fmt: skip
GROCERY_PER_CLASS = {"train": 16, "test": 6}
GROCERY_LONG_SIDE = 112


def write_idx(path: Path, array: np.ndarray) -> None:
    """A gzipped IDX file of unsigned bytes (magic 0x0803 images, 0x0801 labels), mtime 0."""
    magic = 0x0800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def fashion_slice(root: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261203)
    for split, (images_name, labels_name) in SPLITS.items():
        images, labels, _ = read_split(split, root)
        keep = [
            np.sort(rng.choice(np.flatnonzero(labels == c), FASHION_PER_CLASS[split], False))
            for c in range(int(labels.max()) + 1)
        ]
        rows = np.concatenate(keep)  # class-sorted, like the full archives
        write_idx(out / images_name, images[rows])
        write_idx(out / labels_name, labels[rows])
    shutil.copy(root / "fashion-mnist" / "LICENSE", out / "LICENSE")


def grocery_slice(root: Path, out: Path) -> None:
    source = root / "grocery-store-images"
    classes = pd.read_csv(source / "classes.csv", skipinitialspace=True)
    classes.columns = [c.split(" (")[0] for c in classes.columns]
    chosen = classes[classes["Class Name"].isin(GROCERY_CLASSES)]
    if len(chosen) != len(GROCERY_CLASSES):
        raise SystemExit("grocery classes.csv lacks some of the chosen classes")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    ids = set(chosen["Class ID"])
    for split, per_class in GROCERY_PER_CLASS.items():
        lines = pd.read_csv(
            source / f"{split}.txt", header=None, names=["path", "fine", "coarse"],
            skipinitialspace=True,
        )  # fmt: skip
        lines = lines[lines["fine"].isin(ids)].groupby("fine", sort=True).head(per_class)
        for path in lines["path"]:
            target = out / path
            target.parent.mkdir(parents=True, exist_ok=True)
            with Image.open(source / path) as photo:
                photo = photo.convert("RGB")
                scale = GROCERY_LONG_SIDE / max(photo.size)
                size = (round(photo.width * scale), round(photo.height * scale))
                photo.resize(size, Image.Resampling.LANCZOS).save(target, quality=85)
        text = "".join(f"{p}, {f}, {c}\n" for p, f, c in lines.itertuples(index=False))
        (out / f"{split}.txt").write_text(text)
    for column in ("Iconic Image Path", "Product Description Path"):
        for path in chosen[column]:
            target = out / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source / path.lstrip("/"), target)
    header = (source / "classes.csv").read_text().splitlines()[0]
    rows = (source / "classes.csv").read_text().splitlines()[1:]
    kept = [r for r in rows if r.split(",")[0] in GROCERY_CLASSES]
    (out / "classes.csv").write_text("\n".join([header, *kept]) + "\n")
    shutil.copy(source / "LICENSE", out / "LICENSE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Settings().data_root)
    args = parser.parse_args()
    fashion_slice(args.root, OUT / "fashion-mnist")
    grocery_slice(args.root, OUT / "grocery-store-images")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
