"""Product photos in the service: classify an upload, look-alikes of an item or upload."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from shopsense.serve.app import create_app
from tests.images.shop import build_shop, sample


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    settings = build_shop(tmp_path_factory.mktemp("serveimg"), n=800)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def _png(view, row: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(view.images[row]).save(buf, format="PNG")
    return buf.getvalue()


def test_classify_an_upload(client):
    view = sample("test", 40, seed=3)
    hits = 0
    for row in range(20):
        r = client.post("/v1/images/classify", files={"file": ("a.png", _png(view, row))})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["model"].startswith("classifier/v") and len(body["top"]) == 3
        hits += body["category"] == view.labels[row]
    assert hits >= 10  # chance would be 2


@pytest.mark.parametrize(
    ("image", "fmt"),
    [
        (Image.new("RGBA", (333, 57), (250, 250, 250, 255)), "PNG"),
        (Image.new("RGB", (57, 333), (30, 90, 200)).convert("P", palette=1), "PNG"),
        (Image.new("RGB", (333, 57), (240, 240, 240)), "JPEG"),
    ],
    ids=["rgba-png", "palette-png", "rgb-jpeg"],
)
def test_photos_of_any_size_and_mode_are_accepted(client, image, fmt):
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    r = client.post("/v1/images/classify", files={"file": (f"odd.{fmt.lower()}", buf.getvalue())})
    assert r.status_code == 200, r.text
    assert 0 < r.json()["confidence"] <= 1
    r = client.post("/v1/images/similar", files={"file": ("odd", buf.getvalue())})
    assert r.status_code == 200 and len(r.json()["items"]) == 10


def test_bad_uploads_are_refused(client):
    r = client.post("/v1/images/classify", files={"file": ("x.png", b"not an image")})
    assert r.status_code == 422 and "not an image" in r.json()["detail"]
    r = client.post("/v1/images/classify", files={"file": ("x.png", b"")})
    assert r.status_code == 422
    r = client.post("/v1/images/classify")
    assert r.status_code == 422


def test_similar_items(client):
    r = client.get("/v1/images/similar/fm-train-00000", params={"k": 4})
    assert r.status_code == 200 and len(r.json()["items"]) == 4
    assert client.get("/v1/images/similar/nope").status_code == 404
    assert client.get("/v1/images/similar/fm-train-00000", params={"k": 0}).status_code == 422
    view = sample("test", 5, seed=4)
    r = client.post("/v1/images/similar", files={"file": ("q.png", _png(view, 0))})
    assert r.status_code == 200 and len(r.json()["items"]) == 10


def test_an_upload_over_the_body_limit_is_refused(client):
    big = b"\x89PNG" + b"\x00" * 1_100_000
    r = client.post("/v1/images/classify", files={"file": ("big.png", big)})
    assert r.status_code == 413
