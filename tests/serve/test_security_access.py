"""Read keys, Host names and what pages echo: with a read key set, nothing that shows
customer data answers without it; a Host outside the allow-list gets 400; the request's
Host never appears in a page."""

from __future__ import annotations

import base64
import re

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from shopsense.config import Settings
from shopsense.serve.app import create_app
from shopsense.serve.security import PUBLIC_PATHS, PUBLIC_PREFIXES
from tests.serve.conftest import KEY, sample_shop

READ_KEY = "reader-key-0123456789"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The bundled sample and one recommender: enough to show customer data."""
    return sample_shop(tmp_path_factory.mktemp("guarded"))


@pytest.fixture(scope="module")
def guarded(shop: Settings):
    settings = shop.model_copy(update={"read_keys": [READ_KEY], "rate_burst": 1000})
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield app, c


def _routes(routes):
    for r in routes:
        if hasattr(r, "original_router"):  # a router included in the app
            yield from _routes(r.original_router.routes)
        elif isinstance(r, APIRoute):
            yield r


def _public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def test_every_route_but_health_metrics_and_docs_needs_a_key(guarded):
    app, c = guarded
    guarded_routes = 0
    for route in _routes(app.router.routes):
        path = re.sub(r"\{[^}]+\}", "12348", route.path)
        for method in route.methods - {"HEAD"}:
            r = c.request(method, path, json={}, follow_redirects=False)
            if _public(route.path):
                assert r.status_code not in (401, 403), (method, route.path)
                continue
            guarded_routes += 1
            assert r.status_code == 401, (method, route.path, r.status_code)
            if route.path.startswith("/dashboard"):  # a browser: a page saying what to do
                assert "needs a read key" in r.text, route.path
            else:
                assert "read key" in r.json()["detail"]
            wrong = c.request(method, path, json={}, headers={"X-API-Key": "guess"})
            assert wrong.status_code == 403, (method, route.path)
    assert guarded_routes >= 25  # recommendations, histories, customers, dashboard, ...
    assert c.get("/healthz").status_code == 200 and c.get("/metrics").status_code == 200


def test_a_read_or_write_key_reads_customer_data(guarded):
    _, c = guarded
    for headers in (
        {"X-API-Key": READ_KEY},
        {"Authorization": f"Bearer {READ_KEY}"},
        {"X-API-Key": KEY},  # a write key also reads
    ):
        assert c.get("/v1/users/12348/recommendations", headers=headers).status_code == 200
        assert c.get("/v1/users/12348/history", headers=headers).status_code == 200
    # a read key does not write
    event = {"events": [{"user_id": "u1", "item_id": "22423", "event_type": "view"}]}
    r = c.post("/v1/events", json=event, headers={"X-API-Key": READ_KEY})
    assert r.status_code == 403


def test_the_dashboard_asks_a_browser_for_the_key(guarded):
    _, c = guarded
    r = c.get("/dashboard/customers")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
    basic = base64.b64encode(f"shop:{READ_KEY}".encode()).decode()
    r = c.get("/dashboard/models", headers={"Authorization": f"Basic {basic}"})
    assert r.status_code == 200 and "<html" in r.text.lower()
    r = c.get("/dashboard/customers", headers={"Authorization": f"Basic {basic}"})
    assert r.status_code not in (401, 403)  # (503 here: this shop has no segments)


def test_without_read_keys_reads_stay_open(shop: Settings):
    with TestClient(create_app(shop), raise_server_exceptions=False) as c:
        assert c.get("/v1/users/12348/recommendations").status_code == 200


def test_hosts_outside_the_allow_list_are_refused(shop: Settings):
    settings = shop.model_copy(update={"allowed_hosts": ["shop.example.com", "*.shop.test"]})
    with TestClient(create_app(settings), base_url="http://shop.example.com") as c:
        assert c.get("/healthz").status_code == 200
        assert c.get("/healthz", headers={"Host": "api.shop.test"}).status_code == 200
        assert c.get("/healthz", headers={"Host": "evil.example.org"}).status_code == 400


def test_the_models_page_never_echoes_the_host_header(shop: Settings):
    forged = "evil.example.org"
    with TestClient(create_app(shop), raise_server_exceptions=False) as c:
        page = c.get("/dashboard/models", headers={"Host": forged})
        assert page.status_code == 200 and forged not in page.text
        assert "$SHOPSENSE_URL/v1/models/" in page.text
    public = shop.model_copy(update={"public_url": "https://shop.example.com/"})
    with TestClient(create_app(public), raise_server_exceptions=False) as c:
        page = c.get("/dashboard/models", headers={"Host": forged})
        assert forged not in page.text and "https://shop.example.com/v1/models/" in page.text


def test_the_service_limits_expensive_requests_per_client(shop: Settings):
    limited = shop.model_copy(update={"rate_burst": 2, "rate_per_minute": 1.0})
    body = {"question": "does it fit?", "item_id": "22423"}
    with TestClient(create_app(limited), raise_server_exceptions=False) as c:
        codes = [c.post("/v1/questions/answer", json=body).status_code for _ in range(2)]
        assert 429 not in codes
        r = c.post("/v1/questions/answer", json=body)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 50
        assert "a minute" in r.json()["detail"]
        assert c.get("/v1/users/12348/recommendations").status_code == 200  # cheap: free
