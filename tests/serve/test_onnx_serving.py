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


def test_the_image_classifier_serves_from_onnx_like_torch(fresh_shop: Settings) -> None:
    import io

    import numpy as np
    from PIL import Image

    from shopsense.images.workflows import load_model
    from tests.images.shop import sample

    model, version = load_model(fresh_shop)
    assert model.runtime_ is not None  # saved with its export at training, loaded with it
    assert (version.path / "model.onnx").is_file() and version.meta["export"]["precisions"]
    photos = sample("test", 12, seed=5)
    answers = {}
    for onnx in ("fp32", "off"):
        settings = fresh_shop.model_copy(update={"onnx": onnx, "rate_burst": 1000})
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            got = []
            for row in range(len(photos)):
                buf = io.BytesIO()
                Image.fromarray(photos.images[row]).save(buf, format="PNG")
                r = client.post("/v1/images/classify", files={"file": ("a.png", buf.getvalue())})
                assert r.status_code == 200, r.text
                got.append((r.json()["category"], r.json()["confidence"]))
        answers[onnx] = got
    assert [c for c, _ in answers["fp32"]] == [c for c, _ in answers["off"]]
    np.testing.assert_allclose(
        [p for _, p in answers["fp32"]], [p for _, p in answers["off"]], atol=1e-3
    )
