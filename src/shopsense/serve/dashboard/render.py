"""Pages in the dashboard's shared layout: the template environment, the headers every
page carries, the friendly error page, and the router each page module hangs off.

Whatever goes wrong under `/dashboard` is answered with a page in the same layout, its
navigation included, never with the API's JSON: the status the API would give (404, 409,
503...) with its sentence, or a 500 with a reference to quote to the operator.
"""

from __future__ import annotations

import inspect
import json
import logging
import uuid
from collections.abc import Callable, Coroutine
from http import HTTPStatus
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute
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


log = logging.getLogger("shopsense.serve")


def page_router() -> APIRouter:
    """A router for one page module: under `/dashboard`, kept out of the OpenAPI schema,
    its errors answered as pages (`PageRoute`)."""
    return APIRouter(prefix=PREFIX, include_in_schema=False, route_class=PageRoute)


class PageRoute(APIRoute):
    """A dashboard route whose failures are pages: an exception the app knows how to answer
    (its exception handlers: HTTP errors, invalid input, a busy or read-only store) gets
    that status and sentence in the dashboard's layout; any other is logged with its
    traceback and answered with a 500 page naming a reference."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:  # every failure becomes a page, by design
                return await error_page(request, exc)

        return answer


async def error_page(request: Request, exc: Exception) -> Response:
    """The page for `exc`, with the status and reason the app's own handler gives it."""
    handler = _handler_for(request.app, exc)
    if handler is not None:
        answered = handler(request, exc)
        answered = await answered if inspect.isawaitable(answered) else answered
        if answered.status_code < 400:  # 304 and the like are answers, not errors
            return answered
        if answered.status_code < 500 or answered.status_code == 503:
            page = problem(
                request,
                answered.status_code,
                _reason(answered, request),
                title=_phrase(answered.status_code),
            )
            retry = answered.headers.get("retry-after")
            if retry:
                page.headers["Retry-After"] = retry
            return page
    ref = uuid.uuid4().hex[:12]
    log.error(
        "request %s %s failed (ref %s)",
        request.method,
        request.url.path,
        ref,
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    message = (
        f"This page failed on an error of the service. The operator finds what happened in "
        f"the service's log under the reference {ref}."
    )
    return problem(request, 500, message, title="Something went wrong")


def not_found(request: Request) -> Response:
    """The page for an address under /dashboard that names no page."""
    message = f"There is no dashboard page at {request.url.path}. The pages are linked above."
    return problem(request, 404, message, title="Page not found")


def _handler_for(app: Any, exc: Exception) -> Callable[..., Any] | None:
    """The app's exception handler for `exc`'s class or the nearest base class with one."""
    handlers = getattr(app, "exception_handlers", {})
    for cls in type(exc).__mro__:
        if cls in handlers and cls is not Exception:
            return handlers[cls]
    return None


def _reason(response: Response, request: Request) -> str:
    """The sentence an error response carries (`detail` of a JSON body), in words."""
    try:
        detail = json.loads(bytes(response.body)).get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, list):  # invalid input: one line per field
        return "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg', '')}"
            for d in detail
            if isinstance(d, dict)
        )
    if not detail or detail == _phrase(response.status_code):  # no sentence of its own
        if response.status_code == 404:
            return f"Nothing was found at {request.url.path}."
        return _phrase(response.status_code)
    return str(detail)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


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
