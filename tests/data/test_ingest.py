"""Reading and validating files: every fault names file, line, column and reason, and a
rejected file leaves the store exactly as it was."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shopsense.data.ingest import (
    IngestError,
    Problem,
    read_table_file,
    validate_frame,
)
from shopsense.data.schema import EVENTS, ITEMS, ORDER_LINES, ORDERS, USERS
from shopsense.data.store import Store
from tests.data.conftest import assert_same, snapshot

Write = Callable[[str, str | bytes], Path]

HEADER = "invoice_id,item_id,quantity,unit_price,time,customer_id,country\n"
ROW = "536370,22728,24,3.75,2010-12-01 08:45:00,12583,France\n"


def rejected(store: Store, table: str, path: Path, **kwargs: object) -> IngestError:
    """Ingest `path`, expect IngestError, and check that no table changed."""
    before = snapshot(store)
    with pytest.raises(IngestError) as info:
        store.ingest(table, path, **kwargs)  # type: ignore[arg-type]
    assert_same(before, snapshot(store))
    return info.value


def only(error: IngestError) -> Problem:
    assert error.total == len(error.problems) == 1, error.problems
    return error.problems[0]


# ----------------------------------------------------------------- error kinds, via the store


@pytest.mark.parametrize(
    ("row", "column", "reason", "value"),
    [
        (
            "536370,22728,abc,3.75,2010-12-01 08:45:00,12583,France",
            "quantity",
            "not an integer",
            "abc",
        ),
        (
            "536370,22728,2.5,3.75,2010-12-01 08:45:00,12583,France",
            "quantity",
            "not an integer",
            "2.5",
        ),
        (
            "536370,22728,24,abc,2010-12-01 08:45:00,12583,France",
            "unit_price",
            "not a number",
            "abc",
        ),
        (
            "536370,22728,24,3.75,2010-13-45 08:45:00,12583,France",
            "time",
            "unparseable timestamp",
            "2010-13-45 08:45:00",
        ),
        (
            "536370,22728,24,3.75,yesterday,12583,France",
            "time",
            "unparseable timestamp",
            "yesterday",
        ),
        (
            "536370,,24,3.75,2010-12-01 08:45:00,12583,France",
            "item_id",
            "required value is empty",
            None,
        ),
        (
            "536370,   ,24,3.75,2010-12-01 08:45:00,12583,France",
            "item_id",
            "required value is empty",
            None,
        ),
    ],
)
def test_bad_cell_rejects_file_and_names_line_column_reason(
    loaded: Store, write: Write, row: str, column: str, reason: str, value: str | None
) -> None:
    path = write("orders.csv", HEADER + ROW + ROW + row + "\n" + ROW)
    problem = only(rejected(loaded, "order_lines", path))
    assert (problem.file, problem.line, problem.column, problem.reason, problem.value) == (
        str(path),
        4,
        column,
        reason,
        value,
    )
    assert str(problem).startswith(f"{path}:4: column '{column}': {reason}")


def test_value_not_in_choices(loaded: Store, write: Write) -> None:
    path = write(
        "events.csv",
        "user_id,item_id,event_type,timestamp\nu9,i1,view,2016-01-04\nu9,i2,buy,2016-01-04\n",
    )
    problem = only(rejected(loaded, "events", path))
    assert (problem.line, problem.column, problem.value) == (3, "event_type", "buy")
    assert problem.reason == "not one of view, cart, purchase, rating"


def test_missing_required_column(loaded: Store, write: Write) -> None:
    path = write("orders.csv", "invoice_id,item_id,unit_price,time\n1,a,1.0,2010-12-01\n")
    problem = only(rejected(loaded, "order_lines", path))
    assert (problem.line, problem.column, problem.reason) == (
        None,
        "quantity",
        "missing required column",
    )
    assert str(problem) == f"{path}: column 'quantity': missing required column"


def test_missing_required_column_is_fatal_even_with_reject_file(
    loaded: Store, write: Write, tmp_path: Path
) -> None:
    path = write("orders.csv", "invoice_id,item_id,unit_price,time\n1,a,1.0,2010-12-01\n")
    reject = tmp_path / "rejects.csv"
    rejected(loaded, "order_lines", path, reject_path=reject)
    assert not reject.exists()


def test_bad_encoding_names_line_of_first_bad_byte(loaded: Store, write: Write) -> None:
    text = HEADER + ROW + ROW + "536370,22728,24,3.75,2010-12-01 08:45:00,12583,Fran\u00e7e\n"
    path = write("latin1.csv", text.encode("latin-1"))
    problem = only(rejected(loaded, "order_lines", path))
    assert problem.line == 4
    assert problem.column is None
    assert "not valid UTF-8" in problem.reason and "0xE7" in problem.reason


def test_bad_encoding_in_gzip_and_one_problem_per_line(loaded: Store, write: Write) -> None:
    text = (
        "user_id,item_id,event_type,timestamp\n"
        "u1,i1,view,2016-01-01\n"
        "u\u00e9,\u00e9\u00e9,view,2016-01-01\n"  # three bad bytes, one problem for line 3
        "u\u00e9,i1,view,2016-01-01\n"
    )
    path = write("ev.csv.gz", gzip.compress(text.encode("latin-1")))
    error = rejected(loaded, "events", path)
    assert [(p.file, p.line) for p in error.problems] == [(str(path), 3), (str(path), 4)]


def test_bom_is_fine(store: Store, write: Write) -> None:
    path = write("bom.csv", "\ufeff" + HEADER + ROW)
    assert store.ingest("order_lines", path).rows_inserted == 1
    assert store.read("order_lines")["invoice_id"].tolist() == ["536370"]


def test_several_problems_in_line_order_and_message_is_capped(loaded: Store, write: Write) -> None:
    bad = "536370,22728,x,y,2010-12-01 08:45:00,12583,France\n"  # two faults per row
    path = write("many.csv", HEADER + ROW + bad * 15)
    error = rejected(loaded, "order_lines", path)
    assert error.total == 30
    assert [(p.line, p.column) for p in error.problems[:4]] == [
        (3, "quantity"),
        (3, "unit_price"),
        (4, "quantity"),
        (4, "unit_price"),
    ]
    message = str(error)
    assert "30 problems" in message
    assert message.count(str(path) + ":") == 20
    assert "and 10 more" in message


def test_problem_text() -> None:
    problem = Problem("orders.csv", 17, "quantity", "not an integer", "abc")
    assert str(problem) == "orders.csv:17: column 'quantity': not an integer: 'abc'"
    row = Problem("orders.parquet", 3, "quantity", "not an integer", "2.5", unit="row")
    assert str(row) == "orders.parquet: row 3: column 'quantity': not an integer: '2.5'"
    assert isinstance(IngestError([problem]), ValueError)


# ----------------------------------------------------------------- formats and line numbers


def test_tsv_and_gzip(store: Store, write: Write) -> None:
    tsv = HEADER.replace(",", "\t") + ROW.replace(",", "\t") + "1\tx\tabc\t1\t2010-12-01\t\t\n"
    error = rejected(store, "order_lines", write("lines.tsv", tsv))
    assert (error.problems[0].line, error.problems[0].column) == (3, "quantity")
    csv_gz = write("lines.csv.gz", gzip.compress((HEADER + ROW + ROW + "1,x,1,1,bad,,\n").encode()))
    problem = only(rejected(store, "order_lines", csv_gz))
    assert (problem.file, problem.line, problem.column) == (str(csv_gz), 4, "time")


def test_jsonl_lines_are_physical(store: Store, write: Write) -> None:
    path = write(
        "events.jsonl",
        '{"user_id": "u1", "item_id": "i1", "event_type": "view", "timestamp": 1451815200}\n'
        "\n"
        '{"user_id": 7, "item_id": "i2", "event_type": "cart", "timestamp": 1451815300}\n'
        '{"user_id": "u2", "item_id": "i2", "event_type": "cart", "timestamp": "x"}\n'
        "{not json\n",
    )
    error = rejected(store, "events", path)
    assert [(p.line, p.column) for p in error.problems] == [(4, "timestamp"), (5, None)]
    assert error.problems[1].reason.startswith("invalid JSON")


def test_jsonl_values_are_typed(write: Write) -> None:
    path = write(
        "events.ndjson",
        '{"User_ID": 7, "item_id": "i2", "event_type": "Cart", "value": 2, '
        '"timestamp": "2016-01-03T10:00:00+01:00"}\n',
    )
    frame = read_table_file(path, EVENTS)
    assert frame.iloc[0].to_dict() == {
        "user_id": "7",
        "item_id": "i2",
        "event_type": "cart",
        "value": 2.0,
        "timestamp": pd.Timestamp("2016-01-03 09:00:00"),
        "session_id": None,
    }


def test_parquet_rows(store: Store, tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "invoice_id": ["1", "2", "3"],
            "item_id": ["a", "b", "c"],
            "quantity": [1.0, 2.0, 2.5],
            "unit_price": [1.0, 2.0, 3.0],
            "time": pd.to_datetime(["2010-12-01", "2010-12-02", "2010-12-03"]),
        }
    )
    path = tmp_path / "lines.parquet"
    frame.to_parquet(path)
    problem = only(rejected(store, "order_lines", path))
    assert (problem.line, problem.column, problem.unit) == (3, "quantity", "row")
    assert str(problem) == f"{path}: row 3: column 'quantity': not an integer: '2.5'"
    frame.loc[2, "quantity"] = 3.0
    frame.to_parquet(path)
    assert store.ingest("order_lines", path).rows_inserted == 3
    assert store.read("order_lines")["quantity"].tolist() == [1, 2, 3]


def test_multiline_quoted_field_keeps_physical_lines(store: Store, write: Write) -> None:
    text = (
        "item_id,title,price\n"
        'i1,"Mug\nwith a\nhandle",4.5\n'  # lines 2-4
        "i2,Lamp,cheap\n"  # line 5
    )
    problem = only(rejected(store, "items", write("items.csv", text)))
    assert (problem.line, problem.column, problem.value) == (5, "price", "cheap")
    fixed = write("items_ok.csv", text.replace("cheap", "20"))
    assert store.ingest("items", fixed).rows_inserted == 2
    assert store.read("items", where="item_id = 'i1'")["title"][0] == "Mug\nwith a\nhandle"


def test_ragged_rows_are_row_problems(store: Store, write: Write, tmp_path: Path) -> None:
    text = "item_id,title,price\ni1,Mug,4.5\n\ni2,Lamp,20,extra\ni3,Pen\ni4,Cup,2\n"
    error = rejected(store, "items", write("items.csv", text))
    assert [(p.line, p.reason) for p in error.problems] == [
        (4, "expected 3 fields, found 4"),
        (5, "expected 3 fields, found 2"),
    ]
    report = store.ingest("items", tmp_path / "items.csv", reject_path=tmp_path / "bad.csv")
    assert (report.rows_inserted, report.rows_rejected) == (2, 2)


def test_unterminated_quote_does_not_crash(store: Store, write: Write) -> None:
    error = rejected(store, "items", write("items.csv", 'item_id,title\ni1,"Mug\ni2,Lamp\n'))
    assert error.total >= 1


def test_empty_and_unknown_files(store: Store, write: Write) -> None:
    assert "empty" in only(rejected(store, "items", write("empty.csv", ""))).reason
    assert "format" in only(rejected(store, "items", write("items.xlsx", "x"))).reason
    ok = write("items.data", "item_id\ni1\n")
    assert store.ingest("items", ok, format="csv").rows_inserted == 1


# ----------------------------------------------------------------- typing and columns


def test_frame_has_schema_columns_and_types(write: Write) -> None:
    path = write(
        "orders.csv",
        " Invoice_ID ,TIME,Cancelled,Note\nC1,2010-12-01T08:26:00,yes,x\n2,2016-01-03,0,\n",
    )
    frame = read_table_file(path, ORDERS)
    assert list(frame.columns) == list(ORDERS.column_names)
    assert frame["invoice_id"].dtype == object
    assert frame["customer_id"].tolist() == [None, None]
    assert frame["time"].dtype == np.dtype("datetime64[ns]")
    assert frame["time"].tolist() == [pd.Timestamp("2010-12-01 08:26"), pd.Timestamp("2016-01-03")]
    assert frame["cancelled"].dtype == "boolean"
    assert frame["cancelled"].tolist() == [True, False]


def test_integer_float_boolean_parsing(write: Write) -> None:
    path = write(
        "users.csv",
        "user_id,age,signup_time\nu1,42,\nu2,+7,\nu3,3.0,\nu4,,\n",
    )
    frame = read_table_file(path, USERS)
    assert frame["age"].dtype == "Int64"
    assert frame["age"].tolist() == [42, 7, 3, pd.NA]
    items = write("items.csv", "item_id,price\ni1,1e3\ni2,.5\ni3,\n")
    prices = read_table_file(items, ITEMS)["price"]
    assert prices.dtype == np.float64
    assert prices.tolist()[:2] == [1000.0, 0.5] and np.isnan(prices[2])
    for value, reason in [("nan", "not a number"), ("inf", "not a finite number")]:
        with pytest.raises(IngestError) as info:
            read_table_file(write("p.csv", f"item_id,price\ni1,{value}\n"), ITEMS)
        assert info.value.problems[0].reason == reason
    with pytest.raises(IngestError) as info:
        read_table_file(write("o.csv", "invoice_id,time,cancelled\n1,2010-12-01,maybe\n"), ORDERS)
    assert (info.value.problems[0].column, info.value.problems[0].reason) == (
        "cancelled",
        "not a boolean",
    )


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            ["2010-12-01 08:26:00", "2010-12-01T08:26:00", "2016-01-03"],
            ["2010-12-01 08:26:00", "2010-12-01 08:26:00", "2016-01-03 00:00:00"],
        ),
        (["1451815200", "1451815260"], ["2016-01-03 10:00:00", "2016-01-03 10:01:00"]),
        (["1451815200000", "1451815200"], ["2016-01-03 10:00:00", "2016-01-03 10:00:00"]),
        (
            ["2016-01-03T10:00:00+02:00", "2016-01-03T10:00:00Z", "2016-01-03 10:00:00"],
            ["2016-01-03 08:00:00", "2016-01-03 10:00:00", "2016-01-03 10:00:00"],
        ),
    ],
)
def test_timestamps(write: Write, values: list[str], expected: list[str]) -> None:
    body = "".join(f"u,i,view,{v}\n" for v in values)
    frame = read_table_file(write("e.csv", "user_id,item_id,event_type,timestamp\n" + body), EVENTS)
    assert frame["timestamp"].dtype == np.dtype("datetime64[ns]")
    assert frame["timestamp"].tolist() == [pd.Timestamp(e) for e in expected]


def test_epoch_mixed_with_iso_and_out_of_range(write: Write) -> None:
    body = "u,i,view,2016-01-03\nu,i,view,1451815200\nu,i,view,3000-01-01\n"
    with pytest.raises(IngestError) as info:
        read_table_file(write("e.csv", "user_id,item_id,event_type,timestamp\n" + body), EVENTS)
    assert [(p.line, p.reason) for p in info.value.problems] == [
        (3, "unparseable timestamp"),
        (4, "timestamp out of range"),
    ]


def test_validate_frame_splits_good_and_bad() -> None:
    frame = pd.DataFrame(
        {
            "item_id": ["i1", "i2", None, "i4"],
            "price": ["1.5", "x", "2", "3"],
            "colour": ["red", "blue", "green", "grey"],
        }
    )
    good, bad, problems = validate_frame(frame, ITEMS, source="catalogue.csv")
    assert list(good.columns) == list(ITEMS.column_names)
    assert good["item_id"].tolist() == ["i1", "i4"]
    assert good["price"].tolist() == [1.5, 3.0]
    assert bad["line"].tolist() == [3, 4]
    assert bad["price"].tolist() == ["x", "2"]
    assert bad["colour"].tolist() == ["blue", "green"]
    assert bad["error"].tolist() == [
        "column 'price': not a number: 'x'",
        "column 'item_id': required value is empty",
    ]
    assert [str(p) for p in problems] == [
        "catalogue.csv:3: column 'price': not a number: 'x'",
        "catalogue.csv:4: column 'item_id': required value is empty",
    ]


def test_validate_frame_accepts_typed_frames() -> None:
    frame = pd.DataFrame(
        {
            "invoice_id": [536365, 536366],
            "item_id": ["a", "b"],
            "quantity": pd.array([1, 2], dtype="Int64"),
            "unit_price": [1, 2],
            "time": pd.to_datetime(["2010-12-01 09:00", "2010-12-01 10:00"]).tz_localize(
                "Europe/Paris"
            ),
            "customer_id": [17850.0, np.nan],
        }
    )
    good, bad, problems = validate_frame(frame, ORDER_LINES, source="loader", line_offset=1)
    assert problems == [] and bad.empty
    assert good["invoice_id"].tolist() == ["536365", "536366"]
    assert good["customer_id"].tolist() == ["17850", None]
    assert good["unit_price"].dtype == np.float64
    assert good["time"].tolist() == [
        pd.Timestamp("2010-12-01 08:00"),
        pd.Timestamp("2010-12-01 09:00"),
    ]


def test_blank_lines_literal_quotes_and_empty_spreadsheet_rows(store: Store, write: Write) -> None:
    text = (
        "item_id,title,price\r\n"
        "\r\n"  # line 2: blank
        'i1,5" screen,4.5\r\n'  # line 3: a literal quote (odd count: Python csv path)
        ",,\r\n"  # line 4: an empty spreadsheet row, skipped
        "i2,Lamp,x\r\n"  # line 5
    )
    problem = only(rejected(store, "items", write("items.csv", text)))
    assert (problem.line, problem.column) == (5, "price")
    fast = text.replace('5" screen', "Screen")  # same file without the odd quote: Arrow path
    problem = only(rejected(store, "items", write("items2.csv", fast)))
    assert (problem.line, problem.column) == (5, "price")
    report = store.ingest("items", write("items3.txt", text.replace(",", "\t").replace("x", "2")))
    assert (report.rows_read, report.rows_inserted) == (2, 2)
    assert store.read("items", where="item_id = 'i1'")["title"].tolist() == ['5" screen']


def test_empty_jsonl_and_pickled_error(store: Store, write: Write) -> None:
    import pickle

    error = rejected(store, "events", write("e.jsonl", "\n\n"))
    assert "empty" in only(error).reason
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.problems, copy.total, str(copy)) == (error.problems, error.total, str(error))
