"""Training-period references on the bundled UCI sample: usual prices come from sales only,
and view counts and gaps from the sessions given."""

from __future__ import annotations

import pandas as pd
import pytest

from shopsense.data.references import order_reference, session_reference
from shopsense.data.sources import load_sample


def test_usual_price_is_the_median_sale_price():
    lines = load_sample().order_lines_view()
    reference = order_reference(lines)
    sold = lines[lines["is_sale"] & (lines["unit_price"] > 0)]
    item = sold["item_id"].value_counts().index[0]
    assert reference.price[item] == pytest.approx(
        sold.loc[sold["item_id"] == item, "unit_price"].median()
    )
    assert reference.lines[item] == (sold["item_id"] == item).sum()
    assert "POST" in reference.price.index and "POST" not in reference.products
    cancelled = lines.loc[lines["takes_back"], "item_id"]
    only_cancelled = set(cancelled) - set(sold["item_id"])
    assert not only_cancelled & set(reference.price.index)


def test_session_reference_counts_views_and_the_median_gap():
    events = pd.DataFrame(
        {
            "session_id": ["a", "a", "a", "b", "b"],
            "item_id": ["x", "y", "x", "x", "z"],
            "timestamp": pd.to_datetime(
                [
                    "2024-01-01 10:00:00",
                    "2024-01-01 10:00:10",
                    "2024-01-01 10:00:40",
                    "2024-01-02 09:00:00",
                    "2024-01-02 09:00:20",
                ]
            ),
        }
    )
    reference = session_reference(events)
    assert reference.views.to_dict() == {"x": 3.0, "y": 1.0, "z": 1.0}
    assert reference.gap_median_s == 20.0
