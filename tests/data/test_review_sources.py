"""The review and Q&A loaders, checked against the real files under SHOPSENSE_DATA_ROOT
(skipped without them)."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pandas as pd
import pytest

from shopsense.data.schema import TABLES
from shopsense.data.sources import SourceData, load_source
from shopsense.data.store import Store
from tests.public_data import corpus

NAMES = (
    "online-shopping-10-cats",
    "womens-ecommerce-clothing-reviews",
    "amazon-all-beauty-5core",
    "amazon-qa-appliances",
)


def _load(name: str) -> SourceData:
    return load_source(name, corpus(name))


@pytest.mark.parametrize("name", NAMES)
def test_schema_keys_and_store_round_trip(name: str, tmp_path: Path) -> None:
    data = _load(name)
    assert data.notes and all(isinstance(n, str) and n for n in data.notes)
    for table, frame in data.tables.items():
        spec = TABLES[table]
        assert tuple(frame.columns) == spec.column_names
        assert not frame.duplicated(list(spec.key)).any()
        for col in spec.required:
            assert frame[col].notna().all(), (table, col)
    with Store(tmp_path / "s.duckdb") as store:
        for table, frame in data.tables.items():
            report = store.write_frame(table, frame, source=name)
            assert report.rows_inserted == len(frame) and report.rows_rejected == 0


def test_online_shopping() -> None:
    r = _load("online-shopping-10-cats").tables["reviews"]
    assert len(r) == 62_773  # 62,774 minus the one empty review
    assert r["category"].nunique() == 10 and (r["item_id"] == r["category"]).all()
    assert set(r["rating"]) == {0.0, 1.0} and int(r["rating"].sum()) == 31_727
    assert (r["language"] == "zh").all() and r["recommended"].isna().all()
    assert not r["text"].str.startswith("\ufeff").any()


def test_womens_clothing() -> None:
    data = _load("womens-ecommerce-clothing-reviews")
    r, items = data.tables["reviews"], data.tables["items"]
    assert len(r) == 23_486 - 844 and r["recommended"].dtype == bool
    assert set(r["rating"]) == {1.0, 2.0, 3.0, 4.0, 5.0} and (r["language"] == "en").all()
    assert set(items["item_id"]) == set(r["item_id"])
    first = r.iloc[0]
    assert first["review_id"] == "wc-1" and first["item_id"] == "767"
    assert first["text"].startswith("Absolutely wonderful")


def test_amazon_reviews() -> None:
    r = _load("amazon-all-beauty-5core").tables["reviews"]
    assert len(r) == 5_269 and r["item_id"].nunique() == 85 and r["user_id"].nunique() == 991
    assert r["rating"].value_counts()[5.0] == 4_649
    assert r["time"].min() >= pd.Timestamp("2004-09-01") and r["time"].max() < pd.Timestamp(
        "2018-09-01"
    )


def test_amazon_qa() -> None:
    q = _load("amazon-qa-appliances").tables["questions"]
    assert len(q) == 9_011 and q["item_id"].nunique() == 1_153
    assert q["question_id"].str.fullmatch(r"aqa-\d+").all() and q["time"].notna().mean() > 0.9


def test_bad_lines_are_named_and_the_rest_loads(tmp_path: Path) -> None:
    folder = tmp_path / "amazon-qa-appliances"
    folder.mkdir()
    lines = [
        "{'asin': 'A1', 'question': 'Is it quiet?', 'answer': 'Yes', 'unixTime': 1400000000}",
        "{'asin': 'A1', 'question': 'broken",
        "{'asin': '', 'question': 'no product'}",
        "{'asin': 'A2', 'question': 'Fits 30 inch?', 'answer': 'No', 'answerTime': 'Jun 27, 2014'}",
    ]
    with gzip.open(folder / "qa_Appliances.json.gz", "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    data = load_source("amazon-qa-appliances", root=tmp_path)
    q = data.tables["questions"]
    assert list(q["question_id"]) == ["aqa-1", "aqa-4"]
    assert q["time"].iloc[1] == pd.Timestamp("2014-06-27")
    note = next(n for n in data.notes if n.startswith("left out"))
    assert "line 2" in note and re.search(r"line 3, field 'asin'", note)


@pytest.mark.parametrize("name", NAMES)
def test_missing_files_name_the_expected_path(name: str, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / name))):
        load_source(name, root=tmp_path)
