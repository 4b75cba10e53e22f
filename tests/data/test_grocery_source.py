"""The Grocery Store loader on the slice that ships and on the full public set."""

from __future__ import annotations

import shutil

import pytest

from shopsense.data.schema import TABLES
from shopsense.data.sources import load_source
from shopsense.data.sources.grocery_store import DATASET, read_classes, read_split
from tests.public_data import SHIPPED, corpus


@pytest.fixture(scope="module")
def shipped():
    return load_source(DATASET, SHIPPED)


def test_the_shipped_slice_maps_photos_and_iconic_items(shipped):
    items, images = shipped.tables["items"], shipped.tables["images"]
    assert list(items.columns) == list(TABLES["items"].column_names)
    assert list(images.columns) == list(TABLES["images"].column_names)
    assert len(items) == len(images) == 24 * (16 + 6) + 24
    ids = items["item_id"]
    assert (
        ids.str.startswith("gs-train-").sum() == 384 and ids.str.startswith("gs-test-").sum() == 144
    )
    assert "384 train, 0 val, 144 test" in shipped.notes[0]
    sizes = set(zip(images["width"], images["height"], strict=True))
    assert sizes == {(112, 112), (84, 112), (112, 84), (198, 198)}
    iconic = items.set_index("item_id").loc["gs-iconic-Granny-Smith"]
    assert iconic["category"] == "Granny-Smith" and "apple" in iconic["description"].lower()
    photo = images.set_index("item_id").loc["gs-test-Granny-Smith_001"]
    assert photo["label"] == "Granny-Smith" and photo["path"].endswith("Granny-Smith_001.jpg")


def test_coarse_labels_group_fine_classes(shipped):
    coarse = load_source(DATASET, SHIPPED, coarse=True).tables["images"]
    fine = shipped.tables["images"]
    assert coarse["label"].nunique() < fine["label"].nunique()
    apples = fine["label"].isin(["Granny-Smith", "Pink-Lady"])
    assert set(coarse.loc[apples, "label"]) == {"Apple"}
    classes = read_classes(SHIPPED)
    assert classes.loc[1, ["class", "coarse_class"]].tolist() == ["Granny-Smith", "Apple"]


def _copy(tmp_path):
    shutil.copytree(SHIPPED / DATASET, tmp_path / DATASET)
    return tmp_path


def test_a_missing_list_is_a_clear_error(tmp_path):
    root = _copy(tmp_path)
    (root / DATASET / "test.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"test\.txt"):
        load_source(DATASET, root)


def test_bad_rows_name_the_file_row_and_field(tmp_path):
    root = _copy(tmp_path)
    lists = root / DATASET / "train.txt"
    lines = lists.read_text().splitlines()
    lines[2] = lines[2].rsplit(",", 2)[0] + ", x, 0"
    lists.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"train\.txt, row 3, field fine class id"):
        read_split("train", root)
    with pytest.raises(ValueError, match="split"):
        read_split("validation", root)


def test_the_full_set_follows_the_authors_split():
    data = load_source(DATASET, corpus(DATASET))
    ids = data.tables["items"]["item_id"]
    counts = {s: int(ids.str.startswith(f"gs-{s}-").sum()) for s in ("train", "val", "test")}
    assert counts == {"train": 2640, "val": 296, "test": 2485}  # 5,421 photos, per its README
    assert ids.str.startswith("gs-iconic-").sum() == 81
    images = data.tables["images"]
    assert images["label"].nunique() == 81 and images[["width", "height"]].max().max() == 198
    coarse = read_split("test", corpus(DATASET))["coarse_class"].nunique()
    assert coarse == 43
