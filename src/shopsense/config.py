"""One settings object shared by the CLI and the service.

Values come from arguments, then `SHOPSENSE_*` environment variables, then the defaults
below. Settings are passed explicitly, never read from a global, so tests run on a
temporary store.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _default_data_root() -> Path:
    """A per-user cache folder for public data sets (`$XDG_CACHE_HOME/shopsense/data`).

    Never a path of a development layout: a user's clone has nothing beside it. Set
    `SHOPSENSE_DATA_ROOT` to the folder that holds the data set folders.
    """
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "shopsense" / "data"


class Settings(BaseSettings):
    """Where shopsense keeps its data and models, and how hard it may work."""

    model_config = SettingsConfigDict(env_prefix="SHOPSENSE_", extra="ignore")

    store_path: Path = Field(Path("shopsense.duckdb"), description="DuckDB file of the store")
    models_dir: Path = Field(Path("models"), description="root of the model registry")
    reports_dir: Path = Field(Path("reports"), description="where evaluation reports go")
    data_root: Path = Field(
        default_factory=_default_data_root,
        description="folder holding the public data set folders (SHOPSENSE_DATA_ROOT)",
    )
    threads: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1, description="CPU threads to use"
    )

    # ----------------------------------------------------------------- the service
    host: str = Field("127.0.0.1", description="address `shopsense serve` listens on")
    port: int = Field(8000, ge=1, le=65535, description="port `shopsense serve` listens on")
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="keys that may write (events) and administer (activate, rollback); "
        "comma-separated in SHOPSENSE_API_KEYS. Without any, writes are refused.",
    )
    default_model: str | None = Field(
        None,
        description="model the service answers with when a request names none; "
        "default: the most recently trained",
    )
    read_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="keys that may read (comma-separated in SHOPSENSE_READ_KEYS); when any is "
        "set, every route but health, metrics, docs and static files needs a read or write "
        "key: recommendations, histories, customers, segments and the dashboard show "
        "customer data",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["*"],
        description="Host header names the service answers (comma-separated; *.example.com "
        "matches subdomains; * any); others get 400",
    )
    public_url: str | None = Field(
        None,
        description="the service's address as clients reach it, shown in example commands; "
        "without it pages show paths only (the request's Host is never echoed)",
    )
    rate_per_minute: float = Field(
        30.0,
        gt=0,
        description="expensive requests (questions, image uploads, batch recommendations) one "
        "client may make per minute on average; beyond that 429 with Retry-After",
    )
    rate_burst: int = Field(10, ge=1, description="expensive requests a client may make at once")
    concurrent_per_client: int = Field(
        2, ge=1, description="expensive requests one client may have running at the same time"
    )
    max_image_pixels: int = Field(
        24_000_000,
        ge=10_000,
        description="most pixels decoded from one uploaded image (after a JPEG is decoded at "
        "a reduced scale for the model); larger uploads get 413",
    )

    @field_validator("read_keys", "allowed_hosts", mode="before")
    @classmethod
    def _split_lists(cls, value: object) -> object:
        """`a,b` in the environment means two entries (JSON lists work too)."""
        return _split_list(value)

    max_k: int = Field(100, ge=1, le=10_000, description="largest k a request may ask for")
    max_batch_users: int = Field(1000, ge=1, description="most users in one batch request")
    max_events: int = Field(1000, ge=1, description="most events in one POST")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="largest request body")
    max_pending_writes: int = Field(
        32,
        ge=1,
        description="event batches that may wait to be stored; beyond, POST /v1/events "
        "answers 429 at once instead of queueing writes the store cannot keep up with",
    )
    dashboard_refresh_s: float = Field(
        5.0,
        ge=0,
        description="dashboard figures computed from the store are refreshed at most this "
        "often while data changes (0: at every change)",
    )
    ann: str = Field(
        "auto",
        pattern="^(auto|on|off)$",
        description="approximate top-k for dot-product models: auto (catalogues of at least "
        "ann_min_items), on, off",
    )
    ann_min_items: int = Field(50_000, ge=1, description="catalogue size where auto uses ANN")
    ann_ef_search: int = Field(
        128, ge=1, le=10_000, description="HNSW search breadth: higher, better recall, slower"
    )
    serve_threads: int = Field(1, ge=1, description="CPU threads per request's scoring")
    query_cache_users: int = Field(
        500_000,
        ge=0,
        description="sequence models: precompute the query vectors of up to this many known "
        "users at load (0: compute per request)",
    )
    onnx: str = Field(
        "fp32",
        pattern="^(fp32|int8|off)$",
        description="deep models saved with an ONNX export score with ONNX Runtime: fp32, "
        "int8 (where its parity check passed, else fp32), or off (always torch); off also "
        "skips exporting at training",
    )
    read_only: bool = Field(
        False,
        description="serve without writing the store (no events accepted), beside the one "
        "service that writes it; live histories follow the store's events",
    )
    auto_activate: bool = Field(
        False,
        description="serve the newest version of each model at start (activating it); "
        "otherwise a new version serves only once activated",
    )
    shop_timezone: str = Field(
        "UTC",
        description="the shop's time zone: event times without an offset are read in it, "
        "and the dashboard shows times in it (the store keeps UTC)",
    )
    event_earliest: date = Field(
        date(1990, 1, 1), description="events before this date are refused (HTTP 422)"
    )
    event_max_ahead_hours: float = Field(
        24.0, ge=0, description="events more than this many hours in the future are refused"
    )

    @field_validator("shop_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            msg = f"unknown time zone {value!r}; use an IANA name like Europe/Berlin"
            raise ValueError(msg) from None
        return value

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        """`a,b` in the environment means two keys (JSON lists work too)."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                return json.loads(text)
            return [k.strip() for k in text.split(",") if k.strip()]
        return value


def _split_list(value: object) -> object:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            return json.loads(text)
        return [k.strip() for k in text.split(",") if k.strip()]
    return value
