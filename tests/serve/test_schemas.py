"""Request bodies refuse what the store could not hold or should not see."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shopsense.serve.schemas import ActivateRequest, BatchRequest, EventIn


@pytest.mark.parametrize(
    "fields",
    [
        {"user_id": "", "item_id": "i", "event_type": "view"},
        {"user_id": "u" * 129, "item_id": "i", "event_type": "view"},
        {"user_id": "u\n", "item_id": "i", "event_type": "view"},
        {"user_id": "u", "item_id": "i", "event_type": "click"},
        {"user_id": "u", "item_id": "i", "event_type": "view", "value": float("inf")},
        {"user_id": "u", "item_id": "i", "event_type": "view", "surprise": 1},
    ],
)
def test_bad_events(fields):
    with pytest.raises(ValidationError):
        EventIn(**fields)


def test_good_event_and_defaults():
    e = EventIn(user_id="ü-1", item_id="sku 9", event_type="cart")
    assert e.timestamp is None and e.value is None and e.event_type == "cart"
    assert BatchRequest(users=["a"]).k == 10
    with pytest.raises(ValidationError):
        BatchRequest(users=[])
    with pytest.raises(ValidationError):
        ActivateRequest(version="../v0001")


def test_finite_numbers_for_json():
    from shopsense.serve.schemas import finite

    assert finite(1) == 1.0 and finite("2.5") == 2.5
    assert finite(None) is None and finite("x") is None
    assert finite(float("nan")) is None and finite(float("inf")) is None
