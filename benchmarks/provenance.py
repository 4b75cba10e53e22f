"""Where a benchmark number came from: the code's commit, the exact command and the machine.

Every benchmark stamps these three strings into each flat record it writes and into its
Markdown header, so a number read months later can be traced to the code and hardware that
produced it. `-dirty` marks a run from uncommitted changes to the code (src/ or
benchmarks/, results excluded).
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from functools import cache
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE = ["src", "benchmarks", ":(exclude)benchmarks/results", ":(exclude)benchmarks/.work"]


def provenance(script: str, argv: list[str] | None = None) -> dict[str, str]:
    """`commit`, `command` and `machine` of this run (`argv`: the arguments main() got)."""
    args = sys.argv[1:] if argv is None else argv
    command = " ".join(["python", f"benchmarks/{script}.py", *map(shlex.quote, args)])
    return {"commit": commit(), "command": command.strip(), "machine": machine()}


def stamp(records: list[dict], meta: dict[str, str]) -> list[dict]:
    """The records with `commit`, `command` and `machine` added to each (records stay flat)."""
    keys = ("commit", "command", "machine")
    return [{**r, **{k: meta[k] for k in keys}} for r in records]


def header(meta: dict[str, str]) -> str:
    """One Markdown line naming the commit, the command and the machine."""
    return f"Commit `{meta['commit']}`; command `{meta['command']}`; {meta['machine']}."


@cache
def commit() -> str:
    """`git rev-parse HEAD`, with `-dirty` when src/ or benchmarks/ has uncommitted changes."""
    try:
        head = _git("rev-parse", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no", "--", *CODE)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


@cache
def machine() -> str:
    """CPU model, cores, RAM, OS and the python / torch / numpy versions, as one short line."""
    parts = [_cpu_model(), f"{os.cpu_count()} cores", _ram(), f"{platform.system()} "
             f"{platform.release()}", f"Python {platform.python_version()}"]  # fmt: skip
    for package in ("torch", "numpy"):
        try:
            parts.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(p for p in parts if p)


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram() -> str:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return ""
    return f"{total / 2**30:.0f} GiB RAM"


commit()  # read when a benchmark starts: the code that runs, not the tree at its end
