"""The embedded store: one DuckDB file holding every table of the schema.

Files are validated before anything is written and each load runs in one transaction, so
the store never holds half a file. Rows already stored are skipped (logs) or replaced
(catalogue tables with `upsert`), which makes loading the same export twice harmless.

One process writes a store at a time: a read-write `Store` holds the store's write lock
(`<file>.lock` beside it, naming the holder's pid) for as long as it is open, and a second
writer gets `StoreLocked` naming that pid instead of a DuckDB lock error or a lost write.
Readers (`read_only=True`) take no lock. Every write that changes a table bumps that
table's data version (`data_versions()`), so caches can be kept per table instead of
per file.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from shopsense.data.ingest import Checked, IngestError, check_file, check_frame, frame_dtype
from shopsense.data.mapping import Mapping
from shopsense.data.quality import QualityReport, item_summary, quality_report
from shopsense.data.schema import TABLES, ColumnType, Table
from shopsense.data.schema import table as table_named
from shopsense.data.stats import StoreStats, compute_stats

_ARROW_TYPES: dict[ColumnType, pa.DataType] = {
    ColumnType.STRING: pa.string(),
    ColumnType.INTEGER: pa.int64(),
    ColumnType.FLOAT: pa.float64(),
    ColumnType.TIMESTAMP: pa.timestamp("ns"),
    ColumnType.BOOLEAN: pa.bool_(),
}


@dataclass(frozen=True)
class IngestReport:
    """What one load did.

    rows_read = rows_inserted + rows_updated + rows_skipped_existing + rows_rejected, plus,
    for upsert tables, rows superseded by a later row with the same key in the same input
    (counted in `warnings`). `reject_path` is set only when a reject file was written.
    """

    table: str
    source: str
    rows_read: int
    rows_inserted: int
    rows_updated: int
    rows_skipped_existing: int
    rows_rejected: int
    reject_path: str | None
    warnings: tuple[str, ...]
    quality: QualityReport | None = None

    def summary(self) -> str:
        """One line for a person: what went where."""
        text = (
            f"{self.source} -> {self.table}: {self.rows_read:,} read, "
            f"{self.rows_inserted:,} inserted, {self.rows_updated:,} updated, "
            f"{self.rows_skipped_existing:,} already stored, {self.rows_rejected:,} rejected"
        )
        if self.reject_path:
            text += f" (see {self.reject_path})"
        return text


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Store:
    """A DuckDB file with the schema's tables; open it, ingest into it, read from it.

    Use as a context manager so the file is closed (DuckDB allows one writer per file).
    """

    def __init__(
        self,
        path: str | Path = "shopsense.duckdb",
        *,
        read_only: bool = False,
        wait_s: float = 5.0,
    ) -> None:
        self.path = str(path)
        self.read_only = read_only
        self._lock: WriteLock | None = None
        self._con: duckdb.DuckDBPyConnection | None = None
        if not read_only and self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._lock = WriteLock(self.path).acquire()  # StoreLocked: another process writes
        existed = self.path != ":memory:" and Path(self.path).exists()
        try:
            self._con = _connect(self.path, read_only, wait_s)
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise
        if not read_only and not (existed and _schema_ready(self.path)):
            for spec in TABLES.values():
                _run(self._con, spec.ddl())
            _add_new_columns(self._con)
            _run(self._con, _LOG_DDL)
            _run(self._con, _LOG_ITEMS_DDL)
            _run(self._con, _VERSIONS_DDL)
            _mark_schema_ready(self.path)

    # -- lifecycle

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the DuckDB connection; closing twice is harmless."""
        if self._con is not None:
            self._con.close()
            self._con = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The open DuckDB connection, for queries this class does not wrap."""
        if self._con is None:
            raise RuntimeError(f"store {self.path} is closed")
        return self._con

    # -- loading

    def ingest(
        self,
        table: str,
        path: str | Path,
        *,
        reject_path: str | Path | None = None,
        format: str | None = None,
        mapping: Mapping | None = None,
    ) -> IngestReport:
        """Validate and load one file into `table`.

        Without `reject_path` any bad row rejects the whole file (IngestError, store
        unchanged). With it, bad rows go to that CSV and the good rows load; faults of the
        whole file (missing column, bad encoding) still raise. `mapping` maps a shop's own
        columns and conventions first (`shopsense.data.mapping`).
        """
        checked = self.check(table, path, format=format, mapping=mapping)
        return self._apply(checked, reject_path)

    def check(
        self,
        table: str,
        path: str | Path,
        *,
        format: str | None = None,
        mapping: Mapping | None = None,
    ) -> Checked:
        """Read, map and validate a file for `table` without writing anything (a dry run)."""
        spec = table_named(table)
        transform = None
        if mapping is not None and not mapping.is_empty:
            mapping.check_table(table)

            def transform(frame: pd.DataFrame, source: str) -> pd.DataFrame:
                return mapping.apply(frame, table, source=source)

        return check_file(path, spec, format=format, transform=transform)

    def write_frame(
        self,
        table: str,
        frame: pd.DataFrame,
        *,
        source: str,
        reject_path: str | Path | None = None,
        quality: bool = True,
    ) -> IngestReport:
        """Validate and load a frame built in code (data set loaders): same rules as files.

        Faults name `source` and the 1-based row number of the frame. `quality=False` skips
        the data-quality report and the ingest log (the service's small, frequent event
        writes, which would otherwise read the catalogue on every request).
        """
        spec = table_named(table)
        checked = check_frame(frame, spec, source=source, line_offset=1, unit="row")
        return self._apply(checked, reject_path, quality=quality)

    def write_frames(
        self, table: str, frames: Sequence[pd.DataFrame], *, sources: Sequence[str]
    ) -> list[IngestReport | Exception]:
        """Several small frames (the service's concurrent event batches) in one validation
        and one transaction, each with its own report, as if written one after the other
        by `write_frame(..., quality=False)`: a row already stored, or stored by an earlier
        frame of the group, is skipped. If any frame has a fault, each is written on its
        own instead, so the faulty one fails alone (its IngestError in its place)."""
        spec = table_named(table)
        if spec.upsert or len(frames) < 2:
            return [self._each(table, f, s) for f, s in zip(frames, sources, strict=True)]
        whole = pd.concat(list(frames), ignore_index=True)
        checked = check_frame(whole, spec, source=", ".join(sources), line_offset=1, unit="row")
        if checked.fatal or checked.problem_count or len(checked.good) != len(whole):
            return [self._each(table, f, s) for f, s in zip(frames, sources, strict=True)]
        good = checked.good.reset_index(drop=True)
        owner = np.repeat(np.arange(len(frames)), [len(f) for f in frames])
        con, target = self.connection, _quote(spec.name)
        incoming = f"_incoming_{uuid.uuid4().hex}"
        con.register(
            incoming,
            _to_arrow(good, spec).append_column(
                "_row", pa.array(np.arange(len(good), dtype=np.int64))
            ),
        )
        same = " AND ".join(f"o.{_quote(c)} IS NOT DISTINCT FROM n.{_quote(c)}" for c in spec.key)
        try:
            with _transaction(con):
                found = _run(
                    con,
                    f"SELECT _row FROM {incoming} n WHERE NOT EXISTS "
                    f"(SELECT 1 FROM {target} o WHERE {same}) ORDER BY _row",
                )
                fresh = np.array([r[0] for r in found], dtype=np.int64)
                keep = _first_frame_only(good, owner, fresh, spec.key)
                if len(keep):
                    columns = ", ".join(_quote(c) for c in spec.column_names)
                    kept = f"_kept_{uuid.uuid4().hex}"
                    con.register(kept, pa.table({"_row": pa.array(keep)}))
                    try:
                        _run(
                            con,
                            f"INSERT INTO {target} ({columns}) SELECT {columns} FROM "
                            f"{incoming} WHERE _row IN (SELECT _row FROM {kept})",
                        )
                    finally:
                        con.unregister(kept)
                version = self._bump(spec.name) if len(keep) else None
        finally:
            con.unregister(incoming)
        if version is not None:
            _remember_version(self.path, spec.name, version)
        inserted = np.bincount(owner[keep], minlength=len(frames))
        return [
            IngestReport(
                table=spec.name,
                source=source,
                rows_read=len(frame),
                rows_inserted=int(n),
                rows_updated=0,
                rows_skipped_existing=len(frame) - int(n),
                rows_rejected=0,
                reject_path=None,
                warnings=tuple(checked.warnings),
            )
            for frame, source, n in zip(frames, sources, inserted, strict=True)
        ]

    def _each(self, table: str, frame: pd.DataFrame, source: str) -> IngestReport | Exception:
        try:
            return self.write_frame(table, frame, source=source, quality=False)
        except IngestError as e:
            return e

    def _apply(
        self, checked: Checked, reject_path: str | Path | None, *, quality: bool = True
    ) -> IngestReport:
        spec = checked.table
        if checked.fatal or (checked.problem_count and reject_path is None):
            raise checked.error()
        warnings = list(checked.warnings)
        pending: Path | None = None
        rejected = len(checked.bad)
        if reject_path is not None and rejected:
            pending = _write_pending_csv(checked.bad, Path(reject_path))
        try:
            inserted, updated, skipped, superseded = self._load(spec, checked.good)
        except BaseException:
            if pending is not None:
                pending.unlink(missing_ok=True)
            raise
        if pending is not None:
            os.replace(pending, Path(str(reject_path)))
        report = self._record_quality(checked) if quality else None
        if superseded:
            warnings.append(
                f"{superseded:,} rows were superseded by a later row with the same "
                f"{', '.join(spec.key)} in the same input"
            )
        return IngestReport(
            table=spec.name,
            source=checked.source,
            rows_read=checked.rows_read,
            rows_inserted=inserted,
            rows_updated=updated,
            rows_skipped_existing=skipped,
            rows_rejected=rejected,
            reject_path=str(reject_path) if pending is not None else None,
            warnings=tuple(warnings),
            quality=report,
        )

    def _record_quality(self, checked: Checked) -> QualityReport:
        """Check the rows just loaded against the store and the previous ingest of the same
        table, and keep the report (the store's ingest log)."""
        con, table = self.connection, checked.table.name
        known_items = set(self.read("items", ["item_id"])["item_id"]) or None
        users = set(self.read("users", ["user_id"])["user_id"])
        kinds = self.read("items", ["item_id", "kind"])
        products = set(kinds.loc[kinds["kind"].isna() | (kinds["kind"] == "product"), "item_id"])
        last = _run(con, "SELECT max(id) FROM _ingest_log WHERE table_name = ?", [table])[0][0]
        previous = None
        if last is not None:
            previous = con.execute(
                "SELECT item_id, n_rows AS rows, median_price FROM _ingest_items "
                "WHERE ingest_id = ?",
                [last],
            ).df()
        report = quality_report(
            checked.good,
            table,
            source=checked.source,
            known_items=known_items if table != "items" else None,
            known_users=users or None,
            product_items=products if known_items else None,
            previous=previous,
        )
        summary = item_summary(checked.good, table)
        next_id = int(_run(con, "SELECT coalesce(max(id), 0) + 1 FROM _ingest_log")[0][0])
        with _transaction(con):
            _run(
                con,
                "INSERT INTO _ingest_log VALUES (?, ?, ?, current_timestamp, ?, ?)",
                [next_id, table, checked.source, len(checked.good), report.to_json()],
            )
            if len(summary):
                name = f"_summary_{uuid.uuid4().hex}"
                con.register(name, summary.assign(ingest_id=next_id))
                try:
                    _run(con, f"INSERT INTO _ingest_items SELECT ingest_id, item_id, rows, "
                              f"median_price FROM {name}")  # fmt: skip
                finally:
                    con.unregister(name)
        return report

    def quality_reports(
        self, table: str | None = None, *, latest: bool = True
    ) -> list[QualityReport]:
        """Data-quality reports of past ingests, newest first (`latest`: one per table)."""
        try:
            rows = _run(
                self.connection,
                "SELECT table_name, report FROM _ingest_log ORDER BY id DESC",
            )
        except duckdb.CatalogException:
            return []  # a read-only store written by an older version has no log
        out, seen = [], set()
        for name, text in rows:
            if (table is not None and name != table) or (latest and name in seen):
                continue
            seen.add(name)
            out.append(QualityReport.from_dict(json.loads(text)))
        return out

    def _load(self, spec: Table, frame: pd.DataFrame) -> tuple[int, int, int, int]:
        """Insert validated rows in one transaction: (inserted, updated, skipped, superseded)."""
        con = self.connection
        superseded = 0
        if spec.upsert and len(frame):
            before = len(frame)
            frame = frame.drop_duplicates(subset=list(spec.key), keep="last")
            superseded = before - len(frame)
        if not len(frame):
            return 0, 0, 0, superseded
        incoming = f"_incoming_{uuid.uuid4().hex}"
        con.register(incoming, _to_arrow(frame, spec))
        target = _quote(spec.name)
        columns = ", ".join(_quote(c) for c in spec.column_names)
        selected = ", ".join(f"n.{_quote(c)}" for c in spec.column_names)

        def same(names: Sequence[str]) -> str:
            return " AND ".join(f"o.{_quote(c)} IS NOT DISTINCT FROM n.{_quote(c)}" for c in names)

        try:
            with _transaction(con):
                if spec.upsert:
                    inserted, updated, skipped = self._upsert(
                        incoming,
                        target,
                        columns,
                        selected,
                        same(spec.key),
                        same(spec.column_names),
                    )
                else:
                    result = _run(
                        con,
                        f"INSERT INTO {target} ({columns}) SELECT {selected} FROM {incoming} n "
                        f"WHERE NOT EXISTS (SELECT 1 FROM {target} o WHERE {same(spec.key)})",
                    )
                    inserted = int(result[0][0])
                    updated, skipped = 0, len(frame) - inserted
                version = self._bump(spec.name) if inserted or updated else None
        finally:
            con.unregister(incoming)
        if version is not None:
            _remember_version(self.path, spec.name, version)
        return inserted, updated, skipped, superseded

    def _bump(self, table: str) -> int:
        """Count one more change of `table` (inside the caller's transaction)."""
        row = _run(
            self.connection,
            "INSERT INTO _data_versions VALUES (?, 1) ON CONFLICT (table_name) "
            "DO UPDATE SET version = _data_versions.version + 1 RETURNING version",
            [table],
        )
        return int(row[0][0])

    def data_versions(self) -> dict[str, int]:
        """How many writes changed each table so far (a table never changed is absent):
        a cache computed from some tables stays valid while their versions stay the same."""
        try:
            rows = _run(self.connection, "SELECT table_name, version FROM _data_versions")
        except duckdb.CatalogException:
            return {}  # a read-only store written by an older version
        return {str(name): int(version) for name, version in rows}

    def _upsert(
        self, incoming: str, target: str, columns: str, selected: str, key: str, whole: str
    ) -> tuple[int, int, int]:
        """Replace stored rows whose key comes again; an identical row counts as skipped."""
        con = self.connection
        changed = f"_changed_{uuid.uuid4().hex}"
        _run(
            con,
            f"CREATE TEMP TABLE {changed} AS SELECT {selected}, "
            f"EXISTS (SELECT 1 FROM {target} o WHERE {key}) AS _known "
            f"FROM {incoming} n WHERE NOT EXISTS (SELECT 1 FROM {target} o WHERE {whole})",
        )
        # No try/finally: on failure the caller's ROLLBACK removes the temp table too.
        row = _run(con, f"SELECT count(*), count(*) FILTER (WHERE _known) FROM {changed}")[0]
        changes, updated = int(row[0]), int(row[1])
        total = int(_run(con, f"SELECT count(*) FROM {incoming}")[0][0])
        _run(con, f"DELETE FROM {target} o WHERE EXISTS (SELECT 1 FROM {changed} n WHERE {key})")
        _run(con, f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {changed}")
        _run(con, f"DROP TABLE {changed}")
        return changes - updated, updated, total - changes

    # -- reading

    def read(
        self, table: str, columns: Sequence[str] | None = None, where: str | None = None
    ) -> pd.DataFrame:
        """Rows of `table` (optionally some columns, filtered by a SQL `where` condition),
        typed like a validated frame."""
        spec = table_named(table)
        names = list(columns) if columns is not None else list(spec.column_names)
        for name in names:
            spec.column(name)  # KeyError naming the table for an unknown column
        sql = f"SELECT {', '.join(_quote(c) for c in names)} FROM {_quote(spec.name)}"
        if where:
            sql += f" WHERE {where}"
        frame = self.connection.execute(sql).df()
        for name in names:
            frame[name] = _typed(frame[name], spec.column(name).type)
        return frame

    def count(self, table: str) -> int:
        """Number of rows in `table`."""
        spec = table_named(table)
        return int(_run(self.connection, f"SELECT count(*) FROM {_quote(spec.name)}")[0][0])

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        """Any SQL over the store's tables, as a frame."""
        return self.connection.execute(sql, params).df()

    def stats(self) -> StoreStats:
        """Row counts, coverage and data quality figures for every table."""
        return compute_stats(self.connection)


@contextlib.contextmanager
def _transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN ... COMMIT, or ROLLBACK on any error (which is raised as it was)."""
    _run(con, "BEGIN TRANSACTION")
    try:
        yield
        _run(con, "COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):  # keep the original error
            _run(con, "ROLLBACK")
        raise


def _run(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None
) -> list[tuple[Any, ...]]:
    """Execute and fetch every row: DuckDB refuses new work while a result is unfinished."""
    return con.execute(sql, params).fetchall()


_LOG_DDL = (
    "CREATE TABLE IF NOT EXISTS _ingest_log (id BIGINT PRIMARY KEY, table_name VARCHAR, "
    "source VARCHAR, loaded_at TIMESTAMP, n_rows BIGINT, report VARCHAR)"
)
_VERSIONS_DDL = (
    "CREATE TABLE IF NOT EXISTS _data_versions (table_name VARCHAR PRIMARY KEY, "
    "version BIGINT NOT NULL)"
)
_LOG_ITEMS_DDL = (
    "CREATE TABLE IF NOT EXISTS _ingest_items (ingest_id BIGINT, item_id VARCHAR, n_rows BIGINT, "
    "median_price DOUBLE)"
)


def _add_new_columns(con: duckdb.DuckDBPyConnection) -> None:
    """Give a store made by an older version the optional columns added to the schema since
    (empty for the rows already there), so old stores open without a conversion step."""
    rows = _run(con, "SELECT table_name, column_name FROM information_schema.columns")
    present = {(t, c) for t, c in rows}
    for spec in TABLES.values():
        for column in spec.columns:
            if (spec.name, column.name) not in present and not column.required:
                _run(
                    con,
                    f"ALTER TABLE {_quote(spec.name)} ADD COLUMN {_quote(column.name)} "
                    f"{column.type.value}",
                )


def _first_frame_only(
    good: pd.DataFrame, owner: np.ndarray, fresh: np.ndarray, key: Sequence[str]
) -> np.ndarray:
    """Of the rows not stored yet (`fresh`, positions in `good`), those to insert: a row
    whose key an earlier frame of the group also holds is that frame's (written one after
    the other, the later frame would find it stored); repeats inside one frame all stay,
    as `write_frame` keeps them."""
    if not len(fresh):
        return fresh
    groups = good.iloc[fresh].groupby(list(key), dropna=False, sort=False).ngroup()
    first = pd.Series(owner[fresh]).groupby(groups.to_numpy()).transform("min").to_numpy()
    return fresh[owner[fresh] == first]


def _typed(values: pd.Series, kind: ColumnType) -> pd.Series:
    if kind == ColumnType.STRING:
        return pd.Series(
            values.to_numpy(dtype=object, na_value=None), index=values.index, dtype=object
        )
    return values.astype(frame_dtype(kind))


def _to_arrow(frame: pd.DataFrame, spec: Table) -> pa.Table:
    """The validated frame as Arrow with the schema's types, so DuckDB guesses nothing."""
    schema = pa.schema([pa.field(c.name, _ARROW_TYPES[c.type]) for c in spec.columns])
    return pa.Table.from_pandas(frame[list(spec.column_names)], schema=schema, preserve_index=False)


def _write_pending_csv(frame: pd.DataFrame, final: Path) -> Path:
    """Write `frame` as CSV to a temporary file beside `final`; the caller renames it."""
    final.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            frame.to_csv(out, index=False)
        os.chmod(name, 0o644)  # mkstemp makes it private; a reject file is an ordinary file
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


# ============================================================================ one writer


class StoreLocked(RuntimeError):
    """Another process holds the store's write lock."""


#: lock files this process holds: resolved path -> [open file, number of holders]
_HELD: dict[str, list[Any]] = {}
_HELD_GUARD = threading.Lock()
#: data versions this process wrote or read while holding a store's lock (trusted only
#: then, and only once read from the store: `_SEEDED`)
_VERSIONS: dict[str, dict[str, int]] = {}
_SEEDED: set[str] = set()
#: stores whose tables this process created or checked while holding their lock: later
#: connections skip the ~16 schema statements (~30 ms), nobody else can have changed them
_SCHEMA_READY: set[str] = set()


def lock_path(store_path: str | Path) -> Path:
    """The lock file of a store: beside the DuckDB file, `<name>.lock`."""
    path = Path(store_path)
    return path.with_name(path.name + ".lock")


class WriteLock:
    """The write lock of one store: an exclusive `flock` on `<store>.lock` whose text names
    the holding process. Held per process: several holders in one process (the service
    and its per-request connections) share it; it is released when the last lets go, and
    by the operating system when the process dies, so a crash never leaves it stuck."""

    def __init__(self, store_path: str | Path, purpose: str | None = None) -> None:
        self.path = lock_path(store_path)
        self.key = str(self.path.resolve())
        self.purpose = purpose or " ".join([Path(sys.argv[0]).name, *sys.argv[1:3]]).strip()
        self._held = False

    def acquire(self) -> WriteLock:
        """Take the lock, or raise StoreLocked naming the file and the holder's pid."""
        import fcntl

        with _HELD_GUARD:
            entry = _HELD.get(self.key)
            if entry is not None:
                entry[1] += 1
                self._held = True
                return self
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                handle.close()
                raise StoreLocked(
                    f"the store {self.path.with_suffix('')} is being written by another "
                    f"process (lock {self.path} held by {holder}); one process writes a "
                    "store: send writes through it, stop it first, or open the store "
                    "read-only"
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()} ({self.purpose})\n")
            handle.flush()
            _HELD[self.key] = [handle, 1]
            _VERSIONS.pop(self.key, None)  # others may have written before we held it
            _SEEDED.discard(self.key)
            _SCHEMA_READY.discard(self.key)
            self._held = True
        return self

    def release(self) -> None:
        """Let go (once per acquire); the last holder in the process unlocks the file."""
        import fcntl

        with _HELD_GUARD:
            if not self._held:
                return
            self._held = False
            entry = _HELD.get(self.key)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] > 0:
                return
            del _HELD[self.key]
            _VERSIONS.pop(self.key, None)
            _SEEDED.discard(self.key)
            _SCHEMA_READY.discard(self.key)
            handle = entry[0]
            with contextlib.suppress(OSError):
                handle.seek(0)
                handle.truncate()
                handle.flush()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()

    @property
    def held(self) -> bool:
        return self._held

    def __enter__(self) -> WriteLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def written_versions(store_path: str | Path) -> dict[str, int] | None:
    """The data versions this process knows for certain: while it holds the store's
    write lock nobody else writes, so the versions it wrote or read stay true. None when
    it does not hold the lock (read the store's `data_versions()` instead)."""
    key = str(lock_path(store_path).resolve())
    with _HELD_GUARD:
        if key not in _HELD or key not in _SEEDED:
            return None
        return dict(_VERSIONS.get(key, {}))


def seed_versions(store_path: str | Path, versions: dict[str, int]) -> None:
    """Record versions read from the store while holding its lock (see written_versions)."""
    key = str(lock_path(store_path).resolve())
    with _HELD_GUARD:
        if key in _HELD:
            known = _VERSIONS.setdefault(key, {})
            for table, version in versions.items():
                known[table] = max(version, known.get(table, 0))
            _SEEDED.add(key)


def _schema_ready(store_path: str) -> bool:
    """Whether this process, holding the store's lock, already made its tables."""
    key = str(lock_path(store_path).resolve())
    with _HELD_GUARD:
        return key in _HELD and key in _SCHEMA_READY


def _mark_schema_ready(store_path: str) -> None:
    if store_path == ":memory:":
        return
    key = str(lock_path(store_path).resolve())
    with _HELD_GUARD:
        if key in _HELD:
            _SCHEMA_READY.add(key)


def _remember_version(store_path: str, table: str, version: int) -> None:
    if store_path == ":memory:":
        return
    key = str(lock_path(store_path).resolve())
    with _HELD_GUARD:
        if key in _HELD:
            known = _VERSIONS.setdefault(key, {})
            known[table] = max(version, known.get(table, 0))


def _connect(path: str, read_only: bool, wait_s: float) -> duckdb.DuckDBPyConnection:
    """Open DuckDB, waiting up to `wait_s` while another process has the file open for
    writing (a reader meets the writer's short write transactions)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return duckdb.connect(path, read_only=read_only)
        except duckdb.IOException as e:
            if "lock" not in str(e).lower() or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


__all__ = ["IngestError", "IngestReport", "Store", "StoreLocked", "WriteLock"]
