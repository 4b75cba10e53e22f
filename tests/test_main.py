"""`python -m shopsense` is the same command line as the `shopsense` script."""

import subprocess
import sys


def test_python_dash_m_runs_the_command_line():
    out = subprocess.run(
        [sys.executable, "-m", "shopsense", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "Usage: shopsense" in out and "ingest" in out
