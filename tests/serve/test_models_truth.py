"""Registry truth: a version trained while the service runs is shown as newest, not
active and not serving, in /v1/models, `shopsense models` and the dashboard; it does not
serve after a restart either, until activated (or with auto_activate)."""

from __future__ import annotations

import re
import threading
import time

import uvicorn
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from shopsense import workflows
from shopsense.behavior import workflows as behavior
from shopsense.cli import app as cli
from shopsense.serve.app import create_app
from tests.serve.conftest import KEY

USER = "12348"
READ_KEY = "read-key-0123456789"


def _flags(client: TestClient, name: str) -> dict[str, tuple[bool, bool, bool]]:
    listed = client.get("/v1/models").json()
    return {
        v["version"]: (v["serving"], v["active"], v["newest"]) for v in listed if v["name"] == name
    }


def _badges(page: str, version: str) -> set[str]:
    row = re.search(rf'<tr data-version="{version}".*?</tr>', page, re.S).group(0)
    return set(re.findall(r'data-status="(\w+)"', row))


def test_a_version_trained_while_serving_waits_for_activation(fresh_shop):
    with TestClient(create_app(fresh_shop)) as client:
        assert client.get(f"/v1/users/{USER}/recommendations").json()["model"] == "ease/v0002"
        trained = workflows.train(fresh_shop, "ease", {"l2": 50.0}).version
        assert trained == "v0003"
        flags = _flags(client, "ease")
        assert flags["v0002"] == (True, True, False)  # serving here, active on disk
        assert flags["v0003"] == (False, False, True)  # only the newest
        page = client.get("/dashboard/models").text
        assert _badges(page, "ease/v0002") == {"serving", "active"}
        assert _badges(page, "ease/v0003") == {"newest"}
        assert client.get(f"/v1/users/{USER}/recommendations").json()["model"] == "ease/v0002"
    listing = CliRunner().invoke(cli, ["models", "--models-dir", str(fresh_shop.models_dir)])
    assert listing.exit_code == 0, listing.output
    # at 80 columns the table is printed in parts, each repeating the name
    rows = {
        v: (row["active"], row["newest"])
        for (n, v), row in _listed(listing.output).items()
        if n == "ease"
    }
    assert rows == {"v0001": ("", ""), "v0002": ("*", ""), "v0003": ("", "*")}

    # a restart serves the active version, not the newest
    with TestClient(create_app(fresh_shop)) as client:
        assert client.get(f"/v1/users/{USER}/recommendations").json()["model"] == "ease/v0002"
        r = client.post(
            "/v1/models/ease/activate", json={"version": "v0003"}, headers={"X-API-Key": KEY}
        )
        assert r.status_code == 200 and r.json()["serving"] and r.json()["active"]
        assert _flags(client, "ease")["v0003"] == (True, True, True)


def test_auto_activate_serves_the_newest_at_start(fresh_shop):
    with TestClient(create_app(fresh_shop)) as client:
        client.get(f"/v1/users/{USER}/recommendations")  # pins the version it serves
    workflows.train(fresh_shop, "ease", {"l2": 50.0})
    with TestClient(create_app(fresh_shop)) as client:
        assert client.get(f"/v1/users/{USER}/recommendations").json()["model"] == "ease/v0002"
    auto = fresh_shop.model_copy(update={"auto_activate": True})
    with TestClient(create_app(auto)) as client:
        assert client.get(f"/v1/users/{USER}/recommendations").json()["model"] == "ease/v0003"
        assert _flags(client, "ease")["v0003"] == (True, True, True)


def test_a_model_trained_later_does_not_become_the_default(fresh_shop):
    """Without a configured default, the served model stays the default across a restart
    although another model was trained since (it is the most recently trained)."""
    settings = fresh_shop.model_copy(update={"default_model": None})
    path = f"/v1/users/{USER}/recommendations"
    with TestClient(create_app(settings)) as client:
        first = client.get(path).json()["model"]
    other = "itemknn" if not first.startswith("itemknn/") else "ease"
    workflows.train(settings, other)
    assert workflows.default_model_name(settings) == other  # the newest by training time
    with TestClient(create_app(settings)) as client:
        assert client.get(path).json()["model"] == first


def _cli(*args: str, env: dict[str, str] | None = None, width: int = 200) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, terminal_width=width)


def _listed(output: str) -> dict[tuple[str, str], dict[str, str]]:
    """(name, version) -> its cells by column, from a `shopsense models` table."""
    rows: dict[tuple[str, str], dict[str, str]] = {}
    header: list[str] = []
    for line in output.splitlines():
        if line.startswith("┃"):
            header = [c.strip() for c in line.split("┃")[1:-1]]
            continue
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if header and len(cells) == len(header) and cells[1].startswith("v"):
            rows.setdefault((cells[0], cells[1]), {}).update(zip(header, cells, strict=True))
    return rows


def test_a_segmentation_retrained_while_serving_waits_for_activation(fresh_shop):
    models_dir = ["--models-dir", str(fresh_shop.models_dir)]
    with TestClient(create_app(fresh_shop)) as client:
        assert client.get("/v1/segments").json()["model"] == "segments/v0001"
        retrained = behavior.segment(fresh_shop, method="rfm").version.version
        assert retrained == "v0002"
        assert client.get("/v1/segments").json()["model"] == "segments/v0001"
        assert client.get(f"/v1/customers/{USER}").status_code == 200
        listed = {
            (v["task"], v["version"]): (v["serving"], v["active"], v["newest"])
            for v in client.get("/v1/models").json()
            if v["name"] == "segments"
        }
        assert listed == {
            ("behavior", "v0001"): (True, True, False),
            ("behavior", "v0002"): (False, False, True),
        }
        page = client.get("/dashboard/models").text
        assert _badges(page, "segments/v0002") == {"newest"}
        assert 'data-task="behavior"' in page

        shown = _listed(_cli("models", *models_dir).output)
        assert {v: shown["segments", v]["active"] for v in ("v0001", "v0002")} == {
            "v0001": "*",
            "v0002": "",
        }
        assert shown["segments", "v0002"]["task"] == "behavior"
        assert shown["segments", "v0002"]["newest"] == "*"

        done = _cli("activate", "segments", "v0002", *models_dir)  # its task found by name
        assert done.exit_code == 0 and "behavior/segments/v0002 is now active" in done.output
        assert client.get("/v1/segments").json()["model"] == "segments/v0002"
        done = _cli("rollback", "segments", "--task", "behavior", *models_dir)
        assert done.exit_code == 0, done.output
        assert client.get("/v1/segments").json()["model"] == "segments/v0001"
    done = _cli("activate", "segments", "v0002", "--task", "recommend", *models_dir)
    assert done.exit_code == 1 and "no saved model recommend/segments" in done.output


def test_auto_activate_serves_the_newest_segmentation_from_the_start(fresh_shop):
    behavior.segment(fresh_shop, method="rfm")  # v0002, trained while nothing runs
    with TestClient(create_app(fresh_shop)) as client:
        assert client.get("/v1/segments").json()["model"] == "segments/v0001"
    auto = fresh_shop.model_copy(update={"auto_activate": True})
    with TestClient(create_app(auto)) as client:
        assert client.get("/v1/segments").json()["model"] == "segments/v0002"
        behavior.segment(fresh_shop, method="rfm")  # v0003 while it runs: next start
        assert client.get("/v1/segments").json()["model"] == "segments/v0002"
        flags = {
            v["version"]: (v["serving"], v["active"], v["newest"])
            for v in client.get("/v1/models").json()
            if (v["task"], v["name"]) == ("behavior", "segments")
        }
        assert flags == {
            "v0001": (False, False, False),
            "v0002": (True, True, False),
            "v0003": (False, False, True),
        }


def test_models_lists_every_task_and_filters_by_one(fresh_shop):
    with TestClient(create_app(fresh_shop)) as client:
        listed = client.get("/v1/models").json()
    tasks = {v["task"] for v in listed}
    assert tasks == {"recommend", "behavior", "pricing", "images", "reviews"}
    assert listed[0]["task"] == "recommend"  # as before: recommenders first
    models_dir = ["--models-dir", str(fresh_shop.models_dir)]
    everything = _listed(_cli("models", *models_dir).output)
    assert {row["task"] for row in everything.values()} == tasks
    narrow = _cli("models", "--task", "pricing", *models_dir, width=80)
    assert narrow.exit_code == 0, narrow.output
    assert max(len(line) for line in narrow.output.splitlines()) <= 80
    shown = _listed(narrow.output)
    assert shown and {row["task"] for row in shown.values()} == {"pricing"}


def test_models_url_sends_a_read_key(fresh_shop):
    """With read keys configured, `models --url` asks with a key and shows what serves."""
    settings = fresh_shop.model_copy(update={"read_keys": [READ_KEY]})
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="critical")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    args = ["models", "--models-dir", str(settings.models_dir), "--url", url]
    no_keys = {"SHOPSENSE_READ_KEY": "", "SHOPSENSE_READ_KEYS": "", "SHOPSENSE_API_KEYS": ""}
    try:
        refused = _cli(*args, env=no_keys)
        assert refused.exit_code == 1 and "401" in refused.output and "--key" in refused.output
        for env in ({"SHOPSENSE_READ_KEYS": READ_KEY}, {"SHOPSENSE_READ_KEY": READ_KEY}):
            shown = _cli(*args, env=no_keys | env)
            assert shown.exit_code == 0, shown.output
            rows = _listed(shown.output)
            assert rows["segments", "v0001"]["serving"] == "*"
        assert _listed(_cli(*args, "--key", READ_KEY, env=no_keys).output) == rows
    finally:
        server.should_exit = True
        thread.join(timeout=30)
