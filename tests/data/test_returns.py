"""Returns and cancellations take back the same customer's latest earlier purchases."""

from __future__ import annotations

import pandas as pd

from shopsense.data.returns import net_returns


def _frame(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer", "item", "time", "qty"])
    frame["time"] = pd.to_datetime(frame["time"])
    return frame


def test_latest_earlier_purchase_goes_first_and_same_minute_is_not_later():
    purchases = _frame(
        [
            ("a", "x", "2024-01-01 10:00", 2),
            ("a", "x", "2024-01-02 10:00", 3),
            ("b", "x", "2024-01-03 10:00", 2),
            ("c", "x", "2024-01-03 10:00", 1),
        ]
    )
    returns = _frame(
        [
            ("a", "x", "2024-01-03 10:00", -4),  # the 3 go, one of the 2
            ("b", "x", "2024-01-03 10:00", -2),  # same minute: not a later return
            ("c", "x", "2023-12-01 10:00", -1),  # before the purchase: nothing to take back
        ]
    )
    netted = net_returns(purchases, returns)
    assert netted["cancelled_units"].tolist() == [1, 3, 0, 0]
    assert netted["dropped"].tolist() == [False, True, False, False]


def test_nothing_to_net():
    purchases = _frame([("a", "x", "2024-01-01", 1)])
    empty = _frame([])
    assert net_returns(purchases, empty)["cancelled_units"].tolist() == [0]
