"""`python -m shopsense` is the same command line as the `shopsense` script."""

import subprocess
import sys


def test_python_dash_m_runs_the_command_line():
    out = subprocess.run(
        [sys.executable, "-m", "shopsense", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "Usage: shopsense" in out and "ingest" in out


def test_a_command_refused_by_the_store_lock_says_who_holds_it_without_a_traceback(tmp_path):
    """Every command that writes the store (here `images load`) meets the lock of a
    running service with one line naming the holder, whichever module opened the store."""
    from pathlib import Path

    from shopsense.data.store import Store
    from tests.data.test_store_lock import writer_elsewhere

    store = tmp_path / "shop.duckdb"
    Store(store).close()
    photos = (
        Path(__file__).parent
        / "corpora"
        / "grocery-store-images"
        / "iconic-images-and-descriptions"
    )
    with writer_elsewhere(store) as holder:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "shopsense",
                "images",
                "load",
                str(photos),
                "--store",
                str(store),
            ],
            capture_output=True,
            text=True,
        )
    said = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 1, said
    assert "Traceback" not in said and f"pid {holder.pid}" in said and "nothing was written" in said
