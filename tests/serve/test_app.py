"""The app around the API: health, readiness, metrics, error handling, limits, and a
property-based fuzz of the whole OpenAPI schema (zero server errors)."""

from __future__ import annotations

import logging

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from shopsense.serve.app import create_app
from tests.serve.conftest import KEY


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok", "detail": None}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and "serving ease/" in ready.json()["detail"]
    home = client.get("/", follow_redirects=False)
    assert home.status_code == 307 and home.headers["location"] == "/dashboard"


def test_not_ready_without_models(fresh_shop, tmp_path):
    empty = fresh_shop.model_copy(update={"models_dir": tmp_path / "none", "default_model": None})
    with TestClient(create_app(empty)) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and "no trained model" in r.json()["detail"]
        r = c.get("/v1/users/12348/recommendations")
        assert r.status_code == 503 and "shopsense train" in r.json()["detail"]
        assert c.get("/healthz").status_code == 200


def test_metrics_count_requests_by_route_and_show_the_model(client):
    client.get("/v1/users/12348/recommendations")
    client.get("/v1/users/someone-else/recommendations")
    text = client.get("/metrics").text
    line = (
        'shopsense_requests_total{method="GET",route="/v1/users/{user_id}/recommendations",'
        'status="200"} 2.0'
    )
    assert line in text
    assert 'shopsense_model_info{name="ease",version="v0002"} 1.0' in text
    assert 'shopsense_recommendations_total{source="cold_start"} 1.0' in text
    assert "shopsense_request_seconds_bucket" in text and "someone-else" not in text


def test_a_crash_is_a_500_without_internals(client, monkeypatch, caplog):
    state = client.app.state.service

    def boom(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(type(state.model()), "recommend", boom)
    with caplog.at_level(logging.ERROR, logger="shopsense.serve"):
        r = client.get("/v1/users/12348/recommendations")
    assert r.status_code == 500
    assert "secret" not in r.text and "Traceback" not in r.text and "reference" in r.text
    assert "secret internal detail" in caplog.text  # the operator sees it in the log


def test_body_size_limit(client, fresh_shop):
    big = {"events": [{"user_id": "u" * 100, "item_id": "i", "event_type": "view"}] * 20_000}
    r = client.post("/v1/events", json=big, headers={"X-API-Key": KEY})
    assert r.status_code == 413 and "larger than" in r.json()["detail"]


def test_openapi_documents_the_api(client):
    spec = client.get("/openapi.json").json()
    paths = set(spec["paths"])
    assert {"/v1/users/{user_id}/recommendations", "/v1/events", "/v1/models/{name}/activate",
            "/healthz", "/readyz", "/metrics"} <= paths  # fmt: skip
    assert "APIKeyHeader" in spec["components"]["securitySchemes"]


def test_fuzzing_the_schema_finds_no_server_error(fresh_shop):
    """Schemathesis draws requests for every operation from the OpenAPI schema (valid and
    edge-case values), writes included (with a key, on a private copy of the shop); none
    may produce a 5xx."""
    app = create_app(fresh_shop)
    with TestClient(app):
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)

        @given(case=schema.as_strategy())
        @settings(
            max_examples=300,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def no_server_error(case: schemathesis.Case) -> None:
            response = case.call(headers={"X-API-Key": KEY})
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} {case.query}: {response.text[:300]}"
            )

        no_server_error()
