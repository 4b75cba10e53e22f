"""A data-quality report on every ingest: what is odd in the rows just loaded, and what moved
since the previous load of the same table.

Validation (`ingest`) refuses what cannot be stored: a text in a number column, a missing
required value. This report flags what can be stored but deserves a look before a model
learns from it: empty optional columns, repeated rows, free or negative prices of products,
extreme quantities and prices, ids no other table knows, and drift against the previous
ingest (new and vanished items, price and volume shifts). Each finding says how many rows
and shows a few examples, so a person can find them in the file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shopsense.data.schema import TABLES, ColumnType

#: a price or quantity this many robust standard deviations (log scale) from its item's
#: median is an outlier
OUTLIER_Z = 6.0
#: a median price that moved by more than this share since the previous ingest has shifted
PRICE_SHIFT = 0.2
EXAMPLES = 3
#: times before this or more than PLAUSIBLE_AHEAD after the ingest are implausible (the
#: service refuses such events by the same defaults: SHOPSENSE_EVENT_EARLIEST and
#: SHOPSENSE_EVENT_MAX_AHEAD_HOURS)
PLAUSIBLE_FROM = pd.Timestamp("1990-01-01")
PLAUSIBLE_AHEAD = pd.Timedelta(hours=24)
PRICE_COLUMN = {"order_lines": "unit_price", "items": "price"}
ITEM_TABLES = ("order_lines", "events", "reviews", "questions", "images")


@dataclass(frozen=True)
class Finding:
    """One thing worth a look: `check` (what), `rows` (how many), examples (which)."""

    check: str
    rows: int
    detail: str
    examples: list[str] = field(default_factory=list)
    severity: str = "warning"


@dataclass(frozen=True)
class QualityReport:
    """The findings of one ingest into `table`."""

    table: str
    source: str
    rows: int
    findings: list[Finding]
    drift: dict[str, Any] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), default=str)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> QualityReport:
        findings = [Finding(**f) for f in doc.get("findings", [])]
        return cls(doc["table"], doc["source"], int(doc["rows"]), findings, doc.get("drift", {}))

    def lines(self) -> list[str]:
        """The report as short sentences for a terminal."""
        out = [f"{self.table} from {self.source}: {self.rows:,} rows checked"]
        if self.clean:
            out.append("  no data-quality findings")
        for f in self.findings:
            example = f" (e.g. {', '.join(f.examples)})" if f.examples else ""
            out.append(f"  {f.severity}: {f.check}: {f.rows:,} rows; {f.detail}{example}")
        return out


def item_summary(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Per item of this ingest: rows and median price (what the next ingest compares with)."""
    if "item_id" not in frame.columns or frame.empty:
        return pd.DataFrame(columns=["item_id", "rows", "median_price"])
    price = PRICE_COLUMN.get(table)
    g = frame.groupby("item_id", sort=True)
    out = pd.DataFrame({"rows": g.size()})
    out["median_price"] = g[price].median() if price else np.nan
    return out.reset_index()


def quality_report(
    frame: pd.DataFrame,
    table: str,
    *,
    source: str,
    known_items: set[str] | None = None,
    known_users: set[str] | None = None,
    product_items: set[str] | None = None,
    previous: pd.DataFrame | None = None,
) -> QualityReport:
    """Findings for the validated rows `frame` of one ingest into `table`.

    `known_items` / `known_users`: ids already in the catalogue / customer table (None: not
    checked); `product_items`: items whose kind is product (prices of the others may be
    zero or negative); `previous`: `item_summary` of the previous ingest of this table.
    """
    spec = TABLES[table]
    findings: list[Finding] = []
    n = len(frame)
    for column in spec.columns:
        if column.required or column.name not in frame.columns or n == 0:
            continue
        empty = int(frame[column.name].isna().sum())
        if 0 < empty < n:
            findings.append(
                Finding(
                    "empty values",
                    empty,
                    f"column {column.name} is empty in {empty / n:.1%} of the rows",
                    severity="info",
                )
            )
    if n:
        repeated = int(frame.duplicated(keep="first").sum())
        if repeated:
            findings.append(
                _finding(
                    "repeated rows",
                    frame.duplicated(keep="first"),
                    frame,
                    "identical rows in the same file",
                )
            )
    findings += _implausible_times(frame, table)
    findings += _price_findings(frame, table, product_items)
    findings += _outliers(frame, table)
    if known_items is not None and table in ITEM_TABLES and "item_id" in frame.columns:
        unknown = ~frame["item_id"].isin(known_items)
        if unknown.any():
            findings.append(
                _finding(
                    "unknown items",
                    unknown,
                    frame,
                    "item ids the catalogue (items) does not list",
                    "item_id",
                )
            )
    user_column = {"order_lines": "customer_id", "events": "user_id"}.get(table)
    if known_users and user_column in frame.columns:
        unknown = frame[user_column].notna() & ~frame[user_column].isin(known_users)
        if unknown.any():
            findings.append(
                _finding(
                    "unknown customers",
                    unknown,
                    frame,
                    "customer ids the users table does not list",
                    user_column,
                )
            )
    drift = _drift(item_summary(frame, table), previous) if previous is not None else {}
    if drift:
        if drift["new_items"]:
            findings.append(
                Finding(
                    "new items",
                    drift["new_items"],
                    "items not in the previous ingest",
                    drift["new_examples"],
                    "info",
                )
            )
        if drift["vanished_items"]:
            findings.append(
                Finding(
                    "vanished items",
                    drift["vanished_items"],
                    "items of the previous ingest missing from this one",
                    drift["vanished_examples"],
                    "info",
                )
            )
        if drift["price_shifts"]:
            findings.append(
                Finding(
                    "price shifts",
                    drift["price_shifts"],
                    f"items whose median price moved by more than {PRICE_SHIFT:.0%}",
                    drift["price_examples"],
                )
            )
    return QualityReport(table, source, n, findings, drift)


def _implausible_times(frame: pd.DataFrame, table: str) -> list[Finding]:
    """Times a file can hold but no shop lived through (1677, 2262, a year typed as 2204):
    stored, they stretch every chart and skew recency, so they are flagged by row."""
    latest = pd.Timestamp.now(tz="UTC").tz_localize(None) + PLAUSIBLE_AHEAD
    out = []
    for column in TABLES[table].columns:
        if column.type != ColumnType.TIMESTAMP or column.name not in frame.columns:
            continue
        times = pd.to_datetime(frame[column.name], errors="coerce")
        odd = (times < PLAUSIBLE_FROM) | (times > latest)
        if odd.any():
            out.append(
                _finding(
                    "implausible times",
                    odd,
                    frame,
                    f"{column.name} before {PLAUSIBLE_FROM:%Y-%m-%d} or more than "
                    f"{PLAUSIBLE_AHEAD.total_seconds() / 3600:.0f} h after the load",
                    column.name,
                )
            )
    return out


def _finding(
    check: str, mask: pd.Series, frame: pd.DataFrame, detail: str, column: str | None = None
) -> Finding:
    rows = np.flatnonzero(np.asarray(mask, dtype=bool))
    if column is not None:
        examples = [str(v) for v in pd.unique(frame[column].to_numpy()[rows])[:EXAMPLES]]
    else:
        examples = [f"row {int(r) + 1}" for r in rows[:EXAMPLES]]
    return Finding(check, len(rows), detail, examples)


def _price_findings(
    frame: pd.DataFrame, table: str, product_items: set[str] | None
) -> list[Finding]:
    price = PRICE_COLUMN.get(table)
    if price is None or price not in frame.columns or frame.empty:
        return []
    products = (
        frame["item_id"].isin(product_items)
        if product_items is not None
        else pd.Series(True, index=frame.index)
    )
    if table == "items" and "kind" in frame.columns:
        products = frame["kind"].isna() | (frame["kind"] == "product")
    if table == "order_lines":  # a write-off or a cancellation may carry any price
        stated = frame["line_type"] if "line_type" in frame.columns else None
        sale = stated.isna() | (stated == "sale") if stated is not None else True
        products = products & sale & (frame["quantity"] > 0)
    values = frame[price]
    bad = products & values.notna() & (values <= 0)
    if not bad.any():
        return []
    return [
        _finding(
            "zero or negative prices",
            bad,
            frame,
            "products sold or listed at a price <= 0",
            "item_id",
        )
    ]


def _outliers(frame: pd.DataFrame, table: str) -> list[Finding]:
    out = []
    for column in (PRICE_COLUMN.get(table), "quantity"):
        if column is None or column not in frame.columns or "item_id" not in frame.columns:
            continue
        values = frame[column].astype(float).abs()
        positive = values > 0
        if positive.sum() < 20:
            continue
        logs = np.log(values.where(positive))
        center = logs.groupby(frame["item_id"]).transform("median")
        spread = (logs - center).abs().groupby(frame["item_id"]).transform("median") * 1.4826
        floor = max(float((logs - center).abs().median() * 1.4826), 0.25)
        z = (logs - center).abs() / np.maximum(spread.fillna(floor), floor)
        extreme = (z > OUTLIER_Z).fillna(False)
        if extreme.any():
            out.append(
                _finding(
                    f"extreme {column}",
                    extreme,
                    frame,
                    f"{column} far from its item's usual value",
                    "item_id",
                )
            )
    return out


def _drift(now: pd.DataFrame, before: pd.DataFrame) -> dict[str, Any]:
    if before is None or before.empty:
        return {}
    now_items, old_items = set(now["item_id"]), set(before["item_id"])
    new, vanished = sorted(now_items - old_items), sorted(old_items - now_items)
    both = now.merge(before, on="item_id", suffixes=("", "_before"))
    with np.errstate(divide="ignore", invalid="ignore"):
        change = both["median_price"].to_numpy(float) / both["median_price_before"].to_numpy(float)
    change = np.abs(change - 1.0)
    shifted = np.flatnonzero(np.nan_to_num(change, nan=0.0, posinf=1e9) > PRICE_SHIFT)
    shifted = shifted[np.argsort(-np.nan_to_num(change[shifted], posinf=1e9), kind="stable")]
    moved = both.iloc[shifted]
    volume = float(now["rows"].sum()) / max(float(before["rows"].sum()), 1.0)
    return {
        "new_items": len(new),
        "new_examples": new[:EXAMPLES],
        "vanished_items": len(vanished),
        "vanished_examples": vanished[:EXAMPLES],
        "price_shifts": len(moved),
        "price_examples": [
            f"{r.item_id} {r.median_price_before:g} -> {r.median_price:g}"
            for r in moved.head(EXAMPLES).itertuples()
        ],
        "volume_ratio": round(volume, 3),
    }


__all__ = ["Finding", "QualityReport", "item_summary", "quality_report"]
