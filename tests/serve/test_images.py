"""Product photos in the service: classify an upload, look-alikes of an item or upload."""

from __future__ import annotations

import gc
import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import psutil
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from shopsense.serve.app import create_app
from tests.images.shop import build_shop, sample


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    settings = build_shop(tmp_path_factory.mktemp("serveimg"), n=800)
    # one test client sends bursts here: per-client limits are tested in test_security
    settings = settings.model_copy(update={"concurrent_per_client": 16, "rate_burst": 1000})
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


def _large(fmt: str, side: int, seed: int) -> bytes:
    """A side x side upload made here (a random pattern of 12 x 12 blocks, blurred for a
    JPEG), small on the wire but `side`^2 pixels to decode."""
    rng = np.random.default_rng(seed)
    pattern = Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8))
    smooth = Image.Resampling.BILINEAR if fmt == "JPEG" else Image.Resampling.NEAREST
    img = pattern.resize((side, side), smooth)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **({"quality": 40} if fmt == "JPEG" else {"compress_level": 9}))
    return buf.getvalue()


def test_an_image_over_the_pixel_limit_is_refused_naming_the_limit(client):
    data = _large("PNG", 6000, 0)  # a PNG cannot be decoded at a reduced scale
    assert len(data) < 1_000_000  # under the body limit: the pixel limit refuses it
    r = client.post("/v1/images/classify", files={"file": ("huge.png", data)})
    assert r.status_code == 413, r.text
    assert "6000x6000" in r.json()["detail"] and "24,000,000 decoded pixels" in r.json()["detail"]


def test_memory_returns_near_baseline_after_a_burst_of_large_uploads(client):
    """Six 6000x6000 JPEGs and two 4800x4800 PNGs, sent at once: the service must not
    decode them at full size and must not keep what it decoded."""
    uploads = [("big.jpg", _large("JPEG", 6000, s)) for s in range(6)]
    uploads += [("big.png", _large("PNG", 4800, s)) for s in range(2)]
    assert max(len(d) for _, d in uploads) < 1_000_000
    proc = psutil.Process()

    def send(upload):
        name, data = upload
        return client.post("/v1/images/classify", files={"file": (name, data)}).status_code

    assert {send(u) for u in uploads[:2]} == {200}  # warm: models and code paths loaded
    gc.collect()
    baseline = proc.memory_info().rss
    peak, done = baseline, threading.Event()

    def watch():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, proc.memory_info().rss)
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(len(uploads)) as pool:
            codes = list(pool.map(send, uploads))
    finally:
        done.set()
        watcher.join()
    gc.collect()
    after = proc.memory_info().rss
    mb = 2**20
    assert codes == [200] * len(uploads), codes
    # full decodes would add 6 x 108 MB at once and keep most of it (measured: 1.3 GB)
    assert peak - baseline < 400 * mb, (baseline / mb, peak / mb)
    assert after <= 1.10 * baseline + 64 * mb, (baseline / mb, after / mb)
