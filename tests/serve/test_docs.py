"""/docs and /redoc work without internet access: every script, style and icon they name
is served by this server."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

#: what a page may name: src/href attributes, and the spec URL in its script
_URLS = re.compile(r"""(?:src|href|spec-url)=["']([^"']+)["']|url: ?["']([^"']+)["']""")


def _urls(page: str) -> list[str]:
    return [a or b for a, b in _URLS.findall(page)]


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_name_only_local_urls_and_each_answers(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "cdn." not in page and "fonts.googleapis" not in page
    urls = _urls(page)
    assert "/openapi.json" in urls and any(u.endswith(".js") for u in urls), urls
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), f"{path} names {url}"
        fetched = client.get(url)
        assert fetched.status_code == 200, f"{path} names {url}: {fetched.status_code}"
        assert len(fetched.content) > 100, url


def test_the_bundled_scripts_are_the_real_ui_builds(client: TestClient) -> None:
    swagger = client.get("/docs-assets/swagger-ui-bundle.js")
    assert swagger.status_code == 200 and b"SwaggerUIBundle" in swagger.content
    redoc = client.get("/docs-assets/redoc.standalone.js")
    assert redoc.status_code == 200 and b"Redoc" in redoc.content


def test_the_docs_pages_stay_out_of_the_api_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith(("/docs", "/redoc"))]
