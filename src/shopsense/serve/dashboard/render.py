"""Pages in the dashboard's shared layout: the template environment, the headers every
page carries, the friendly error page, and the router each page module hangs off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from shopsense import __version__
from shopsense.serve.dashboard.formats import FILTERS
from shopsense.serve.state import ServiceState

SERVE = Path(__file__).resolve().parent.parent
STATIC = SERVE / "static"
TEMPLATES = SERVE / "templates"
PREFIX = "/dashboard"

#: the browser may load nothing but this server's own styles and images, and run no script
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SOURCE_LABELS = {
    "model": "scored by the model",
    "fold_in": "fold-in: history newer than the model",
    "cold_start": "cold start: unknown customer, popular items",
}


def page_router() -> APIRouter:
    """A router for one page module: under `/dashboard`, kept out of the OpenAPI schema."""
    return APIRouter(prefix=PREFIX, include_in_schema=False)


def _environment() -> Environment:
    """Autoescaping on for every template (user ids end up in pages), and undefined names
    fail loudly in tests rather than rendering as empty strings."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    env.globals.update(version=__version__, source_labels=SOURCE_LABELS)
    return env


templates = Jinja2Templates(env=_environment())


def mount_static(app: FastAPI) -> None:
    """The stylesheet (and anything else static) under `/static`."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")


def page(
    request: Request, template: str, title: str, status: int = 200, **context: Any
) -> HTMLResponse:
    """A page in the shared layout, with the headers every dashboard page carries."""
    nav = request.url.path.rstrip("/").rsplit("/", 1)[-1]
    response = templates.TemplateResponse(
        request,
        template,
        {"title": title, "nav": nav, "root": request.scope.get("root_path", ""), **context},
        status_code=status,
    )
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def problem(
    request: Request, status: int, message: str, title: str = "Unavailable"
) -> HTMLResponse:
    """A friendly error page: what went wrong and what to do, never a traceback."""
    return page(request, "error.html", title, status, message=message)


def service_state(request: Request) -> ServiceState:
    """The service state the app was created with."""
    return request.app.state.service
