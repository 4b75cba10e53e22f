"""Server-rendered dashboard pages (being written)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

router = APIRouter(prefix="/dashboard", include_in_schema=False)
STATIC = Path(__file__).parent / "static"


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
