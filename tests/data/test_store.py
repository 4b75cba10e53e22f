"""The store: atomic loads, reject files, dedup on re-ingest, upserts, reading back."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from shopsense.data.ingest import IngestError
from shopsense.data.schema import TABLES
from shopsense.data.store import Store
from tests.data.conftest import GOOD_ORDER_LINES, assert_same, snapshot

Write = Callable[[str, str | bytes], Path]

HEADER = "invoice_id,item_id,quantity,unit_price,time,customer_id,country\n"


def test_open_creates_every_table_and_reopens_read_only(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "store.duckdb"
    with Store(path) as store:
        for name in TABLES:
            assert store.count(name) == 0
    with Store(path, read_only=True) as store:
        assert store.read("events").columns.tolist() == list(TABLES["events"].column_names)
        with pytest.raises(Exception, match="read-only"):
            store.query("INSERT INTO items (item_id) VALUES ('x')")


def test_ingest_report_and_content(store: Store, write: Write) -> None:
    report = store.ingest(
        "order_lines",
        write("lines.csv", GOOD_ORDER_LINES + "X,y,1,1,2010,,\n".replace("2010", "2010-12-02")),
    )
    assert (report.rows_read, report.rows_inserted, report.rows_rejected) == (4, 4, 0)
    assert (report.rows_updated, report.rows_skipped_existing, report.reject_path) == (0, 0, None)
    frame = store.read("order_lines", where="invoice_id = '536365'")
    assert frame["item_id"].tolist() == ["85123A", "71053"]
    assert frame["quantity"].dtype == "Int64"
    assert frame["time"].dtype == np.dtype("datetime64[ns]")
    assert store.read("order_lines", ["customer_id"])["customer_id"].tolist() == [
        "17850",
        "17850",
        None,
        None,
    ]
    assert store.count("order_lines") == 4
    total = store.query("SELECT sum(quantity) AS q FROM order_lines WHERE quantity > ?", [1])
    assert total["q"].iloc[0] == 18
    with pytest.raises(KeyError, match="no column"):
        store.read("order_lines", ["nope"])
    with pytest.raises(KeyError, match="unknown table"):
        store.count("nope")


def test_extra_columns_are_ignored_with_a_warning(store: Store, write: Write) -> None:
    path = write("items.csv", "ITEM_ID,Title,Colour,Weight\ni1,Mug,red,3\n")
    report = store.ingest("items", path)
    assert report.rows_inserted == 1
    assert len(report.warnings) == 1
    assert "'Colour'" in report.warnings[0] and "'Weight'" in report.warnings[0]
    assert store.read("items")[["item_id", "title", "price"]].iloc[0].tolist()[:2] == ["i1", "Mug"]


def test_reject_file_gets_bad_rows_and_good_rows_load(
    loaded: Store, write: Write, tmp_path: Path
) -> None:
    path = write(
        "lines.csv",
        HEADER
        + "9001,A,1,1.5,2010-12-02 10:00:00,1,UK\n"  # line 2: good
        + "9001,B,abc,1.5,2010-12-02 10:00:00,1,UK\n"  # line 3: bad quantity
        + "9002,C,2,2.0,2010-12-02 11:00:00,,UK\n"  # line 4: good
        + "9003,,2,2.0,not a date,,UK\n",  # line 5: two faults
    )
    before = loaded.count("order_lines")
    reject = tmp_path / "out" / "rejects.csv"
    report = loaded.ingest("order_lines", path, reject_path=reject)
    assert (report.rows_read, report.rows_inserted, report.rows_rejected) == (4, 2, 2)
    assert report.reject_path == str(reject)
    assert loaded.count("order_lines") == before + 2
    assert sorted(loaded.read("order_lines", where="invoice_id LIKE '900%'")["item_id"]) == [
        "A",
        "C",
    ]
    bad = pd.read_csv(reject, dtype=str, keep_default_na=False)
    assert bad.columns.tolist() == [*HEADER.strip().split(","), "line", "error"]
    assert bad["line"].tolist() == ["3", "5"]
    assert bad["quantity"].tolist() == ["abc", "2"]
    assert bad["time"].tolist() == ["2010-12-02 10:00:00", "not a date"]
    assert bad["error"].tolist() == [
        "column 'quantity': not an integer: 'abc'",
        "column 'item_id': required value is empty; "
        "column 'time': unparseable timestamp: 'not a date'",
    ]
    assert sorted(p.name for p in reject.parent.iterdir()) == ["rejects.csv"]  # no temp left


def test_no_reject_file_when_nothing_is_rejected(
    store: Store, write: Write, tmp_path: Path
) -> None:
    reject = tmp_path / "rejects.csv"
    report = store.ingest("order_lines", write("l.csv", GOOD_ORDER_LINES), reject_path=reject)
    assert report.rows_rejected == 0 and report.reject_path is None
    assert not reject.exists()


def test_reingest_adds_nothing_even_with_null_keys(loaded: Store, tmp_path: Path) -> None:
    before = snapshot(loaded)
    report = loaded.ingest("order_lines", tmp_path / "good_lines.csv")
    # the third line has no customer_id: NULL keys must still match (IS NOT DISTINCT FROM)
    assert (report.rows_inserted, report.rows_skipped_existing) == (0, 3)
    assert_same(before, snapshot(loaded))
    assert loaded.ingest("events", tmp_path / "good_events.csv").rows_inserted == 0


def test_duplicates_within_a_log_file_are_kept(store: Store, write: Write) -> None:
    line = "536365,85123A,6,2.55,2010-12-01 08:26:00,17850,United Kingdom\n"
    report = store.ingest("order_lines", write("dup.csv", HEADER + line * 3))
    assert report.rows_inserted == 3
    assert store.count("order_lines") == 3
    again = store.ingest("order_lines", write("dup2.csv", HEADER + line))
    assert (again.rows_inserted, again.rows_skipped_existing) == (0, 1)


def test_upsert_updates_price(loaded: Store, write: Write) -> None:
    report = loaded.ingest(
        "items", write("items2.csv", "item_id,title,price\ni1,Mug,5.0\ni2,Lamp,19.99\ni3,Pen,1\n")
    )
    assert (report.rows_inserted, report.rows_updated, report.rows_skipped_existing) == (1, 1, 1)
    items = loaded.read("items").set_index("item_id")
    assert items.loc["i1", "price"] == 5.0
    assert items.loc["i2", "price"] == 19.99
    assert loaded.count("items") == 3


def test_upsert_last_row_of_a_file_wins(store: Store, write: Write) -> None:
    report = store.ingest("items", write("i.csv", "item_id,price\ni1,1\ni2,2\ni1,3\n"))
    assert (report.rows_read, report.rows_inserted) == (3, 2)
    assert any("superseded" in w for w in report.warnings)
    assert store.read("items", where="item_id = 'i1'")["price"].tolist() == [3.0]


def test_failure_mid_load_rolls_back(
    loaded: Store, write: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(loaded)
    original = Store._upsert

    def crash_after_writing(self: Store, *args: str) -> tuple[int, int, int]:
        original(self, *args)  # the DELETE and INSERT have run inside the transaction
        raise RuntimeError("disk full")

    monkeypatch.setattr(Store, "_upsert", crash_after_writing)
    reject = tmp_path / "rejects.csv"
    path = write("items.csv", "item_id,price\ni1,99\ni9,1\n,3\n")
    with pytest.raises(RuntimeError, match="disk full"):
        loaded.ingest("items", path, reject_path=reject)
    assert_same(before, snapshot(loaded))
    assert not reject.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".rejects")] == []
    monkeypatch.undo()
    assert loaded.ingest("items", path, reject_path=reject).rows_inserted == 1  # still usable


def test_write_frame_validates_and_names_rows(store: Store) -> None:
    frame = pd.DataFrame(
        {
            "user_id": ["1", "2", "3"],
            "item_id": ["a", "b", "c"],
            "event_type": ["rating", "rating", "like"],
            "value": [4.0, 5.0, 1.0],
            "timestamp": pd.to_datetime([874965758, 876893171, 878542960], unit="s"),
        }
    )
    with pytest.raises(IngestError) as info:
        store.write_frame("events", frame, source="movielens-100k")
    assert str(info.value.problems[0]) == (
        "movielens-100k: row 3: column 'event_type': not one of view, cart, purchase, rating: "
        "'like'"
    )
    assert store.count("events") == 0
    report = store.write_frame("events", frame.iloc[:2], source="movielens-100k")
    assert report.rows_inserted == 2
    assert store.read("events")["timestamp"].min() == pd.Timestamp("1997-09-22 22:02:38")


def test_large_file_loads_fast(store: Store, tmp_path: Path) -> None:
    """100k rows: validate + load, then re-ingest adds nothing; both in a few seconds."""
    n = 100_000
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "user_id": rng.integers(0, 5000, n).astype(str),
            "item_id": rng.integers(0, 2000, n).astype(str),
            "event_type": rng.choice(["view", "cart", "purchase"], n),
            "value": np.where(rng.random(n) < 0.5, np.nan, 1.0),
            "timestamp": pd.Timestamp("2020-01-01") + pd.to_timedelta(np.arange(n), unit="s"),
        }
    )
    path = tmp_path / "events.csv.gz"
    frame.to_csv(path, index=False)
    started = time.perf_counter()
    first = store.ingest("events", path)
    second = store.ingest("events", path)
    elapsed = time.perf_counter() - started
    assert first.rows_inserted == n
    assert (second.rows_inserted, second.rows_skipped_existing) == (0, n)
    assert store.count("events") == n
    assert elapsed < 15, f"two 100k-row ingests took {elapsed:.1f}s"


def _event_frames(rng: np.random.Generator, n_frames: int) -> list[pd.DataFrame]:
    """Small event batches that overlap: repeats inside a batch, across batches, and
    empty values in key columns."""
    frames = []
    for _ in range(n_frames):
        n = int(rng.integers(1, 6))
        frames.append(
            pd.DataFrame(
                {
                    "user_id": [f"u{rng.integers(3)}" for _ in range(n)],
                    "item_id": [f"i{rng.integers(3)}" for _ in range(n)],
                    "event_type": ["view"] * n,
                    "value": [None if rng.random() < 0.5 else 2.0 for _ in range(n)],
                    "timestamp": pd.to_datetime("2026-03-01")
                    + pd.to_timedelta(rng.integers(0, 3, n), "h"),
                    "session_id": [None if rng.random() < 0.5 else "s1" for _ in range(n)],
                }
            )
        )
    return frames


def _stored_events(store: Store) -> pd.DataFrame:
    columns = list(TABLES["events"].column_names)
    events = store.read("events").astype(object).where(lambda f: f.notna(), None)
    return events.sort_values(columns, key=lambda c: c.astype(str)).reset_index(drop=True)


@pytest.mark.parametrize("seed", range(5))
def test_frames_written_together_equal_frames_written_one_after_the_other(
    tmp_path: Path, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    first, frames = _event_frames(rng, 3), _event_frames(rng, 8)
    sources = [f"batch {i}" for i in range(len(frames))]
    with Store(tmp_path / "one.duckdb") as one, Store(tmp_path / "group.duckdb") as group:
        for f in first:  # some rows are stored already
            one.write_frame("events", f, source="before", quality=False)
            group.write_frame("events", f, source="before", quality=False)
        alone = [one.write_frame("events", f, source=s, quality=False)
                 for f, s in zip(frames, sources, strict=True)]  # fmt: skip
        together = group.write_frames("events", frames, sources=sources)
        assert [(r.rows_inserted, r.rows_skipped_existing) for r in together] == [
            (r.rows_inserted, r.rows_skipped_existing) for r in alone
        ]
        assert_frame_equal(_stored_events(one), _stored_events(group))
        assert group.data_versions()["events"] == 4  # one write for the whole group


def test_a_faulty_frame_in_a_group_fails_alone(tmp_path: Path) -> None:
    frames = _event_frames(np.random.default_rng(0), 3)
    frames[1] = frames[1].assign(event_type="teleport")
    with Store(tmp_path / "s.duckdb") as store:
        out = store.write_frames("events", frames, sources=["a", "b", "c"])
        assert isinstance(out[1], IngestError) and "teleport" in str(out[1])
        assert out[0].rows_inserted + out[2].rows_inserted == store.count("events") > 0
