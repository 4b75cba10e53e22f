"""Seeded injected anomalies: bulk fraud and price manipulation in orders, bots in
sessions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shopsense.data.invoices import invoice_lines
from shopsense.data.references import OrderReference
from shopsense.data.sessions import session_events

ORDER_INJECTIONS = ("bulk_fraud", "price_manipulation")
SESSION_INJECTIONS = ("fast_bot", "regular_bot")


def inject_orders(
    order_lines: pd.DataFrame,
    kind: str,
    *,
    reference: OrderReference,
    rate: float = 0.01,
    random_state: int = 0,
) -> tuple[pd.DataFrame, pd.Index]:
    """`order_lines` with anomalies of `kind` affecting `rate` × (number of invoices), and
    the ids of the affected invoices. Seeded by `random_state`.

    - bulk_fraud: new invoices "injected-bulk_fraud-<i>" of 1–4 lines, each an item from the
      top decile of usual price (items with at least 5 reference lines) at that price, in a
      quantity drawn uniformly from 100–1000; time, customer and country copied from a
      random real purchase invoice.
    - price_manipulation: in a random purchase invoice (not "C..."), one random product line
      with a known usual price is re-priced to 5–30 % of that price (uniform).
    """
    lines = invoice_lines(order_lines)
    if "country" in order_lines.columns:
        lines["country"] = order_lines["country"].to_numpy()
    rng = np.random.default_rng(random_state)
    n = max(1, round(rate * lines["invoice_id"].nunique()))
    purchases = lines[~lines.groupby("invoice_id")["takes_back"].transform("any")]
    if kind == "bulk_fraud":
        return _inject_bulk(lines, purchases, reference, n, rng)
    if kind == "price_manipulation":
        return _inject_price(lines, purchases, reference, n, rng)
    raise ValueError(f"unknown order injection {kind!r}; kinds are {ORDER_INJECTIONS}")


def _inject_bulk(
    lines: pd.DataFrame,
    purchases: pd.DataFrame,
    reference: OrderReference,
    n: int,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.Index]:
    known = reference.price[
        (reference.lines >= 5) & reference.price.index.isin(list(reference.products))
    ]
    if known.empty:
        raise ValueError("bulk_fraud needs items with at least 5 reference lines")
    dear = known[known >= known.quantile(0.9)]
    templates = purchases.drop_duplicates("invoice_id")
    rows = []
    for i in range(n):
        template = templates.iloc[rng.integers(len(templates))]
        k = int(rng.integers(1, 5))
        items = rng.choice(dear.index.to_numpy(), size=min(k, len(dear)), replace=False)
        for item in items:
            rows.append(
                {
                    **template.to_dict(),
                    "invoice_id": f"injected-bulk_fraud-{i}",
                    "item_id": item,
                    "quantity": float(rng.integers(100, 1001)),
                    "unit_price": float(dear[item]),
                }
            )
    new = pd.DataFrame(rows, columns=lines.columns)
    ids = pd.Index(new["invoice_id"].unique())
    return pd.concat([lines, new], ignore_index=True), ids


def _inject_price(
    lines: pd.DataFrame,
    purchases: pd.DataFrame,
    reference: OrderReference,
    n: int,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.Index]:
    usual = purchases["item_id"].map(reference.price)
    eligible = purchases[
        usual.notna()
        & (purchases["unit_price"] > 0)
        & (purchases["quantity"] > 0)
        & purchases["is_product"]
    ]
    invoices = eligible["invoice_id"].unique()
    if len(invoices) == 0:
        raise ValueError("price_manipulation needs purchase lines of items with a usual price")
    chosen = rng.choice(invoices, size=min(n, len(invoices)), replace=False)
    out = lines.copy()
    by_invoice = eligible.groupby("invoice_id").groups
    for invoice in chosen:
        row = rng.choice(np.asarray(by_invoice[invoice]))
        fraction = rng.uniform(0.05, 0.3)
        out.loc[row, "unit_price"] = reference.price[out.loc[row, "item_id"]] * fraction
    return out, pd.Index(chosen)


def inject_sessions(
    events: pd.DataFrame, kind: str, *, rate: float = 0.01, random_state: int = 0
) -> tuple[pd.DataFrame, pd.Index]:
    """`events` plus `rate` × (number of sessions) bot sessions of `kind`, and their ids.
    Items are drawn uniformly from the items in `events` (a crawler walks the catalogue,
    people follow popularity); each bot starts when a random real session starts.

    - fast_bot: 20–80 views, gaps of 0.1 s + an exponential with mean 1 s;
    - regular_bot: 5–20 views at one fixed gap drawn uniformly from 10–60 s (a scheduler).
    """
    ev = session_events(events)
    if kind not in SESSION_INJECTIONS:
        raise ValueError(f"unknown session injection {kind!r}; kinds are {SESSION_INJECTIONS}")
    rng = np.random.default_rng(random_state)
    starts = ev.groupby("session_id")["timestamp"].min().to_numpy()
    n = max(1, round(rate * len(starts)))
    items = ev["item_id"].unique()
    frames = []
    for i in range(n):
        if kind == "fast_bot":
            views = int(rng.integers(20, 81))
            gaps = 0.1 + rng.exponential(1.0, views - 1)
        else:
            views = int(rng.integers(5, 21))
            gaps = np.full(views - 1, rng.uniform(10.0, 60.0))
        offsets = pd.to_timedelta(np.r_[0.0, np.cumsum(gaps)], unit="s")
        session = f"injected-{kind}-{i}"
        frames.append(
            pd.DataFrame(
                {
                    "session_id": session,
                    "user_id": session,
                    "item_id": rng.choice(items, views),
                    "event_type": "view",
                    "timestamp": pd.Timestamp(starts[rng.integers(len(starts))]) + offsets,
                }
            )
        )
    new = pd.concat(frames, ignore_index=True)
    ids = pd.Index(new["session_id"].unique())
    return pd.concat([events, new], ignore_index=True), ids
