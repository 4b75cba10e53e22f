"""The dashboard's pricing page over the shared shop (elasticities of 40 products)."""

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


def _first_item(page: str) -> str:
    return page.split('data-item="', 1)[1].split('"', 1)[0]


def test_pricing_page_lists_suggestions_with_reasons(web: TestClient) -> None:
    page = web.get("/dashboard/pricing")
    assert page.status_code == 200 and "Traceback" not in page.text
    assert 'href="/dashboard/pricing" class="active"' in page.text
    item = _first_item(page.text)
    served = web.get(f"/v1/pricing/suggestions/{item}").json()
    assert f"{served['suggested_price']:,.2f}" in page.text
    assert 'data-stat="priced"' in page.text


def test_product_lookup_shows_its_reason_and_demand_curve(web: TestClient) -> None:
    item = _first_item(web.get("/dashboard/pricing").text)
    page = web.get("/dashboard/pricing", params={"item": item})
    assert f'data-found-item="{item}"' in page.text and "elasticity" in page.text
    svg = web.get(f"/dashboard/plots/demand/{item}.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert "suggested" in svg.text and "today" in svg.text
    missing = web.get("/dashboard/pricing", params={"item": "<b>nothing</b>"})
    assert "not among the priced products" in missing.text and "<b>nothing</b>" not in missing.text
    assert web.get("/dashboard/plots/demand/NOPE.svg").status_code == 404


def test_without_elasticities_the_page_says_what_to_run(fresh_shop: Settings) -> None:
    shutil.rmtree(fresh_shop.models_dir / "pricing")
    with TestClient(create_app(fresh_shop), raise_server_exceptions=False) as client:
        page = client.get("/dashboard/pricing")
        assert page.status_code == 503 and "shopsense pricing elasticity" in page.text


def test_titles_beside_ids_and_borrowed_elasticities_are_said(web: TestClient) -> None:
    page = web.get("/dashboard/pricing").text
    item = _first_item(page)
    served = web.get(f"/v1/pricing/suggestions/{item}").json()
    assert served["title"] and served["title"] in page
    table = web.app.state.pricing_desk.pricing().suggestions
    ok = table[table["status"] == "ok"]
    lent = str(ok.index[ok["elasticity_borrowed"].astype(bool)][0])
    own = str(ok.index[~ok["elasticity_borrowed"].astype(bool)][0])
    found = web.get("/dashboard/pricing", params={"item": lent}).text
    assert "data-found-borrowed" in found and "elasticity of its category" in found
    assert "data-found-borrowed" not in web.get("/dashboard/pricing", params={"item": own}).text
    assert "data-borrowed" in page  # the list marks borrowed elasticities too
