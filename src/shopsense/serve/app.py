"""The FastAPI application: `create_app(settings)` wires the API, health checks, metrics,
the dashboard, request limits and error handling. `shopsense serve` runs it with uvicorn.

Errors never carry a stack trace to the client: expected faults become 4xx/503 with a
sentence saying what to change; anything else is logged here with its traceback and the
client gets a 500 with a request id to quote.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI, status
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from threadpoolctl import threadpool_limits

from shopsense import __version__
from shopsense.config import Settings
from shopsense.serve import api, behavior, dashboard, pricing, reviews
from shopsense.serve import images as images_routes
from shopsense.serve.docs import install_docs
from shopsense.serve.errors import install_errors, problem
from shopsense.serve.metrics import Metrics, RequestMetrics
from shopsense.serve.security import BodyLimit, RateLimits, ReadKeys
from shopsense.serve.state import ServiceState

log = logging.getLogger("shopsense.serve")


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service over one store and one model registry."""
    settings = settings or Settings()
    state = ServiceState(settings)
    metrics = Metrics()
    state.metrics = metrics  # type: ignore[attr-defined]
    state.on_swap.append(metrics.model_swapped)
    state.registry.on_load.append(lambda _model: _limit_torch_threads(settings.serve_threads))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _limit_threads(settings.serve_threads)
        state.start()  # the store's write lock, or StoreLocked naming who holds it
        try:
            ready, why = state.ready()  # load the default model now, not on the first request
            log.info("shopsense %s: %s", __version__, why if ready else f"not ready: {why}")
            yield
        finally:
            state.stop()

    app = FastAPI(
        title="shopsense",
        version=__version__,
        description="Recommendations, events and models of one shop. Writes need an API key "
        "(X-API-Key).",
        lifespan=lifespan,
        docs_url=None,  # served by `install_docs`, without a CDN
        redoc_url=None,
    )
    app.state.service = state
    app.include_router(api.router)
    app.include_router(behavior.router)
    app.include_router(images_routes.router)
    app.include_router(reviews.router)
    app.include_router(pricing.router)
    app.include_router(dashboard.router)
    dashboard.mount_static(app)
    install_docs(app)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/dashboard")

    @app.get("/healthz", response_model=api.s.Status, tags=["health"])
    def healthz() -> api.s.Status:
        """The process is up."""
        return api.s.Status(status="ok")

    @app.get("/readyz", response_model=api.s.Status, tags=["health"],
             responses={503: {"model": api.s.Status}})  # fmt: skip
    def readyz() -> Response:
        """A model is loaded and the store is reachable: requests will be answered."""
        ready, why = state.ready()
        code = status.HTTP_200_OK if ready else status.HTTP_503_SERVICE_UNAVAILABLE
        body = api.s.Status(status="ready" if ready else "not ready", detail=why)
        return JSONResponse(body.model_dump(), status_code=code)

    @app.get("/metrics", tags=["health"], response_class=PlainTextResponse)
    def prometheus() -> Response:
        """Prometheus metrics: request counts and latencies by route, served model versions,
        stored events."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(RequestMetrics, metrics=metrics)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        RateLimits,
        per_minute=settings.rate_per_minute,
        burst=settings.rate_burst,
        concurrent=settings.concurrent_per_client,
        keys=[*settings.read_keys, *settings.api_keys],
    )
    app.add_middleware(ReadKeys, read_keys=settings.read_keys, write_keys=settings.api_keys)
    app.add_middleware(TrustedHosts, allowed_hosts=settings.allowed_hosts)
    install_errors(app)  # after the other middleware: its catch-all is the outermost
    return app


class TrustedHosts(TrustedHostMiddleware):
    """Starlette's Host check (`SHOPSENSE_ALLOWED_HOSTS`), whose refusal is a problem
    document like every other error instead of a bare `Invalid host header` text. Which
    hosts pass, and the redirect to a `www.` host, stay Starlette's own: only a 400 it
    sends without having passed the request on is replaced."""

    def __init__(
        self, app: ASGIApp, allowed_hosts: Sequence[str] | None = None, www_redirect: bool = True
    ) -> None:
        super().__init__(self._passed, allowed_hosts, www_redirect)
        self.inner = app

    async def _passed(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[_HOST_PASSED] = True
        await self.inner(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        refused = False

        async def answer(message: Message) -> None:
            nonlocal refused
            if scope.get(_HOST_PASSED):
                await send(message)
            elif message["type"] == "http.response.start" and message["status"] == 400:
                refused = True  # Starlette's text: replaced once its body is done
            elif not refused:
                await send(message)  # the redirect to the www. host
            elif not message.get("more_body", False):
                detail = (
                    "the Host header names no host this service answers to; use one of "
                    "its addresses (SHOPSENSE_ALLOWED_HOSTS)"
                )
                await problem(400, detail)(scope, receive, send)

        await super().__call__(scope, receive, answer)


#: set in the scope of a request the Host check passed on to the app
_HOST_PASSED = "shopsense.host_passed"


def _limit_threads(threads: int) -> None:
    """Per-request scoring uses few threads: requests run side by side instead."""
    threadpool_limits(threads)
    _limit_torch_threads(threads)


def _limit_torch_threads(threads: int) -> None:
    """The same for torch, once a model that needs it is loaded: a service of classic
    models never imports torch (the app calls this after every model load)."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
