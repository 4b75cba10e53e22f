"""API keys: none configured -> writes refused; keys never appear in logs or responses;
oversized bodies are cut off with 413."""

from __future__ import annotations

import logging

from fastapi.testclient import TestClient

from shopsense.config import Settings
from shopsense.serve.app import create_app
from tests.serve.conftest import KEY

EVENT = {"events": [{"user_id": "u1", "item_id": "22423", "event_type": "view"}]}


def test_without_configured_keys_writes_are_refused(fresh_shop):
    with TestClient(create_app(fresh_shop.model_copy(update={"api_keys": []}))) as c:
        r = c.post("/v1/events", json=EVENT, headers={"X-API-Key": "anything"})
        assert r.status_code == 403 and "SHOPSENSE_API_KEYS" in r.json()["detail"]
        assert c.get("/v1/users/12348/recommendations").status_code == 200  # reads still work


def test_any_configured_key_works_and_keys_stay_secret(fresh_shop, caplog, monkeypatch):
    monkeypatch.setenv("SHOPSENSE_API_KEYS", f"other-key,{KEY}")
    settings = Settings(**fresh_shop.model_dump(exclude={"api_keys"}))
    assert KEY not in repr(settings) and KEY not in str(settings.model_dump())
    with caplog.at_level(logging.DEBUG), TestClient(create_app(settings)) as c:
        for key in ("other-key", KEY):
            assert c.post("/v1/events", json=EVENT, headers={"X-API-Key": key}).status_code == 201
        assert c.post("/v1/events", json=EVENT, headers={"X-API-Key": KEY[:-1]}).status_code == 403
        assert KEY not in c.get("/metrics").text
    assert KEY not in caplog.text


def test_body_limit_by_content_length_and_by_stream(fresh_shop):
    small = fresh_shop.model_copy(update={"max_body_bytes": 2048})
    with TestClient(create_app(small)) as c:
        big = b"{" + b" " * 5000 + b"}"
        r = c.post("/v1/events", content=big, headers={"X-API-Key": KEY})
        assert r.status_code == 413
        assert r.headers["content-type"] == "application/problem+json"  # like every error
        assert r.json()["status"] == 413 and "2048 bytes" in r.json()["detail"]

        def chunks():  # no Content-Length: counted while reading
            for _ in range(10):
                yield b" " * 1000

        r = c.post(
            "/v1/events",
            content=chunks(),
            headers={"X-API-Key": KEY, "Content-Type": "application/json"},
        )
        assert r.status_code == 413
        assert c.post("/v1/events", json=EVENT, headers={"X-API-Key": KEY}).status_code == 201
