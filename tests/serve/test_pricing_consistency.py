"""One pricing computation: the same product, rules and model give the same suggested price
by GET, by POST alone or with other products, from `shopsense pricing suggest` and on the
dashboard; borrowed elasticities and product titles are said alongside."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from shopsense.cli import app as cli
from shopsense.config import Settings
from shopsense.data.store import Store
from shopsense.serve.app import create_app

NUMBERS = ("current_price", "suggested_price", "units_now", "units_new", "profit_new")


def _cli_suggest(shop: Settings, items: list[str], reports: Path) -> pd.DataFrame:
    """`shopsense pricing suggest ITEMS` on the shop; its CSV (the only one in `reports`)."""
    env = {
        "SHOPSENSE_STORE_PATH": str(shop.store_path),
        "SHOPSENSE_MODELS_DIR": str(shop.models_dir),
        "SHOPSENSE_REPORTS_DIR": str(reports),
    }
    r = CliRunner().invoke(cli, ["pricing", "suggest", *items, "--show", "1"], env=env)
    assert r.exit_code == 0, r.output
    (path,) = reports.glob("price-suggestions-*.csv")
    return pd.read_csv(path, dtype={"item_id": str}).set_index("item_id")


@pytest.fixture(scope="module")
def priced(shop: Settings) -> pd.DataFrame:
    """The service's default suggestions of every priced product."""
    with TestClient(create_app(shop), raise_server_exceptions=False) as client:
        assert client.get("/dashboard/pricing").status_code == 200
        table = client.app.state.pricing_desk.pricing().suggestions
    return table[table["status"] == "ok"]


def test_the_same_product_gets_the_same_price_everywhere(shop: Settings, priced, tmp_path):
    own = priced[~priced["elasticity_borrowed"].astype(bool)]
    item = str((own["profit_new"] - own["profit_now"]).idxmax())
    others = [str(i) for i in priced.index if str(i) != item]
    company = {
        "alone": [item],
        "with two": [item, *others[:2]],
        "with ten, after them": [*others[5:15], item],
        "with every product": [*others, item],
    }
    with TestClient(create_app(shop), raise_server_exceptions=False) as client:
        got = {"GET": client.get(f"/v1/pricing/suggestions/{item}").json()}
        for name, items in company.items():
            r = client.post("/v1/pricing/suggest", json={"items": items})
            assert r.status_code == 200, r.text
            rows = {s["item_id"]: s for s in r.json()["suggestions"]}
            assert list(rows) == items  # in the order asked
            got[f"POST {name}"] = rows[item]
        page = client.get("/dashboard/pricing", params={"item": item}).text
    alone = _cli_suggest(shop, [item], tmp_path / "alone")
    together = _cli_suggest(shop, [*others[:7], item], tmp_path / "together")
    got["CLI alone"] = alone.loc[item].to_dict()
    got["CLI with others"] = together.loc[item].to_dict()
    first = got["GET"]
    assert first["units_now"] > 0
    for where, answer in got.items():
        for field in NUMBERS:
            assert answer[field] == pytest.approx(first[field], rel=1e-9), (where, field)
        assert answer["title"] == first["title"], where
    assert f'data-found-item="{item}"' in page
    assert f"<td data-suggested>{first['suggested_price']:,.2f}</td>" in page


def test_a_borrowed_elasticity_says_so_and_titles_come_from_the_catalogue(shop: Settings, priced):
    borrowed = priced[priced["elasticity_borrowed"].astype(bool)]
    own = priced[~priced["elasticity_borrowed"].astype(bool)]
    assert len(borrowed) and len(own)
    with Store(shop.store_path) as store:
        titles = store.read("items", ["item_id", "title"]).set_index("item_id")["title"]
    items = [str(borrowed.index[0]), str(own.index[0])]
    with TestClient(create_app(shop), raise_server_exceptions=False) as client:
        rows = client.post("/v1/pricing/suggest", json={"items": items}).json()["suggestions"]
    lent, kept = rows
    assert lent["elasticity_borrowed"] is True and lent["elasticity_basis"] == "category"
    assert "borrowed from its category" in lent["reason"]
    assert kept["elasticity_borrowed"] is False and "borrowed" not in kept["reason"]
    assert lent["title"] == titles[items[0]] and kept["title"] == titles[items[1]]
