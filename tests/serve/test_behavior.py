"""Customer segments in the service: not ready before training, profiles and one
customer's segment after."""

from __future__ import annotations

import shutil

from fastapi.testclient import TestClient

from shopsense.behavior import workflows
from shopsense.serve.app import create_app


def test_segments_before_any_segmentation_say_how_to_train_one(fresh_shop):
    shutil.rmtree(fresh_shop.models_dir / "behavior")
    with TestClient(create_app(fresh_shop), raise_server_exceptions=False) as client:
        r = client.get("/v1/segments")
        assert r.status_code == 503 and "shopsense segments" in r.json()["detail"]
        assert client.get("/v1/customers/12348").status_code == 503


def test_segments_and_a_customer_after_segmentation(fresh_shop):
    run = workflows.segment(fresh_shop, method="rfm")  # v0002: the active one
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
