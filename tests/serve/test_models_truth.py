"""Registry truth: a version trained while the service runs is shown as newest, not
active and not serving, in /v1/models, `shopsense models` and the dashboard; it does not
serve after a restart either, until activated (or with auto_activate)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from shopsense import workflows
from shopsense.cli import app as cli
from shopsense.serve.app import create_app
from tests.serve.conftest import KEY

USER = "12348"


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
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in listing.output.splitlines()]
    # at 80 columns the table is printed in parts, each repeating the name: the first has
    # the version and its flags
    rows = {c[1]: c[2:4] for c in cells if c[:1] == ["ease"] and c[1].startswith("v")}
    assert rows == {"v0001": ["", ""], "v0002": ["*", ""], "v0003": ["", "*"]}

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
