"""The dashboard's edges: an address with a trailing slash, a crash outside any page's own
handling, a browser without the read key, and a Host the service does not answer to."""

from __future__ import annotations

import base64
import logging
import re

import pytest
from fastapi.testclient import TestClient

from shopsense.config import Settings
from shopsense.serve.app import create_app

READ_KEY = "reader-key-0123456789"
NAV = ('href="/dashboard"', 'href="/dashboard/models"', 'href="/dashboard/explorer"')


def test_a_trailing_slash_redirects_to_the_page(shop: Settings) -> None:
    with TestClient(create_app(shop), raise_server_exceptions=False) as client:
        r = client.get("/dashboard/", follow_redirects=False)
        assert r.status_code == 308 and r.headers["location"] == "/dashboard"
        r = client.get("/dashboard/explorer/?user=12348&k=3", follow_redirects=False)
        assert r.status_code == 308
        assert r.headers["location"] == "/dashboard/explorer?user=12348&k=3"
        followed = client.get("/dashboard/")
        assert followed.status_code == 200
        assert "<title>Overview · shopsense</title>" in followed.text
        missing = client.get("/dashboard/nothing-here/", follow_redirects=False)
        assert missing.status_code == 404 and "Page not found" in missing.text


def test_a_crash_outside_a_page_is_the_error_page_with_a_reference(
    fresh_shop: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(fresh_shop)

    def broken() -> dict:
        raise RuntimeError("secret internal detail")

    app.add_api_route("/dashboard/broken", broken)  # a plain route: no page's own handling
    app.router.routes.insert(0, app.router.routes.pop())  # before the dashboard's 404 page
    with (
        TestClient(app, raise_server_exceptions=False) as client,
        caplog.at_level(logging.ERROR, logger="shopsense.serve"),
    ):
        r = client.get("/dashboard/broken")
    assert r.status_code == 500 and r.headers["content-type"].startswith("text/html")
    assert "secret" not in r.text and "Traceback" not in r.text
    assert all(href in r.text for href in NAV)  # the nav bar, and a way back
    assert "Back to the <a" in r.text
    ref = re.search(r"reference ([0-9a-f]{12})", r.text)
    assert ref and any(ref.group(1) in m for m in caplog.messages)


def test_a_browser_without_the_key_is_told_how_to_give_it(shop: Settings) -> None:
    guarded = shop.model_copy(update={"read_keys": [READ_KEY]})
    with TestClient(create_app(guarded), raise_server_exceptions=False) as client:
        r = client.get("/dashboard/models")
        assert r.status_code == 401 and r.headers["content-type"].startswith("text/html")
        assert r.headers["www-authenticate"] == 'Basic realm="shopsense"'
        assert "needs a read key" in r.text and "as the password" in r.text
        assert "X-API-Key" in r.text and r.headers["cache-control"] == "no-store"
        api = client.get("/v1/users/12348/history")  # the API still answers as before
        assert api.status_code == 401 and "read key" in api.json()["detail"]
        basic = base64.b64encode(f"anyone:{READ_KEY}".encode()).decode()
        ok = client.get("/dashboard/models", headers={"Authorization": f"Basic {basic}"})
        assert ok.status_code == 200


def test_an_unknown_host_gets_a_problem_document(shop: Settings) -> None:
    hosts = shop.model_copy(update={"allowed_hosts": ["shop.example.com", "www.shop.test"]})
    app = create_app(hosts)
    with TestClient(app, base_url="http://shop.example.com") as client:
        assert client.get("/healthz").status_code == 200
        r = client.get("/healthz", headers={"Host": "evil.example.org"})
        assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
        body = r.json()
        assert body["status"] == 400 and body["title"] == "Bad Request"
        assert body["type"] == "about:blank" and "SHOPSENSE_ALLOWED_HOSTS" in body["detail"]
        assert "evil" not in r.text  # the forged host is not echoed
        www = client.get("/healthz", headers={"Host": "shop.test"}, follow_redirects=False)
        assert www.status_code in (301, 307)  # Starlette's redirect to the www. host stays
        assert www.headers["location"] == "http://www.shop.test/healthz"
