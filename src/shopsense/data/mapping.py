"""A shop's own files mapped into the schema without code: a small TOML file (or CLI options).

Every shop exports differently: other column names, dates with a time zone or in day-first
order, returns as negative lines or as a status column, postage as a stock code. A mapping
says it once, and ingest applies it row by row before validation, so a bad value is still
reported with its file, line and column:

```toml
table = "order_lines"            # optional: the table this mapping is for

[columns]                        # schema column = the file's column
invoice_id = "order_ref"
item_id = "sku"
time = "ordered_at"

[set]                            # a fixed value for every row
currency = "SEK"

[values.line_type]               # the file's words for the schema's values
void = "cancellation"

[time]
format = "%d/%m/%Y %H:%M"        # strftime pattern; default: ISO 8601 or Unix epoch
zone = "Europe/Stockholm"        # the shop's zone: stored times are its wall-clock times

[[line_type]]                    # first matching rule wins; rows no rule matches stay
value = "cancellation"           # empty (the order-line view reads their quantity sign)
column = "status"
equals = ["cancelled", "void"]

[[kind]]                         # items: what a catalogue entry is
value = "shipping"
column = "sku"
prefix = ["SHIP-"]
```

A rule matches when all its conditions hold: `equals` (any of the values), `prefix`,
`regex` (full match) on `column`, and `quantity` ("negative", "positive" or "zero") on the
mapped quantity. Times with an offset are converted to `zone` (default UTC) and stored as
that zone's wall-clock time; times without one are taken as already in it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from shopsense.data.schema import TABLES, ColumnType, ItemKind, LineType
from shopsense.data.schema import table as table_named

RULE_TARGETS: dict[str, tuple[str, frozenset[str]]] = {
    "line_type": ("order_lines", frozenset(LineType)),
    "kind": ("items", frozenset(ItemKind)),
}
"""Schema columns that rules can fill: column -> (its table, the values it takes)."""
SIGNS = ("negative", "positive", "zero")


class MappingError(ValueError):
    """A mapping file or option that cannot be applied; the message names what and where."""


@dataclass(frozen=True)
class Rule:
    """Rows for which every given condition holds get `value` in the target column."""

    value: str
    column: str | None = None
    equals: tuple[str, ...] = ()
    prefix: tuple[str, ...] = ()
    regex: str | None = None
    quantity: str | None = None

    def matches(self, raw: pd.DataFrame, quantity: pd.Series | None, source: str) -> np.ndarray:
        hit = np.ones(len(raw), dtype=bool)
        if self.column is not None:
            if self.column not in raw.columns:
                raise MappingError(
                    f"{source}: a rule for {self.value!r} reads column {self.column!r}, which "
                    f"the file does not have (it has: {', '.join(map(str, raw.columns))})"
                )
            text = raw[self.column].astype("string").fillna("")
            if self.equals:
                hit &= text.isin(self.equals).to_numpy()
            if self.prefix:
                hit &= text.str.startswith(self.prefix).to_numpy(dtype=bool)
            if self.regex is not None:
                hit &= text.str.fullmatch(self.regex).fillna(False).to_numpy(dtype=bool)
        if self.quantity is not None:
            if quantity is None:
                raise MappingError(f"{source}: a quantity rule needs a mapped quantity column")
            q = quantity.to_numpy(dtype=float)
            sign = {"negative": q < 0, "positive": q > 0, "zero": q == 0}[self.quantity]
            hit &= sign
        return hit


@dataclass(frozen=True)
class Mapping:
    """How one file's columns and conventions become rows of one table."""

    columns: dict[str, str] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    time_format: str | None = None
    time_zone: str | None = None
    rules: dict[str, tuple[Rule, ...]] = field(default_factory=dict)
    table: str | None = None
    source: str = "mapping"

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_file(cls, path: str | Path) -> Mapping:
        """Read a TOML mapping; errors name the file and the key."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"mapping file not found: {path}")
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise MappingError(f"{path}: not valid TOML ({e})") from None
        return cls.from_dict(doc, source=str(path))

    @classmethod
    def from_dict(cls, doc: MappingABC[str, Any], *, source: str = "mapping") -> Mapping:
        known = {"table", "columns", "set", "values", "time", *RULE_TARGETS}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise MappingError(f"{source}: unknown key(s) {unknown}; keys are {sorted(known)}")
        time = _table_of(doc, "time", source)
        for key in set(time) - {"format", "zone"}:
            raise MappingError(f"{source}: [time] has no key {key!r} (use format, zone)")
        rules = {
            target: tuple(_rule(r, target, source, i) for i, r in enumerate(doc.get(target, [])))
            for target in RULE_TARGETS
            if target in doc
        }
        values = _table_of(doc, "values", source)
        for name, table in values.items():
            if not isinstance(table, dict):
                raise MappingError(f"{source}: [values.{name}] must map file values to values")
        mapping = cls(
            values={str(k): {str(a): str(b) for a, b in v.items()} for k, v in values.items()},
            columns={str(k): str(v) for k, v in _table_of(doc, "columns", source).items()},
            constants={str(k): str(v) for k, v in _table_of(doc, "set", source).items()},
            time_format=time.get("format"),
            time_zone=time.get("zone"),
            rules=rules,
            table=doc.get("table"),
            source=source,
        )
        if mapping.time_zone is not None:
            _zone(mapping.time_zone, source)
        return mapping

    @classmethod
    def from_options(
        cls,
        columns: list[str] | None = None,
        constants: list[str] | None = None,
        time_format: str | None = None,
        time_zone: str | None = None,
    ) -> Mapping:
        """From CLI options: `--column schema=file`, `--set column=value`."""
        return cls.from_dict(
            {
                "columns": _pairs(columns or [], "--column"),
                "set": _pairs(constants or [], "--set"),
                "time": {k: v for k, v in (("format", time_format), ("zone", time_zone)) if v},
            },
            source="command-line options",
        )

    def merged(self, other: Mapping) -> Mapping:
        """This mapping with `other`'s settings on top (CLI options over a mapping file)."""
        return Mapping(
            columns={**self.columns, **other.columns},
            constants={**self.constants, **other.constants},
            values={**self.values, **other.values},
            time_format=other.time_format or self.time_format,
            time_zone=other.time_zone or self.time_zone,
            rules={**self.rules, **other.rules},
            table=other.table or self.table,
            source=self.source if not other.columns and not other.constants else other.source,
        )

    @property
    def is_empty(self) -> bool:
        return not (
            self.columns
            or self.constants
            or self.values
            or self.time_format
            or self.time_zone
            or self.rules
        )

    # ----------------------------------------------------------------- use
    def check_table(self, table: str) -> None:
        """Refuse a mapping written for another table, or naming columns `table` lacks."""
        spec = table_named(table)
        if self.table is not None and self.table != table:
            raise MappingError(f"{self.source} maps table {self.table!r}, not {table!r}")
        for name in [*self.columns, *self.constants, *self.values, *self.rules]:
            if name not in spec.column_names:
                raise MappingError(
                    f"{self.source}: table {table} has no column {name!r} "
                    f"(columns: {', '.join(spec.column_names)})"
                )
        for target in self.rules:
            if RULE_TARGETS[target][0] != table:
                raise MappingError(f"{self.source}: [[{target}]] rules are for table "
                                   f"{RULE_TARGETS[target][0]}, not {table}")  # fmt: skip

    def apply(self, raw: pd.DataFrame, table: str, *, source: str) -> pd.DataFrame:
        """The file's rows (as read, text) as the table's columns, row for row.

        Unmapped columns that already carry a schema name pass through; values that cannot
        be converted stay as written, so validation reports them with their line.
        """
        self.check_table(table)
        spec = TABLES[table]
        missing = sorted({c for c in self.columns.values() if c not in raw.columns})
        if missing:
            raise MappingError(
                f"{source}: the mapping names column(s) {missing} that the file does not have "
                f"(it has: {', '.join(map(str, raw.columns))})"
            )
        out = pd.DataFrame(index=raw.index)
        for col in spec.columns:
            if col.name in self.constants:
                out[col.name] = self.constants[col.name]
            elif col.name in self.columns:
                out[col.name] = raw[self.columns[col.name]]
            elif col.name in raw.columns and col.name not in self.columns.values():
                out[col.name] = raw[col.name]
        for name, table in self.values.items():
            if name in out:
                text = out[name].astype(object)
                out[name] = text.map(lambda v, t=table: t.get(v, v) if isinstance(v, str) else v)
        for col in spec.columns:
            if col.type is ColumnType.TIMESTAMP and col.name in out:
                out[col.name] = self._times(out[col.name])
        quantity = pd.to_numeric(out["quantity"], errors="coerce") if "quantity" in out else None
        for target, rules in self.rules.items():
            stated = out[target].astype(object) if target in out else pd.Series(None, raw.index)
            value = pd.Series(None, index=raw.index, dtype=object)
            open_rows = np.ones(len(raw), dtype=bool)
            for rule in rules:
                hit = open_rows & rule.matches(raw, quantity, source)
                value[hit] = rule.value
                open_rows &= ~hit
            out[target] = value.where(value.notna(), stated)
        return out.reset_index(drop=True)

    def _times(self, values: pd.Series) -> pd.Series:
        """Text or datetimes -> "YYYY-MM-DD HH:MM:SS[.ffffff]" in the shop's zone, naive;
        unreadable values stay as they were (validation reports them)."""
        if self.time_format is None and self.time_zone is None:
            return values
        text = values.astype("string")
        if self.time_format:
            parsed = pd.to_datetime(text, format=self.time_format, errors="coerce", utc=True)
            has_zone = "%z" in self.time_format or "%Z" in self.time_format
        else:
            parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
            has_zone = None
        zone = _zone(self.time_zone, self.source) if self.time_zone else ZoneInfo("UTC")
        aware = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True).fillna(False)
        if has_zone is False:
            aware[:] = False
        naive_local = parsed.dt.tz_localize(None)  # as if UTC: the wall time as written
        local = parsed.dt.tz_convert(zone).dt.tz_localize(None)
        wall = np.where(aware.to_numpy(dtype=bool), local, naive_local)
        result = pd.Series(pd.to_datetime(wall), index=values.index)
        shown = result.dt.strftime("%Y-%m-%d %H:%M:%S.%f").astype(object)
        return shown.where(parsed.notna(), values.astype(object))


def _rule(raw: Any, target: str, source: str, index: int) -> Rule:
    where = f"{source}: [[{target}]] rule {index + 1}"
    if not isinstance(raw, dict):
        raise MappingError(f"{where} must be a table of keys")
    allowed = {"value", "column", "equals", "prefix", "regex", "quantity"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise MappingError(f"{where}: unknown key(s) {unknown}; keys are {sorted(allowed)}")
    value = str(raw.get("value", "")).lower()
    choices = RULE_TARGETS[target][1]
    if value not in choices:
        raise MappingError(f"{where}: value {value!r} is not one of {', '.join(sorted(choices))}")
    column = raw.get("column")
    text_tests = [k for k in ("equals", "prefix", "regex") if k in raw]
    if text_tests and column is None:
        raise MappingError(f"{where}: {text_tests[0]} needs a `column`")
    quantity = raw.get("quantity")
    if quantity is not None and quantity not in SIGNS:
        raise MappingError(f"{where}: quantity must be one of {', '.join(SIGNS)}")
    regex = raw.get("regex")
    if regex is not None:
        try:
            re.compile(regex)
        except re.error as e:
            raise MappingError(f"{where}: regex {regex!r} does not compile ({e})") from None
    return Rule(
        value=value,
        column=column,
        equals=tuple(str(v) for v in _listed(raw.get("equals"))),
        prefix=tuple(str(v) for v in _listed(raw.get("prefix"))),
        regex=regex,
        quantity=quantity,
    )


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _table_of(doc: MappingABC[str, Any], key: str, source: str) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise MappingError(f"{source}: [{key}] must be a table of key = value")
    return dict(value)


def _pairs(items: list[str], option: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise MappingError(f"{option} takes name=value, not {item!r}")
        out[name.strip()] = value.strip()
    return out


def _zone(name: str, source: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise MappingError(f"{source}: unknown time zone {name!r} (e.g. Europe/Oslo)") from None


__all__ = ["Mapping", "MappingError", "Rule"]
