"""Prometheus metrics: requests by route and status, latencies, models served, events.

Each app gets its own `CollectorRegistry`, so several apps in one process (tests) do not
clash, and `/metrics` shows exactly this service's numbers.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


class Metrics:
    """The service's instruments."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "shopsense_requests", "HTTP requests", ["method", "route", "status"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "shopsense_request_seconds", "request latency", ["route"], buckets=_BUCKETS,
            registry=self.registry,
        )  # fmt: skip
        self.model_info = Gauge(
            "shopsense_model_info", "served model versions (1 = serving)", ["name", "version"],
            registry=self.registry,
        )  # fmt: skip
        self.live_users = Gauge(
            "shopsense_live_users", "users with events newer than the model", ["name"],
            registry=self.registry,
        )  # fmt: skip
        self.events = Counter(
            "shopsense_events_stored", "events written to the store", registry=self.registry
        )
        self.answers = Counter(
            "shopsense_recommendations", "users answered, by how", ["source"],
            registry=self.registry,
        )  # fmt: skip

    def model_swapped(self, name: str, served: object) -> None:
        version = getattr(getattr(served, "version", None), "version", "")
        for labels in list(self.model_info._metrics):  # one serving version per name
            if labels[0] == name:
                self.model_info.remove(*labels)
        self.model_info.labels(name, version).set(1)
        self.live_users.labels(name).set(getattr(served, "live_users", 0))


class RequestMetrics:
    """ASGI middleware timing every request under its route template (not the raw path,
    which would make one series per user id)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], path, str(status)).inc()
            self.metrics.latency.labels(path).observe(time.perf_counter() - start)
