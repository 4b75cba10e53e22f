"""The order-line view: every line with what it does and what it sells, read once here.

Customer histories, demand and price panels and order anomalies all start from order lines.
They must agree on which lines are sales, which take a sale back and which are postage or
fees, and none of them may guess it from one shop's id patterns. The store says it instead
(`order_lines.line_type`, `items.kind`, filled by a loader or the shop's mapping); this module
resolves the gaps once:

- `line_type` empty: a cancellation when the store's `orders` table marks the invoice
  `cancelled`, else a sale when the quantity is positive and a return when it is negative (a
  zero quantity is an adjustment);
- `kind` from the catalogue; an item the catalogue does not know counts as a product (the
  data-quality report lists such unknown ids).

The view keeps every line (nothing is dropped here) and adds two flags the pillars filter on:
`is_product` and `is_sale`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shopsense.data.schema import ItemKind, LineType

LINE_COLUMNS = ("invoice_id", "item_id", "quantity", "unit_price", "time")
"""The columns every order-line frame must have."""
OPTIONAL = ("customer_id", "country", "line_type", "reverses_invoice", "currency")
TAKE_BACK = frozenset({LineType.RETURN.value, LineType.CANCELLATION.value})
"""Line types that undo (part of) an earlier sale."""


def order_line_view(
    lines: pd.DataFrame,
    items: pd.DataFrame | None = None,
    *,
    source: str = "order_lines",
    cancelled_invoices: set[str] | None = None,
) -> pd.DataFrame:
    """`lines` typed, with `line_type` and `kind` resolved and the flags `is_product`,
    `is_sale` and `takes_back`; already-resolved frames pass through unchanged.

    `items` (item_id, kind) gives each line its kind; without it, lines keep a `kind` column
    they already have, else every line counts as a product. Lines without a type whose
    invoice is in `cancelled_invoices` are cancellations. Raises ValueError naming `source`,
    the row and the field for a missing column or an unreadable value.
    """
    if {"is_product", "is_sale", "takes_back"} <= set(lines.columns) and items is None:
        return lines
    missing = [c for c in LINE_COLUMNS if c not in lines.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {missing}; need {list(LINE_COLUMNS)}")
    frame = lines.reset_index(drop=True).copy()
    for name in OPTIONAL:
        if name not in frame.columns:
            frame[name] = None
    frame["time"] = _parsed(source, frame, "time", pd.to_datetime(frame["time"], errors="coerce"))
    for name in ("quantity", "unit_price"):
        frame[name] = _parsed(source, frame, name, pd.to_numeric(frame[name], errors="coerce"))
    bad_id = frame["item_id"].isna()
    if bad_id.any():
        row = int(np.flatnonzero(bad_id.to_numpy())[0])
        raise ValueError(f"{source} row {row}: field 'item_id' is empty")
    frame["item_id"] = frame["item_id"].astype(str)
    frame["invoice_id"] = frame["invoice_id"].astype(str)
    frame["line_type"] = _line_types(frame, cancelled_invoices or set())
    frame["kind"] = _kinds(frame, items)
    frame["is_product"] = (frame["kind"] == ItemKind.PRODUCT.value).to_numpy()
    frame["takes_back"] = frame["line_type"].isin(TAKE_BACK).to_numpy()
    frame["is_sale"] = (frame["line_type"] == LineType.SALE.value).to_numpy() & (
        frame["quantity"] > 0
    ).to_numpy()
    return frame


def order_lines_from_store(store: object) -> pd.DataFrame:
    """The store's order lines as a view, with kinds from its catalogue."""
    lines = store.read("order_lines")  # type: ignore[attr-defined]
    items = store.read("items", ["item_id", "kind"])  # type: ignore[attr-defined]
    orders = store.read("orders", ["invoice_id", "cancelled"])  # type: ignore[attr-defined]
    cancelled = set(orders.loc[orders["cancelled"].fillna(False).astype(bool), "invoice_id"])
    return order_line_view(
        lines,
        items,
        source=f"{getattr(store, 'path', 'store')}:order_lines",
        cancelled_invoices=cancelled,
    )


def kind_counts(view: pd.DataFrame) -> pd.DataFrame:
    """Lines per (line_type, kind): what a person checks after mapping a file."""
    counts = view.groupby(["line_type", "kind"], sort=True).size().rename("lines")
    return counts.reset_index()


def _line_types(frame: pd.DataFrame, cancelled: set[str]) -> pd.Series:
    stated = frame["line_type"].astype(object)
    stated = stated.where(stated.notna(), None)
    qty = frame["quantity"].to_numpy()
    implied = np.where(
        qty > 0,
        LineType.SALE.value,
        np.where(qty < 0, LineType.RETURN.value, LineType.ADJUSTMENT.value),
    )
    filled = pd.Series(implied, index=frame.index, dtype=object)
    if cancelled:
        filled[frame["invoice_id"].isin(cancelled).to_numpy()] = LineType.CANCELLATION.value
    known = stated.notna()
    filled[known] = stated[known].astype(str).str.lower()
    return filled


def _kinds(frame: pd.DataFrame, items: pd.DataFrame | None) -> pd.Series:
    if items is not None and len(items) and "kind" in items.columns:
        catalogue = items.drop_duplicates("item_id", keep="last").set_index("item_id")["kind"]
        kind = frame["item_id"].map(catalogue)
    elif "kind" in frame.columns:
        kind = frame["kind"]
    else:
        kind = pd.Series(None, index=frame.index, dtype=object)
    kind = kind.astype(object)
    return kind.where(kind.notna(), ItemKind.PRODUCT.value).astype(str).str.lower()


def _parsed(source: str, frame: pd.DataFrame, field: str, values: pd.Series) -> pd.Series:
    bad = values.isna() & frame[field].notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"{source} row {row}: field {field!r} has an unreadable value "
            f"{frame[field].iloc[row]!r} ({int(bad.sum())} such rows)"
        )
    return values


__all__ = ["LINE_COLUMNS", "TAKE_BACK", "kind_counts", "order_line_view", "order_lines_from_store"]
