"""Sequences of calls, not single calls: Schemathesis chains operations through the links it
infers from the OpenAPI schema (a value one answer returns used as a later call's
parameter: a recommended item's similar items, a trained model activated by name, ...).
A state reached only by an earlier call must not turn into a server error either.

Each sequence runs against its own service over a fresh copy of the shop: a sequence's
writes must not change what the next one can draw (Hypothesis replays sequences)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from shopsense.config import Settings
from shopsense.serve.app import create_app
from tests.serve.conftest import KEY


def _private_shop(shop: Settings, root: Path) -> Settings:
    shutil.copy(shop.store_path, root / "shop.duckdb")
    shutil.copytree(shop.models_dir, root / "models")
    shutil.copytree(shop.reports_dir, root / "reports")
    return shop.model_copy(
        update={
            "store_path": root / "shop.duckdb",
            "models_dir": root / "models",
            "reports_dir": root / "reports",
        }
    )


def test_call_sequences_find_no_server_error(shop, tmp_path):
    app = create_app(shop)
    with TestClient(app):
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    machine = schema.as_state_machine()
    assert machine.bundles, "no links between operations: nothing to chain"
    seen: list[tuple[str, int]] = []

    class Sequences(machine):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            super().setup()
            self.root = Path(tempfile.mkdtemp(dir=tmp_path))
            self.app = create_app(_private_shop(shop, self.root))
            self.client = TestClient(self.app)
            self.client.__enter__()  # the service's startup and shutdown, as deployed

        def teardown(self) -> None:
            self.client.__exit__(None, None, None)
            shutil.rmtree(self.root, ignore_errors=True)
            super().teardown()

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"headers": {"X-API-Key": KEY}, "app": self.app}

        def validate_response(self, response: Any, case: schemathesis.Case, **_: Any) -> None:
            seen.append((case.operation.label, response.status_code))
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} {case.query}: {response.text[:300]}"
            )

    Sequences.run(
        settings=settings(
            max_examples=40,
            stateful_step_count=6,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
    )
    chained = {label for label, status in seen}
    assert len(chained) >= 5, f"only {sorted(chained)} were called"
