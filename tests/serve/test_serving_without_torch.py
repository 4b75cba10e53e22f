"""A service that serves classic recommenders never imports torch: it starts faster and
each worker saves the memory torch takes. A torch model, asked for, still loads."""

from __future__ import annotations

import json
import subprocess
import sys

from shopsense.config import Settings

SERVE = """
import json, sys
from fastapi.testclient import TestClient
from shopsense.config import Settings
from shopsense.serve.app import create_app

settings = Settings(**json.loads(sys.argv[1]))
codes = {}
with TestClient(create_app(settings)) as client:
    for path in sys.argv[2:]:
        codes[path] = client.get(path).status_code
        codes[path + " torch"] = "torch" in sys.modules
print(json.dumps(codes))
"""


def _serve(shop: Settings, *paths: str) -> dict[str, object]:
    settings = {
        "store_path": str(shop.store_path),
        "models_dir": str(shop.models_dir),
        "reports_dir": str(shop.reports_dir),
        "default_model": "ease",
        "serve_threads": 1,
    }
    done = subprocess.run(
        [sys.executable, "-c", SERVE, json.dumps(settings), *paths],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_serving_classic_models_imports_no_torch(fresh_shop: Settings) -> None:
    paths = (
        "/readyz",
        "/v1/users/12348/recommendations?explain=true",
        "/v1/users/12348/recommendations?model=itemknn",
        "/v1/items/22423/similar",
        "/dashboard/explorer?user=12348",
    )
    codes = _serve(fresh_shop, *paths)
    assert {p: codes[p] for p in paths} == dict.fromkeys(paths, 200)
    assert {p: codes[p + " torch"] for p in paths} == dict.fromkeys(paths, False)


def test_a_torch_model_still_loads_when_asked_for(fresh_shop: Settings) -> None:
    path = "/v1/users/12348/recommendations?model=bpr"
    codes = _serve(fresh_shop, "/readyz", path)
    assert codes["/readyz torch"] is False
    assert codes[path] == 200 and codes[path + " torch"] is True
