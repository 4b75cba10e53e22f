"""The service and its store: one writer (a second service or loader is refused with the
holder's pid), read-only services beside it that follow its events, and caches that an
event write leaves alone unless they read events."""

from __future__ import annotations

import subprocess
import sys
import time

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from shopsense.data.store import Store, StoreLocked
from shopsense.pricing import workflows as pricing
from shopsense.registry import Registry
from shopsense.serve import behavior as behavior_routes
from shopsense.serve import pricing as pricing_routes
from shopsense.serve.app import create_app
from shopsense.serve.state import FOLLOW_S
from tests.data.test_store_lock import writer_elsewhere
from tests.serve.conftest import KEY

AUTH = {"X-API-Key": KEY}


def _event(user: str, item: str = "22423") -> dict:
    return {"events": [{"user_id": user, "item_id": item, "event_type": "purchase"}]}


def test_a_second_service_on_the_store_is_refused(fresh_shop):
    with writer_elsewhere(fresh_shop.store_path) as holder:
        app = create_app(fresh_shop)
        with pytest.raises(StoreLocked, match=f"pid {holder.pid}"), TestClient(app):
            pass
        # read-only, it starts and answers beside the writer
        read_only = fresh_shop.model_copy(update={"read_only": True})
        with TestClient(create_app(read_only)) as client:
            r = client.get("/v1/users/12348/recommendations")
            assert r.status_code == 200 and r.json()["source"] == "model"


def test_writes_go_through_the_service_only(fresh_shop):
    """While the service runs, a loader in another process is refused with the service's
    pid and a reader is not; events posted to the service are stored."""
    import os

    cli = [sys.executable, "-m", "shopsense.cli"]
    with TestClient(create_app(fresh_shop)) as client:
        load = subprocess.run(
            [*cli, "data", "load", "sample", "--store", str(fresh_shop.store_path)],
            capture_output=True,
            text=True,
        )
        assert load.returncode != 0
        said = " ".join((load.stdout + load.stderr).split())
        assert f"pid {os.getpid()}" in said and "nothing was loaded" in said
        assert "Traceback" not in said
        assert client.post("/v1/events", json=_event("walk-in"), headers=AUTH).json()["stored"]
        stats = subprocess.run(
            [*cli, "data", "stats", "--json", "--store", str(fresh_shop.store_path)],
            capture_output=True,
            text=True,
        )
        assert stats.returncode == 0, stats.stderr
    with Store(fresh_shop.store_path, read_only=True) as store:
        assert (
            store.count(
                "events",
            )
            > 0
        )
        assert len(store.query("SELECT * FROM events WHERE user_id = 'walk-in'")) == 1


def test_one_writer_and_a_read_only_service_that_follows_it(fresh_shop):
    read_only = fresh_shop.model_copy(update={"read_only": True})
    user = "seen-by-the-writer-only"
    with TestClient(create_app(fresh_shop)) as writer, TestClient(create_app(read_only)) as reader:
        path = f"/v1/users/{user}/recommendations"
        assert reader.get(path).json()["source"] == "cold_start"
        refused = reader.post("/v1/events", json=_event(user), headers=AUTH)
        assert refused.status_code == 409 and "read-only" in refused.json()["detail"]
        assert writer.post("/v1/events", json=_event(user), headers=AUTH).status_code == 201
        assert writer.get(path).json()["source"] == "fold_in"
        deadline = time.monotonic() + 10 * FOLLOW_S
        while reader.get(path).json()["source"] != "fold_in":
            assert time.monotonic() < deadline, "the read-only service never saw the event"
            time.sleep(0.2)
        assert "22423" not in [i["item_id"] for i in reader.get(path).json()["items"]]


def test_an_event_write_keeps_pricing_and_segments_hot(fresh_shop, monkeypatch):
    """Caches are keyed by the tables they read: events do not touch prices or segments,
    an order line does."""
    calls = {"pricing": 0, "segments": 0}
    load_pricing = pricing_routes.PricingDesk._load_pricing
    load_segments = behavior_routes.Insights._load

    def counting_pricing(self, *args):  # type: ignore[no-untyped-def]
        calls["pricing"] += 1
        return load_pricing(self, *args)

    def counting_segments(self, *args):  # type: ignore[no-untyped-def]
        calls["segments"] += 1
        return load_segments(self, *args)

    monkeypatch.setattr(pricing_routes.PricingDesk, "_load_pricing", counting_pricing)
    monkeypatch.setattr(behavior_routes.Insights, "_load", counting_segments)
    model = Registry(fresh_shop.models_dir).load(pricing.TASK, pricing.ELASTICITY)
    item = str(model.table_.index[0])
    with TestClient(create_app(fresh_shop)) as client:

        def views() -> None:
            assert client.get(f"/v1/pricing/suggestions/{item}").status_code == 200
            assert client.get("/v1/segments").status_code == 200

        views()
        assert calls == {"pricing": 1, "segments": 1}
        for n in range(3):
            assert client.post("/v1/events", json=_event(f"u{n}"), headers=AUTH).status_code == 201
            views()
        assert calls == {"pricing": 1, "segments": 1}
        state = client.app.state.service
        events, lines = state.data_version("events"), state.data_version("order_lines")
        assert events >= 3
        line = {
            "invoice_id": ["X1"], "item_id": [item], "quantity": [1], "unit_price": [1.0],
            "time": ["2011-12-01 10:00"], "customer_id": ["12348"],
        }  # fmt: skip
        with Store(fresh_shop.store_path) as store:  # this process holds the store: allowed
            frame = pd.DataFrame(line).assign(time=lambda f: pd.to_datetime(f["time"]))
            store.write_frame("order_lines", frame, source="till")
        assert state.data_version("order_lines") == lines + 1
        assert state.data_version("events") == events
        views()
        assert calls == {"pricing": 2, "segments": 2}
