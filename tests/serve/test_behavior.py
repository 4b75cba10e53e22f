"""Customer segments in the service: not ready before training, profiles and one
customer's segment after; the same answers after the catalogue changes, and a clear 409
from a model that cannot read the new catalogue."""

from __future__ import annotations

import json
import shutil

import pandas as pd
from fastapi.testclient import TestClient

from shopsense.behavior import workflows
from shopsense.data.customers import product_groups
from shopsense.data.store import Store
from shopsense.registry import Registry
from shopsense.serve.app import create_app


def _activate(settings, run) -> None:
    """A retrained segmentation serves once activated (`shopsense activate --task`)."""
    Registry(settings.models_dir).activate("behavior", run.version.name, run.version.version)


def test_segments_before_any_segmentation_say_how_to_train_one(fresh_shop):
    shutil.rmtree(fresh_shop.models_dir / "behavior")
    with TestClient(create_app(fresh_shop), raise_server_exceptions=False) as client:
        r = client.get("/v1/segments")
        assert r.status_code == 503 and "shopsense segments" in r.json()["detail"]
        assert client.get("/v1/customers/12348").status_code == 503


def test_segments_and_a_customer_after_segmentation(fresh_shop):
    run = workflows.segment(fresh_shop, method="rfm")  # v0002
    _activate(fresh_shop, run)
    with TestClient(create_app(fresh_shop), raise_server_exceptions=False) as client:
        r = client.get("/v1/segments")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["model"] == f"segments/{run.version.version}" and body["method"] == "rfm"
        assert sum(p["customers"] for p in body["profiles"]) == body["customers"]
        assert abs(sum(p["revenue_share"] for p in body["profiles"]) - 1) < 1e-6
        names = {p["name"] for p in body["profiles"]}

        r = client.get("/v1/customers/12348")
        assert r.status_code == 200, r.text
        one = r.json()
        assert one["segment"] in names and one["features"]["frequency"] >= 1
        assert client.get("/v1/customers/no-such-customer").status_code == 404


def test_a_customer_carries_the_trained_predictions(fresh_shop):
    workflows.predict(fresh_shop, "churn", kind="logreg")
    with TestClient(create_app(fresh_shop), raise_server_exceptions=False) as client:
        one = client.get("/v1/customers/12348").json()
        assert set(one["predictions"]) == {"p_churn_90d"}
        assert 0 <= one["predictions"]["p_churn_90d"] <= 1
        assert one["predicted_by"] == {"p_churn_90d": "churn/v0001"}


FAST = {"epochs": 5, "stability_seeds": 0, "n_init": 2, "ensemble": 2}


def _change_catalogue(settings) -> None:
    """The shop reorganises its catalogue: 30 new products, and every item filed under a
    category, so product groups come from categories with names the models never saw."""
    with Store(settings.store_path) as store:
        items = store.read("items")
        new = pd.DataFrame(
            {
                "item_id": [f"GNOME{i}" for i in range(30)],
                "title": [f"GARDEN GNOME NO {i}" for i in range(30)],
                "kind": "product",
                "price": 4.5,
            }
        )
        items = pd.concat([items, new], ignore_index=True)
        hashed = items["item_id"].map(lambda i: sum(map(ord, str(i))) % 6)
        items["category"] = "department " + hashed.astype(str)
        store.write_frame("items", items, source="catalogue update")
        assert product_groups(store.read("items")).str.startswith("department").all()


def test_a_changed_catalogue_leaves_segments_and_customers_answering(fresh_shop):
    """Models read the store through the product groups they were fitted on."""
    _activate(fresh_shop, workflows.segment(fresh_shop, method="autoencoder", k=3, params=FAST))
    workflows.predict(fresh_shop, "churn", kind="logreg")
    with TestClient(create_app(fresh_shop)) as client:
        before = client.get("/v1/customers/12348").json()
        profiles = client.get("/v1/segments").json()["profiles"]
    _change_catalogue(fresh_shop)
    with TestClient(create_app(fresh_shop), raise_server_exceptions=False) as client:
        r = client.get("/v1/segments")
        assert r.status_code == 200, r.text
        assert r.json()["profiles"] == profiles
        r = client.get("/v1/customers/12348")
        assert r.status_code == 200, r.text
        after = r.json()
        assert after["segment"] == before["segment"]
        assert after["predictions"] == before["predictions"] and not after["unavailable"]
        page = client.get("/dashboard/customers", params={"customer": "12348"})
        assert page.status_code == 200 and "Traceback" not in page.text
        assert f'data-found-segment="{before["segment"]}"' in page.text


def _forget_feature_map(folder) -> None:
    """As a model saved before models kept their product groups."""
    meta = json.loads((folder / "model.json").read_text())
    del meta["feature_map"]
    (folder / "model.json").write_text(json.dumps(meta))


def test_a_model_that_cannot_read_the_new_catalogue_says_so(fresh_shop):
    run = workflows.segment(fresh_shop, method="autoencoder", k=3, params=FAST)
    _activate(fresh_shop, run)
    churn = workflows.predict(fresh_shop, "churn", kind="logreg")
    _forget_feature_map(run.version.path)
    _forget_feature_map(churn.version.path)
    _change_catalogue(fresh_shop)
    with TestClient(create_app(fresh_shop), raise_server_exceptions=False) as client:
        for path in ("/v1/segments", "/v1/customers/12348"):
            r = client.get(path)
            assert r.status_code == 409, r.text
            detail = r.json()["detail"]
            assert "product groups" in detail and "`shopsense segments`" in detail
        page = client.get("/dashboard/customers")
        assert page.status_code == 409 and page.headers["content-type"].startswith("text/html")
        assert "product groups" in page.text and "shopsense segments" in page.text
        assert client.get("/dashboard/plots/segments.svg").status_code == 409

    _activate(fresh_shop, workflows.segment(fresh_shop, method="rfm"))  # answers again
    with TestClient(create_app(fresh_shop), raise_server_exceptions=False) as client:
        one = client.get("/v1/customers/12348")
        assert one.status_code == 200, one.text
        assert one.json()["predictions"] == {}
        assert "`shopsense predict churn`" in one.json()["unavailable"]["p_churn_90d"]
