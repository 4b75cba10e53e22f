"""Every error is a well-formed response on a connection that stays usable.

Starlette's last-resort handler sends the 500 and then re-raises the exception, so the
server closes a keep-alive connection without saying `Connection: close` and the client's
next request on it fails. Here the exception stops in an ASGI middleware that answers
and returns normally: the server sees a finished response and keeps the connection.

Errors are RFC 9457 problem documents (`application/problem+json`): `type`, `title`,
`status` and `detail`, a sentence saying what to change (or, for a crash, a reference to
quote to the operator, who finds the traceback in the log under it).
"""

from __future__ import annotations

import html
import logging
import uuid
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopsense.serve.state import NotReady, ReadOnly, StoreBusy
from shopsense.serve.writes import WritesBacklogged

log = logging.getLogger("shopsense.serve")

PROBLEM = "application/problem+json"


def problem(
    status: int, detail: Any, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """A problem document; `detail` stays the key clients read the reason from."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM)


def install_errors(app: FastAPI) -> None:
    """Problem responses for expected faults, and the catch-all for everything else."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code in (204, 304):
            return Response(status_code=exc.status_code, headers=exc.headers)
        return problem(exc.status_code, exc.detail, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return problem(422, errors)

    @app.exception_handler(NotReady)
    async def not_ready(request: Request, exc: NotReady) -> JSONResponse:
        return problem(503, str(exc))

    @app.exception_handler(StoreBusy)
    async def busy(request: Request, exc: StoreBusy) -> JSONResponse:
        return problem(503, f"{exc}; retry shortly", headers={"Retry-After": "1"})

    @app.exception_handler(WritesBacklogged)
    async def backlogged(request: Request, exc: WritesBacklogged) -> JSONResponse:
        return problem(429, str(exc), headers={"Retry-After": "1"})

    @app.exception_handler(ReadOnly)
    async def read_only(request: Request, exc: ReadOnly) -> JSONResponse:
        return problem(409, str(exc))

    app.add_middleware(ErrorsAsResponses)  # last added: outermost of the app's middleware


class ErrorsAsResponses:
    """ASGI middleware: an exception becomes a logged 500 with a reference, not a dropped
    connection. Outermost, so it also covers the other middleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            ref = uuid.uuid4().hex[:12]
            log.exception("request %s %s failed (ref %s)", scope["method"], scope["path"], ref)
            if started:  # half a response is out: only closing the connection is honest
                raise
            await _crash(scope, ref)(scope, receive, send)


def _crash(scope: Scope, ref: str) -> Response:
    """The 500 for a crash outside any route's own handling: a problem document, or under
    /dashboard the dashboard's error page (its nav bar, a link back, the reference)."""
    text = f"internal error; quote reference {ref} to the operator"
    if scope["path"].startswith("/dashboard"):
        message = (
            "This page failed on an error of the service. The operator finds what happened "
            f"in the service's log under the reference {ref}."
        )
        try:
            from shopsense.serve.dashboard.render import problem as page_problem

            return page_problem(Request(scope), 500, message, title="Something went wrong")
        except Exception:  # the layout itself failed: a page that needs nothing
            log.exception("the error page failed too (ref %s)", ref)
            root = html.escape(scope.get("root_path", ""))
            return HTMLResponse(
                f'<!doctype html><html lang="en"><meta charset="utf-8"><title>Error · shopsense'
                f"</title><h1>Something went wrong</h1><p>{html.escape(message)}</p>"
                f'<p>Back to the <a href="{root}/dashboard">overview</a>.</p></html>',
                status_code=500,
                headers={"Cache-Control": "no-store"},
            )
    return problem(500, text, reference=ref)
