"""A sequence recommender trained with its ONNX export is served from ONNX Runtime, says
so in /v1/models, and answers like the torch network (SHOPSENSE_ONNX=off)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from shopsense import workflows
from shopsense.config import Settings
from shopsense.serve.app import create_app

USERS = ["12348", "12350", "12352", "12356", "12359"]  # customers of the bundled sample


def _answers(settings: Settings) -> tuple[dict, list[list[str]]]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        lists = []
        for user in USERS:
            r = client.get(f"/v1/users/{user}/recommendations", params={"model": "gru4rec"})
            assert r.status_code == 200, r.text
            lists.append([item["item_id"] for item in r.json()["items"]])
        listed = [v for v in client.get("/v1/models").json() if v["name"] == "gru4rec"]
    (served,) = [v for v in listed if v["serving"]]
    return served, lists


def test_onnx_serves_what_torch_serves(fresh_shop: Settings) -> None:
    workflows.train(fresh_shop, "gru4rec", {"epochs": 1, "hidden": 16, "threads": 1})
    onnx, onnx_lists = _answers(fresh_shop)
    assert onnx["runtime"] == "onnx query.onnx"
    assert onnx["export"]["precisions"]["fp32"]["passed"]
    plain, plain_lists = _answers(fresh_shop.model_copy(update={"onnx": "off"}))
    assert plain["runtime"] == "torch"
    assert onnx_lists == plain_lists
