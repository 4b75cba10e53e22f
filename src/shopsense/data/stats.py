"""What is in the store: sizes, coverage and data quality, computed in DuckDB.

`shopsense data stats` shows this before any model is trained: how many users and items a
recommender will see, how sparse the interactions are, how many rows are duplicates or
cancellations, and which columns are mostly empty. Everything is SQL so 500k-row tables take
a fraction of a second.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import duckdb
from rich.table import Table as RichTable

from shopsense.data.schema import EVENTS, ORDER_LINES, TABLES, EventType, Table


@dataclass(frozen=True)
class TableStats:
    """Size and quality of one table.

    `duplicates` counts rows that repeat an earlier row exactly (rows - distinct rows);
    `nulls` maps every column to its number of missing values.
    """

    name: str
    rows: int
    duplicates: int
    nulls: dict[str, int]


@dataclass(frozen=True)
class EventStats:
    """Coverage of the interaction log. `density` is None when there are no events."""

    users: int
    items: int
    pairs: int
    density: float | None
    first: datetime | None
    last: datetime | None
    by_type: dict[str, int]


@dataclass(frozen=True)
class OrderLineStats:
    """Coverage of the invoice lines; `cancellation_lines` counts returns and cancellations
    (their line type, or a negative quantity where the type is not given)."""

    invoices: int
    customers: int
    items: int
    first: datetime | None
    last: datetime | None
    cancellation_lines: int


@dataclass(frozen=True)
class StoreStats:
    """Everything `data stats` reports, for the CLI (`render`) and for scripts (`to_dict`)."""

    tables: dict[str, TableStats]
    events: EventStats
    order_lines: OrderLineStats

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (timestamps as ISO strings)."""
        return _jsonable(asdict(self))

    def render(self) -> RichTable:
        """A rich Table with one section per store table."""
        out = RichTable(title="shopsense store", show_lines=False)
        out.add_column("table", style="bold")
        out.add_column("measure")
        out.add_column("value", justify="right")
        for name, table in self.tables.items():
            rows: list[tuple[str, str]] = [("rows", f"{table.rows:,}")]
            if name == EVENTS.name:
                ev = self.events
                rows += [
                    ("users", f"{ev.users:,}"),
                    ("items", f"{ev.items:,}"),
                    ("user-item pairs", f"{ev.pairs:,}"),
                    ("density", "-" if ev.density is None else f"{ev.density:.6f}"),
                    ("time range", _range(ev.first, ev.last)),
                ]
                rows += [(f"{kind} events", f"{n:,}") for kind, n in ev.by_type.items()]
            elif name == ORDER_LINES.name:
                ol = self.order_lines
                rows += [
                    ("invoices", f"{ol.invoices:,}"),
                    ("customers", f"{ol.customers:,}"),
                    ("items", f"{ol.items:,}"),
                    ("time range", _range(ol.first, ol.last)),
                    ("return/cancel lines", f"{ol.cancellation_lines:,}"),
                ]
            rows.append(("duplicate rows", f"{table.duplicates:,}"))
            empty = {c: n for c, n in table.nulls.items() if n}
            rows += [(f"empty {c}", f"{n:,}") for c, n in empty.items()]
            for i, (measure, value) in enumerate(rows):
                out.add_row(name if i == 0 else "", measure, value, end_section=i == len(rows) - 1)
        return out


def _range(first: datetime | None, last: datetime | None) -> str:
    if first is None or last is None:
        return "-"
    return f"{first:%Y-%m-%d %H:%M} .. {last:%Y-%m-%d %H:%M}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    rows = con.execute(sql).fetchall()  # fetch all: DuckDB refuses work beside open results
    if not rows:  # an aggregate always gives a row; keep the type checker content
        raise RuntimeError(f"no result for {sql}")
    return rows[0]


def table_stats(con: duckdb.DuckDBPyConnection, table: Table) -> TableStats:
    """Rows, exact duplicates and per-column null counts of one table, in one scan each."""
    name = _q(table.name)
    nulls_sql = ", ".join(f"count(*) - count({_q(c)})" for c in table.column_names)
    row = _one(con, f"SELECT count(*), {nulls_sql} FROM {name}")
    rows = int(row[0])
    distinct = _one(con, f"SELECT count(*) FROM (SELECT DISTINCT * FROM {name})")[0]
    return TableStats(
        name=table.name,
        rows=rows,
        duplicates=rows - int(distinct),
        nulls={c: int(n) for c, n in zip(table.column_names, row[1:], strict=True)},
    )


def event_stats(con: duckdb.DuckDBPyConnection) -> EventStats:
    """Users, items, pairs, density, time range and counts by event type."""
    t = _q(EVENTS.name)
    users, items, first, last = _one(
        con,
        f"SELECT count(DISTINCT user_id), count(DISTINCT item_id), min(timestamp), "
        f"max(timestamp) FROM {t}",
    )
    pairs = int(_one(con, f"SELECT count(*) FROM (SELECT DISTINCT user_id, item_id FROM {t})")[0])
    by_type = {kind.value: 0 for kind in EventType}
    for kind, n in con.execute(f"SELECT event_type, count(*) FROM {t} GROUP BY 1").fetchall():
        by_type[str(kind)] = int(n)
    users, items = int(users), int(items)
    return EventStats(
        users=users,
        items=items,
        pairs=pairs,
        density=pairs / (users * items) if users and items else None,
        first=first,
        last=last,
        by_type=by_type,
    )


def order_line_stats(con: duckdb.DuckDBPyConnection) -> OrderLineStats:
    """Invoices, customers, items, time range and cancellation lines."""
    row = _one(
        con,
        f"SELECT count(DISTINCT invoice_id), count(DISTINCT customer_id), "
        f"count(DISTINCT item_id), min(time), max(time), "
        "count(*) FILTER (WHERE line_type IN ('return', 'cancellation') "
        "OR (line_type IS NULL AND quantity < 0)) "
        f"FROM {_q(ORDER_LINES.name)}",
    )
    return OrderLineStats(
        invoices=int(row[0]),
        customers=int(row[1]),
        items=int(row[2]),
        first=row[3],
        last=row[4],
        cancellation_lines=int(row[5]),
    )


def compute_stats(con: duckdb.DuckDBPyConnection) -> StoreStats:
    """All figures of `StoreStats` from an open store connection."""
    return StoreStats(
        tables={name: table_stats(con, spec) for name, spec in TABLES.items()},
        events=event_stats(con),
        order_lines=order_line_stats(con),
    )
