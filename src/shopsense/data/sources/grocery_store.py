"""Grocery Store Dataset: phone photos of fruit, vegetables and packaged goods in shops.

Klasson, Zhang, Kjellström, "A Hierarchical Grocery Store Image Dataset with Visual and
Semantic Labels", WACV 2019. 81 fine classes (e.g. Granny-Smith) in 43 coarse ones (Apple);
for every class an "iconic" catalogue photo and a product description. Licence MIT.

Files under `<root>/grocery-store-images/`: `classes.csv` (class name, class id, coarse
class name, coarse class id, iconic image path, description path), the authors' split
lists `train.txt`, `val.txt` (optional: not every copy has it) and `test.txt` with lines
`<path>, <fine class id>, <coarse class id>`, paths relative to that folder.

Every listed photo becomes an item (`gs-<split>-<file stem>`, so the authors' split stays
readable in the id; category = fine class name, or the coarse one with `coarse=True`) and
a row of the `images` table; every class's iconic photo becomes a catalogue item
`gs-iconic-<class>` whose description is the class's product text.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from shopsense.data.sources import SourceData, conform, require_files, resolve_root

DATASET = "grocery-store-images"
CLASSES_FILE = "classes.csv"
#: The authors' split lists, in order; val.txt may be absent.
SPLITS = {"train": "train.txt", "val": "val.txt", "test": "test.txt"}
OPTIONAL_SPLITS = frozenset({"val"})
CLASS_COLUMNS = ("class", "class_id", "coarse_class", "coarse_class_id", "iconic", "description")


def dataset_folder(root: Path | str | None = None) -> Path:
    return resolve_root(root) / DATASET


def read_classes(root: Path | str | None = None) -> pd.DataFrame:
    """classes.csv as a frame indexed by fine class id, with columns class, coarse_class,
    coarse_class_id, iconic, description (paths relative to the data set folder)."""
    folder = dataset_folder(root)
    (path,) = require_files(folder, [CLASSES_FILE], DATASET)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if frame.shape[1] != len(CLASS_COLUMNS):
        raise ValueError(
            f"{path}: {frame.shape[1]} columns; expected {len(CLASS_COLUMNS)} "
            "(class name, class id, coarse name, coarse id, iconic path, description path)"
        )
    frame.columns = list(CLASS_COLUMNS)
    for col in ("class_id", "coarse_class_id"):
        bad = ~frame[col].str.strip().str.fullmatch(r"\d+")
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{path}, row {row + 2}, field {col}: {frame[col].iloc[row]!r} is not an integer"
            )
        frame[col] = frame[col].astype(int)
    for col in ("iconic", "description"):
        frame[col] = frame[col].str.strip().str.lstrip("/")
    if frame["class_id"].duplicated().any():
        dup = int(frame.loc[frame["class_id"].duplicated(), "class_id"].iloc[0])
        raise ValueError(f"{path}: class id {dup} appears twice")
    return frame.set_index("class_id").sort_index()


def read_split(split: str, root: Path | str | None = None) -> pd.DataFrame:
    """One of the authors' split lists as a frame: item_id, path (relative to the data set
    folder), class_id, coarse_class_id, class, coarse_class. An empty frame for an
    optional list that is absent (val.txt)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    folder = dataset_folder(root)
    classes = read_classes(root)
    columns = ["item_id", "path", "class_id", "coarse_class_id", "class", "coarse_class"]
    path = folder / SPLITS[split]
    if split in OPTIONAL_SPLITS and not path.is_file():
        return pd.DataFrame(columns=columns)
    (path,) = require_files(folder, [SPLITS[split]], DATASET)
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 3:
            raise ValueError(
                f"{path}, row {number}: {len(fields)} fields; expected 'path, fine id, coarse id'"
            )
        for name, value in zip(("fine class id", "coarse class id"), fields[1:], strict=True):
            if not value.isdigit():
                raise ValueError(f"{path}, row {number}, field {name}: {value!r} is not an integer")
        fine, coarse = int(fields[1]), int(fields[2])
        if fine not in classes.index:
            raise ValueError(
                f"{path}, row {number}, field fine class id: {fine} is not in {CLASSES_FILE}"
            )
        if coarse != classes.at[fine, "coarse_class_id"]:
            raise ValueError(
                f"{path}, row {number}, field coarse class id: {coarse}, but {CLASSES_FILE} "
                f"puts class {fine} in coarse class {classes.at[fine, 'coarse_class_id']}"
            )
        rows.append((f"gs-{split}-{Path(fields[0]).stem}", fields[0], fine, coarse))
    frame = pd.DataFrame(rows, columns=columns[:4])
    dup = frame["item_id"].duplicated()
    if dup.any():
        raise ValueError(f"{path}: photo {frame.loc[dup, 'path'].iloc[0]} is listed twice")
    frame["class"] = classes.loc[frame["class_id"], "class"].to_numpy()
    frame["coarse_class"] = classes.loc[frame["class_id"], "coarse_class"].to_numpy()
    return frame


def _sizes(folder: Path, paths: list[str], listed_in: str) -> tuple[np.ndarray, np.ndarray]:
    """Width and height of every photo from its header; a missing file names the list."""
    widths, heights = np.empty(len(paths), dtype=np.int64), np.empty(len(paths), dtype=np.int64)
    for i, rel in enumerate(paths):
        try:
            with Image.open(folder / rel) as img:
                widths[i], heights[i] = img.size
        except OSError as e:
            raise FileNotFoundError(
                f"data set {DATASET!r}: {folder / rel} (listed in {listed_in}) cannot be "
                f"opened: {e}"
            ) from None
    return widths, heights


def load_grocery_store(root: Path | str | None = None, *, coarse: bool = False) -> SourceData:
    """Items (one per photo of the authors' splits, plus each class's iconic catalogue
    photo with its description) and their images rows. Categories are the fine class
    names, or the coarse ones with `coarse=True`."""
    folder = dataset_folder(root)
    classes = read_classes(root)
    label = "coarse_class" if coarse else "class"
    items, images, sizes = [], [], {}
    for split, list_file in SPLITS.items():
        rows = read_split(split, root)
        sizes[split] = len(rows)
        if rows.empty:
            continue
        paths = rows["path"].tolist()
        width, height = _sizes(folder, paths, list_file)
        names = rows[label].to_numpy(dtype=object)
        absolute = [str((folder / p).resolve()) for p in paths]
        number = rows.groupby("class_id").cumcount().to_numpy() + 1
        items.append(
            pd.DataFrame(
                {
                    "item_id": rows["item_id"],
                    "title": [
                        f"{c} ({split} photo {n})"
                        for c, n in zip(rows["class"], number, strict=True)
                    ],
                    "category": names,
                    "image_path": absolute,
                }
            )
        )
        images.append(
            pd.DataFrame(
                {
                    "item_id": rows["item_id"],
                    "path": absolute,
                    "label": names,
                    "width": width,
                    "height": height,
                }
            )
        )
    iconic = classes.reset_index()
    iconic_ids = ["gs-iconic-" + c for c in iconic["class"]]
    for_missing = f"{CLASSES_FILE} (iconic image path)"
    width, height = _sizes(folder, iconic["iconic"].tolist(), for_missing)
    texts = []
    for row, rel in enumerate(iconic["description"]):
        path = folder / rel
        try:
            texts.append(path.read_text(encoding="utf-8", errors="replace").strip() or None)
        except OSError as e:
            raise FileNotFoundError(
                f"data set {DATASET!r}: {path} ({CLASSES_FILE}, row {row + 2}, field "
                f"description path) cannot be read: {e.strerror or e}"
            ) from None
    iconic_paths = [str((folder / p).resolve()) for p in iconic["iconic"]]
    iconic_labels = iconic[label].to_numpy(dtype=object)
    items.append(
        pd.DataFrame(
            {
                "item_id": iconic_ids,
                "title": iconic["class"].str.replace("-", " "),
                "category": iconic_labels,
                "description": texts,
                "image_path": iconic_paths,
            }
        )
    )
    images.append(
        pd.DataFrame(
            {
                "item_id": iconic_ids,
                "path": iconic_paths,
                "label": iconic_labels,
                "width": width,
                "height": height,
            }
        )
    )
    items_frame = conform("items", pd.concat(items, ignore_index=True))
    images_frame = conform("images", pd.concat(images, ignore_index=True))
    photos = sum(sizes.values())
    n_fine, n_coarse = classes["class"].nunique(), classes["coarse_class"].nunique()
    notes = (
        f"items: {photos:,} shop photos ({sizes['train']:,} train, {sizes['val']:,} val, "
        f"{sizes['test']:,} test; ids gs-<split>-<file>) and {len(iconic)} iconic catalogue "
        f"photos (gs-iconic-<class>, with the product description)",
        f"categories: the {'coarse' if coarse else 'fine'} class names ({n_fine} fine classes "
        f"in {n_coarse} coarse ones)",
        "images: RGB JPEG files, absolute paths; photos of several sizes (letterboxed to a "
        "square when read)",
    )
    return SourceData(
        name=DATASET, tables={"items": items_frame, "images": images_frame}, notes=notes
    )
