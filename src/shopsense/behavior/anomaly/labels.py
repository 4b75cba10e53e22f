"""Real anomaly labels of orders, and the features that define each label."""

from __future__ import annotations

import pandas as pd

from shopsense.data.invoices import invoice_lines
from shopsense.data.references import OrderReference

LABEL_FEATURES: dict[str, tuple[str, ...]] = {
    "cancellation": ("cancelled", "negative_share", "line.negative"),
    "manual_adjustment": ("non_product_share", "line.non_product"),
    "extreme_quantity": (),
    "off_price": (),
}
"""Per real order label, the features that define it and are left out when it is measured.
`extreme_quantity` and `off_price` are defined on quantities and price ratios the detectors
do see (quantity_max_log, price_ratio_min/max): those rows measure whether a detector puts
what it sees first, not whether it discovers something hidden."""
LABEL_DEFINING: tuple[str, ...] = tuple(sorted({f for fs in LABEL_FEATURES.values() for f in fs}))
"""All label-defining features: `evaluate_orders` fits once without them, for every label."""


def order_labels(
    order_lines: pd.DataFrame, *, reference: OrderReference, quantity_limit: float
) -> pd.DataFrame:
    """Real anomaly labels per invoice (index invoice_id, bool columns):

    - cancellation: a line of the invoice returns or cancels (line type return/cancellation);
    - manual_adjustment: a line's item is of kind "adjustment" (manual corrections, bad debt);
    - extreme_quantity: a line's |quantity| is at least `quantity_limit`;
    - off_price: a line with price > 0 costs at most a fifth or at least five times its
      item's usual price in `reference`.
    """
    lines = invoice_lines(order_lines)
    usual = lines["item_id"].map(reference.price)
    ratio = lines["unit_price"] / usual
    per_line = pd.DataFrame(
        {
            "manual_adjustment": lines["kind"] == "adjustment",
            "extreme_quantity": lines["quantity"].abs() >= quantity_limit,
            "off_price": (lines["unit_price"] > 0) & ((ratio <= 0.2) | (ratio >= 5.0)),
        }
    )
    labels = per_line.groupby(lines["invoice_id"], sort=False).any()
    taken_back = lines["takes_back"].groupby(lines["invoice_id"], sort=False).any()
    labels.insert(0, "cancellation", taken_back.reindex(labels.index).to_numpy())
    labels.index.name = "invoice_id"
    return labels
