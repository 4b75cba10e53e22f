"""Pricing in the service: not ready before training, elasticities, explained suggestions
(default and custom rules, validated), forecasts."""

from __future__ import annotations

import shutil

from fastapi.testclient import TestClient

from shopsense.pricing import workflows
from shopsense.registry import Registry
from shopsense.serve.app import create_app
from tests.public_data import corpus


def _activate(settings, run) -> None:
    """A new estimate serves once activated (`shopsense activate --task pricing`)."""
    Registry(settings.models_dir).activate("pricing", run.version.name, run.version.version)


def test_before_any_estimate_the_answer_says_how_to_get_one(fresh_shop):
    shutil.rmtree(fresh_shop.models_dir / "pricing")
    with TestClient(create_app(fresh_shop), raise_server_exceptions=False) as client:
        r = client.get("/v1/pricing/elasticity/85123A")
        assert r.status_code == 503 and "shopsense pricing elasticity" in r.json()["detail"]
        r = client.get("/v1/pricing/forecast/85123A")
        assert r.status_code == 503 and "shopsense pricing forecast" in r.json()["detail"]


def test_an_estimate_on_another_data_set_is_not_served(fresh_shop):
    csv = corpus("retail-price-optimization") / "retail-price-optimization" / "retail_price.csv"
    _activate(fresh_shop, workflows.elasticity(fresh_shop, file=csv, params={"n_boot": 50}))
    with TestClient(create_app(fresh_shop), raise_server_exceptions=False) as client:
        r = client.get("/v1/pricing/elasticity/bed1")
        assert r.status_code == 503 and "not on the store" in r.json()["detail"]


def test_elasticity_suggestions_and_custom_rules(fresh_shop):
    run = workflows.elasticity(fresh_shop, top=40, params={"n_boot": 100})
    _activate(fresh_shop, run)
    item = str(run.model.table_.sort_values("mean_units").index[-1])
    with TestClient(create_app(fresh_shop), raise_server_exceptions=False) as client:
        r = client.get(f"/v1/pricing/elasticity/{item}")
        assert r.status_code == 200, r.text
        e = r.json()
        assert e["model"] == f"elasticity/{run.version.version}"
        assert e["low"] <= e["elasticity"] <= e["high"] and e["periods"] > 0

        r = client.get(f"/v1/pricing/suggestions/{item}")
        assert r.status_code == 200, r.text
        s = r.json()
        assert abs(s["change"]) <= 0.10 + 1e-9 and "elasticity" in s["reason"]
        assert s["units_now"] > 0 and s["profit_new"] >= s["profit_now"] - 1e-6

        body = {"items": [item], "max_change": 0.02, "unit_costs": {item: 0.1}}
        r = client.post("/v1/pricing/suggest", json=body)
        assert r.status_code == 200, r.text
        custom = r.json()["suggestions"][0]
        assert abs(custom["change"]) <= 0.02 + 1e-9 and custom["unit_cost"] == 0.1

        assert client.get("/v1/pricing/elasticity/NOPE").status_code == 404
        assert client.get("/v1/pricing/suggestions/NOPE").status_code == 404
        assert client.post("/v1/pricing/suggest", json={"items": ["NOPE"]}).status_code == 404
        for bad in (
            {"items": []},
            {"items": [item], "max_change": 0},
            {"items": [item], "unit_costs": {item: -1}},
            {"items": [item], "objective": "fun"},
            {"items": [item], "min_price": {item: 5}, "max_price": {item: 4}},
        ):
            assert client.post("/v1/pricing/suggest", json=bad).status_code == 422, bad


def test_forecast_of_a_product(fresh_shop):
    run = workflows.forecast(fresh_shop, kind="ets", horizon=14, top=10)
    item = str(run.forecasts["item_id"].iloc[0])
    with TestClient(create_app(fresh_shop), raise_server_exceptions=False) as client:
        r = client.get(f"/v1/pricing/forecast/{item}", params={"horizon": 7})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["kind"] == "ets" and len(body["days"]) == 7
        assert all(d["forecast"] >= 0 for d in body["days"])
        assert client.get("/v1/pricing/forecast/NOPE").status_code == 404
        assert client.get(f"/v1/pricing/forecast/{item}?horizon=0").status_code == 422
