"""Returns and cancellations netted against the sales they undo.

A shop's return is often booked without saying which sale it reverses (a credit note, a
negative line on a later invoice). The fair reading is that it takes back the same customer's
most recent earlier purchase of the same item, so the units leave the day they were sold, at
the price they were sold for. Used by the order-line view and by loaders of public data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def net_returns(purchases: pd.DataFrame, cancels: pd.DataFrame) -> pd.DataFrame:
    """Which purchases later returns or cancellations of the same customer and item take back.

    `purchases` and `cancels` have columns customer, item, time, qty (qty > 0 for purchases,
    < 0 for cancellations). Per (customer, item), a cancellation consumes units of that
    customer's EARLIER purchases, latest first (a stack); cancelled units with no earlier
    purchase left are ignored (they cancel purchases from before the data starts). A
    cancellation at the same minute as a purchase does not cancel it (it must be later).

    Returns a frame indexed like `purchases` with `cancelled_units` (0..qty) and `dropped`
    (all units cancelled). Vectorised: the stack height is the running sum reflected at 0,
    and a purchase occupying stack levels (before, after] is fully taken back exactly when
    the stack later falls to `before` or lower.
    """
    result = pd.DataFrame(
        {"cancelled_units": np.zeros(len(purchases), dtype="int64"), "dropped": False},
        index=purchases.index,
    )
    if cancels.empty or purchases.empty:
        return result
    keys = ["customer", "item"]
    cancel_keys = pd.MultiIndex.from_frame(cancels[keys].drop_duplicates())
    touched = pd.MultiIndex.from_frame(purchases[keys]).isin(cancel_keys)
    if not touched.any():
        return result
    p = purchases.loc[touched, [*keys, "time", "qty"]].assign(kind=1, row=purchases.index[touched])
    c = cancels[[*keys, "time", "qty"]].assign(kind=0, row=-1)
    steps = pd.concat([p, c], ignore_index=True)
    # Same minute: the cancellation goes first, so it cannot take back that purchase.
    steps = steps.sort_values([*keys, "time", "kind"], kind="stable", ignore_index=True)
    group = steps.groupby(keys, sort=False).ngroup()
    running = steps["qty"].groupby(group).cumsum()
    floor = running.groupby(group).cummin().clip(upper=0)
    height = running - floor  # stack height after each step (reflected at 0)
    suffix_min = height.iloc[::-1].groupby(group.iloc[::-1]).cummin().iloc[::-1]
    later_min = suffix_min.groupby(group).shift(-1)  # lowest height strictly after the step
    is_purchase = steps["kind"].to_numpy() == 1
    after = height.to_numpy()[is_purchase]
    before = after - steps["qty"].to_numpy()[is_purchase]
    lowest = later_min.to_numpy()[is_purchase]
    lowest = np.where(np.isnan(lowest), np.inf, lowest)
    units = np.clip(after - np.maximum(before, lowest), 0, None)
    units = np.where(np.isinf(units), 0, units).astype("int64")
    rows = steps["row"].to_numpy()[is_purchase]
    result.loc[rows, "cancelled_units"] = units
    result.loc[rows, "dropped"] = lowest <= before
    return result
