"""The README's first command, `make demo`, runs on the bundled sample."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_demo(tmp_path):
    env = {
        **os.environ,
        "SHOPSENSE_STORE_PATH": str(tmp_path / "shopsense.duckdb"),
        "SHOPSENSE_MODELS_DIR": str(tmp_path / "models"),
        "SHOPSENSE_REPORTS_DIR": str(tmp_path / "reports"),
        "COLUMNS": "200",
    }
    done = subprocess.run(
        ["make", "demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert (tmp_path / "models" / "recommend" / "ease" / "v0001" / "model.json").exists()
    assert list((tmp_path / "reports").glob("evaluate-*.json"))
    assert "recommendations for 12348" in out and "because you bought" in out
