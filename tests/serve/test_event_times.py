"""Event times: one instant is one time whatever its offset (stored in UTC), a time
without an offset is the shop's local time, implausible times are refused naming the
event, a retried batch with an Idempotency-Key is stored once, and the activity chart
keeps to where the data is."""

from __future__ import annotations

import time

import pandas as pd
from fastapi.testclient import TestClient

from shopsense.data.store import Store
from shopsense.serve.app import create_app
from shopsense.serve.dashboard.views import weekly_activity
from tests.serve.conftest import KEY

AUTH = {"X-API-Key": KEY}


def _stored(settings, user: str) -> list[pd.Timestamp]:
    with Store(settings.store_path, read_only=True) as store:
        frame = store.read("events", ["user_id", "timestamp"], where=f"user_id = '{user}'")
    return sorted(frame["timestamp"])


def _post(client: TestClient, events: list[dict], **headers: str):
    return client.post("/v1/events", json={"events": events}, headers={**AUTH, **headers})


def test_one_instant_is_one_time_in_utc(fresh_shop):
    event = {"user_id": "tz", "item_id": "22423", "event_type": "view"}
    with TestClient(create_app(fresh_shop)) as client:
        first = _post(client, [{**event, "timestamp": "2026-01-01T12:00:00+05:00"}])
        assert first.json()["stored"] == 1
        again = _post(client, [{**event, "timestamp": "2026-01-01T07:00:00Z"}])
        assert again.json() | {"replay": False} == {
            "received": 1, "stored": 0, "already_stored": 1, "users": 1, "replay": False
        }  # fmt: skip
    assert _stored(fresh_shop, "tz") == [pd.Timestamp("2026-01-01 07:00")]


def test_a_time_without_offset_is_the_shops_local_time(fresh_shop):
    karachi = fresh_shop.model_copy(update={"shop_timezone": "Asia/Karachi"})
    event = {"user_id": "local", "item_id": "22423", "event_type": "view"}
    with TestClient(create_app(karachi)) as client:
        assert _post(client, [{**event, "timestamp": "2026-01-01T12:00:00"}]).status_code == 201
    assert _stored(fresh_shop, "local") == [pd.Timestamp("2026-01-01 07:00")]


def test_implausible_times_are_refused_naming_the_event(fresh_shop):
    ok = {"user_id": "when", "item_id": "22423", "event_type": "view"}
    far = pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=3)
    bad = [
        {**ok, "timestamp": "2026-01-01T00:00:00Z"},
        {**ok, "timestamp": "1677-09-22T00:00:00Z"},
        {**ok, "timestamp": far.isoformat()},
        {**ok, "timestamp": "1989-12-31T23:00:00Z"},
        {**ok, "timestamp": "0001-01-01T00:00:00+05:00"},  # before the calendar in UTC
        {**ok, "timestamp": "9999-12-31T23:00:00-05:00"},  # after it
    ]
    with TestClient(create_app(fresh_shop)) as client:
        r = _post(client, bad)
        assert r.status_code == 422
        problems = r.json()["detail"]
        assert [p["loc"] for p in problems] == [
            ["body", "events", n, "timestamp"] for n in (1, 2, 3, 4, 5)
        ]
        assert "before 1990-01-01" in problems[0]["msg"] and "event 1" in problems[0]["msg"]
        assert "hours ahead" in problems[1]["msg"]
        assert _post(client, bad[:1]).json()["stored"] == 1  # the plausible one alone is fine
    assert _stored(fresh_shop, "when") == [pd.Timestamp("2026-01-01")]


def test_a_retried_batch_with_a_key_is_stored_once(fresh_shop):
    batch = [
        {"user_id": "retry", "item_id": "22423", "event_type": "view"},
        {"user_id": "retry", "item_id": "22699", "event_type": "cart"},
    ]
    with TestClient(create_app(fresh_shop)) as client:
        first = _post(client, batch, **{"Idempotency-Key": "batch-0001"})
        assert first.status_code == 201 and first.json()["stored"] == 2
        time.sleep(1.1)  # past the second the first arrival was stamped with
        again = _post(client, batch, **{"Idempotency-Key": "batch-0001"})
        assert again.status_code == 201
        assert again.json()["stored"] == 0 and again.json()["already_stored"] == 2
        assert again.json()["replay"] is True
        other = _post(client, batch[:1], **{"Idempotency-Key": "batch-0001"})
        assert other.status_code == 422 and "different batch" in other.json()["detail"]
        assert len(_stored(fresh_shop, "retry")) == 2
        # without a key the same retry is two more events: the key is what makes it safe
        _post(client, batch)
        time.sleep(1.1)
        _post(client, batch)
    assert len(_stored(fresh_shop, "retry")) == 6


def test_the_activity_chart_keeps_to_the_datas_range(fresh_shop):
    strays = pd.DataFrame(
        {
            "user_id": ["stray"] * 3,
            "item_id": ["22423"] * 3,
            "event_type": ["view"] * 3,
            "timestamp": pd.to_datetime(["1677-09-22", "1677-09-23", "2262-04-10"]),
        }
    )
    with Store(fresh_shop.store_path) as store:
        before = weekly_activity(store)
        store.write_frame("events", strays, source="old import", quality=False)
        after = weekly_activity(store)
        assert store.query("SELECT min(timestamp) AS t FROM events")["t"][0].year == 1677
    assert after["week"].min() == before["week"].min()
    assert after["week"].max() == before["week"].max()
    assert after["week"].min().year >= 2009 and len(after) > 20
