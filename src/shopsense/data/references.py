"""Training-period references: an item's usual price and popularity, and how often items
are viewed, so a test period's odd values cannot move their own yardstick. Order and
session units (`shopsense.data.units`) measure prices and popularity against them."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from shopsense.data.invoices import invoice_lines
from shopsense.data.sessions import session_events


@dataclass(frozen=True, eq=False)
class OrderReference:
    """What an item usually costs and how often it sells, from a training period's lines."""

    price: pd.Series
    """item_id -> median unit price of its purchase lines (not cancelled, price > 0)."""
    lines: pd.Series
    """item_id -> number of those lines."""
    products: frozenset[str] = frozenset()
    """Items of kind "product" among them (postage, fees and vouchers are not)."""


@dataclass(frozen=True, eq=False)
class SessionReference:
    """How often items are viewed and the typical gap between views, from training sessions."""

    views: pd.Series
    """item_id -> number of views."""
    gap_median_s: float
    """Median seconds between consecutive views of a session: the gap features of a one-event
    session, which has no gap of its own (neutral, so one view alone is not odd)."""


def order_reference(order_lines: pd.DataFrame) -> OrderReference:
    """Usual prices from purchase lines (not cancelled, quantity and price > 0)."""
    lines = invoice_lines(order_lines)
    sold = lines[lines["is_sale"] & (lines["unit_price"] > 0)]
    grouped = sold.groupby("item_id")["unit_price"]
    products = frozenset(sold.loc[sold["is_product"], "item_id"])
    return OrderReference(grouped.median(), grouped.size().astype(float), products)


def session_reference(events: pd.DataFrame) -> SessionReference:
    """View counts per item and the median gap between views, from training events."""
    ev = session_events(events)
    gaps = ev.groupby("session_id", sort=False)["timestamp"].diff().dt.total_seconds().dropna()
    gap = float(gaps.median()) if len(gaps) else 0.0
    return SessionReference(ev["item_id"].value_counts().astype(float), gap)


__all__ = ["OrderReference", "SessionReference", "order_reference", "session_reference"]
