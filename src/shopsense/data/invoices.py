"""The invoice-line view: every order line of every invoice, guests, cancellations and fees
included, typed and resolved by the order-line view.

Customer histories keep only identified customers' product lines; anomaly scoring needs
all of them, because that is where odd things happen. Its units, references, labels and
injections take this view and never type the raw lines themselves.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shopsense.data.customers import LINE_COLUMNS
from shopsense.data.orders import order_line_view

VIEW_COLUMNS = ("line_type", "kind", "is_product", "is_sale", "takes_back", "country")
"""What the order-line view says about each line (its type, its item's kind and the flags
derived from them), carried over when a caller passes the view."""


def invoice_lines(frame: pd.DataFrame, source: str = "order_lines") -> pd.DataFrame:
    """`LINE_COLUMNS` typed (guests' customer_id None, a missing item_id ""), plus the
    order-line view's `VIEW_COLUMNS`: those of `frame` when it has them, else resolved.

    Raises ValueError naming `source`, the column and the row for a missing column, no rows,
    or a missing or unreadable invoice_id, time, quantity or unit_price.
    """
    missing = [c for c in LINE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {missing}; need {list(LINE_COLUMNS)}")
    if frame.empty:
        raise ValueError(f"{source} has no rows: no orders to score")
    lines = frame.loc[:, list(LINE_COLUMNS)].copy()
    frame = frame.reset_index(drop=True)
    lines = lines.reset_index(drop=True)
    lines["time"] = pd.to_datetime(lines["time"], errors="coerce")
    for name in ("quantity", "unit_price"):
        lines[name] = pd.to_numeric(lines[name], errors="coerce").astype(float)
    for name in ("invoice_id", "time", "quantity", "unit_price"):
        bad = lines[name].isna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(
                f"{source} row {row}: field {name!r} is missing or unreadable "
                f"({frame[name].iloc[row]!r})"
            )
    lines["invoice_id"] = lines["invoice_id"].astype(str)
    lines["item_id"] = lines["item_id"].astype("string").fillna("").astype(str)
    guest = lines["customer_id"].isna() | (lines["customer_id"].astype(str) == "")
    lines["customer_id"] = lines["customer_id"].astype(object).where(~guest, None)
    for name in VIEW_COLUMNS:  # what the order-line view says each line is, if known
        if name in frame.columns:
            lines[name] = frame[name].to_numpy()
    return order_line_view(lines.reset_index(drop=True), source=source)


__all__ = ["VIEW_COLUMNS", "invoice_lines"]
