"""One settings object shared by the CLI and (later) the service.

Values come from arguments, then `SHOPSENSE_*` environment variables, then the defaults
below. Settings are passed explicitly, never read from a global, so tests run on a
temporary store.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_root() -> Path:
    """Where the public data sets live: `../shared/data` beside the repository checkout."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent.parent / "shared" / "data"
        if (parent / "pyproject.toml").exists() and candidate.is_dir():
            return candidate
    return Path.cwd().parent / "shared" / "data"


class Settings(BaseSettings):
    """Where shopsense keeps its data and models, and how hard it may work."""

    model_config = SettingsConfigDict(env_prefix="SHOPSENSE_", extra="ignore")

    store_path: Path = Field(Path("shopsense.duckdb"), description="DuckDB file of the store")
    models_dir: Path = Field(Path("models"), description="root of the model registry")
    reports_dir: Path = Field(Path("reports"), description="where evaluation reports go")
    data_root: Path = Field(
        default_factory=_default_data_root, description="folder of the public data sets"
    )
    threads: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1, description="CPU threads to use"
    )
