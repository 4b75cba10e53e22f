"""The dashboard's customers page over the shared shop (an RFM segmentation)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from shopsense.config import Settings
from shopsense.serve.app import create_app


@pytest.fixture(scope="module")
def web(shop: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(shop), raise_server_exceptions=False) as client:
        yield client


def test_customers_page_lists_every_segment(web: TestClient) -> None:
    segments = web.get("/v1/segments").json()
    page = web.get("/dashboard/customers")
    assert page.status_code == 200 and "Traceback" not in page.text
    for profile in segments["profiles"]:
        assert f'data-segment="{profile["name"]}"' in page.text
    assert 'href="/dashboard/customers" class="active"' in page.text


def test_customer_lookup_shows_the_segment_or_says_why_not(web: TestClient) -> None:
    expected = web.get("/v1/customers/12348").json()["segment"]
    page = web.get("/dashboard/customers", params={"customer": "12348"})
    assert f'data-found-segment="{expected}"' in page.text and "recency days" in page.text
    missing = web.get("/dashboard/customers", params={"customer": "<b>nobody</b>"})
    assert "has no purchases" in missing.text and "<b>nobody</b>" not in missing.text


def test_segment_map_is_an_svg(web: TestClient) -> None:
    r = web.get("/dashboard/plots/segments.svg")
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert r.text.lstrip().startswith("<?xml") and "champions" in r.text


def test_without_a_segmentation_the_page_says_what_to_run(fresh_shop: Settings) -> None:
    shutil.rmtree(fresh_shop.models_dir / "behavior")
    with TestClient(create_app(fresh_shop), raise_server_exceptions=False) as client:
        page = client.get("/dashboard/customers")
        assert page.status_code == 503 and "shopsense segments" in page.text
