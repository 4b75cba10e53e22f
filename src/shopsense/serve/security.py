"""Who may call the service and how much it may cost them: API keys for writes and
administration, optional read keys for everything that shows customer data, the Host names
the service answers to, a cap on request bodies, and per-client rate and concurrency limits
on the expensive routes.

Keys come from `Settings.api_keys` / `Settings.read_keys` (SecretStr: never printed, never
logged) and are compared in constant time. Without any configured write key every write is
refused, so a service started without keys is read-only rather than open. With read keys,
every route but the health checks, metrics, API docs and static files needs a read or a
write key (`X-API-Key`, `Authorization: Bearer`, or HTTP Basic with the key as password so
a browser can open the dashboard).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import math
import time
from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status
from fastapi.security import APIKeyHeader
from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="key for writes")


def require_key(
    request: Request,
    key: Annotated[str | None, Depends(_header)] = None,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> None:
    """Dependency of every write/admin route: a valid `X-API-Key` (or `Bearer` token)."""
    keys = request.app.state.service.settings.api_keys
    if not keys:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "writes are disabled: the service has no API keys (set SHOPSENSE_API_KEYS)",
        )
    given = key
    if given is None and authorization and authorization.lower().startswith("bearer "):
        given = authorization[7:].strip()
    if not given:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "this endpoint needs an API key in the X-API-Key header",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not _matches(given, keys):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the API key is not valid")


def _matches(given: str, keys: Iterable[SecretStr | str]) -> bool:
    supplied = given.encode()
    valid = False
    for k in keys:  # no early exit: the time taken does not tell which key nearly matched
        secret = k.get_secret_value() if isinstance(k, SecretStr) else str(k)
        valid |= hmac.compare_digest(supplied, secret.encode())
    return valid


def _given_key(scope: Scope) -> str | None:
    """The key a request carries: X-API-Key, a Bearer token, or a Basic password."""
    headers = dict(scope.get("headers", []))
    key = headers.get(b"x-api-key")
    if key:
        return key.decode("latin-1").strip()
    auth = headers.get(b"authorization", b"").decode("latin-1").strip()
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            user_pass = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        return user_pass.partition(":")[2] or None
    return None


#: Paths anyone may read with read keys set: they show no customer data.
PUBLIC_PATHS = frozenset({"/", "/healthz", "/readyz", "/metrics", "/openapi.json", "/redoc"})
PUBLIC_PREFIXES = ("/static/", "/docs")


class ReadKeys:
    """With read keys configured, refuse every request that is not to a public path
    (`PUBLIC_PATHS`, `PUBLIC_PREFIXES`) and carries no read or write key: 401 without a
    key, 403 with a wrong one. Dashboard pages ask a browser for Basic credentials."""

    def __init__(
        self, app: ASGIApp, read_keys: list[SecretStr], write_keys: list[SecretStr]
    ) -> None:
        self.app = app
        self.keys = [*read_keys, *write_keys]
        self.enabled = bool(read_keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            not self.enabled
            or scope["type"] != "http"
            or path in PUBLIC_PATHS
            or path.startswith(PUBLIC_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        given = _given_key(scope)
        if given and _matches(given, self.keys):
            await self.app(scope, receive, send)
            return
        page = path.startswith("/dashboard")
        challenge = b'Basic realm="shopsense"' if page else b"Bearer"
        if not given and page:  # a browser: a page saying what to do, and its prompt
            await _key_page(send, scope.get("root_path", ""), challenge)
        elif not given:
            message = "this service needs a read key: send it in the X-API-Key header"
            await _refuse(send, 401, message, [(b"www-authenticate", challenge)])
        else:
            await _refuse(send, 403, "the key is not valid")


async def _key_page(send: Send, root: str, challenge: bytes) -> None:
    """The 401 for a dashboard page opened without a key: a short page (shown when the
    browser's prompt is cancelled) saying how to give the key, with the Basic challenge."""
    import html

    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>Key needed · shopsense</title><link rel="stylesheet" '
        f'href="{html.escape(root)}/static/dashboard.css"></head><body><main>'
        "<h1>Key needed</h1><p>This dashboard shows customer data, so it needs a read key "
        "(or an API key).</p><p>Reload the page: when the browser asks for a user name and "
        "password, give any user name and the key as the password. Scripts send the key in "
        "the <code>X-API-Key</code> header.</p></main></body></html>"
    ).encode()
    headers = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"www-authenticate", challenge),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
        (b"content-security-policy", b"default-src 'none'; style-src 'self'"),
    ]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RateLimits:
    """Per-client limits on expensive routes: a token bucket (`per_minute` on average,
    `burst` at once) and at most `concurrent` requests in flight. Beyond either: 429 with
    Retry-After. A client is its key when it sends a configured one, else its address: a
    made-up key per request must not buy a fresh bucket.

    `expensive(method, path)` says which requests count. Buckets live in this process
    (one service process per machine is the deployment; behind several, divide the rate)."""

    def __init__(
        self,
        app: ASGIApp,
        per_minute: float,
        burst: int,
        concurrent: int,
        max_clients: int = 10_000,
        keys: Iterable[SecretStr | str] = (),
    ) -> None:
        self.app = app
        self.keys = list(keys)
        self.rate = per_minute / 60.0
        self.burst, self.concurrent, self.max_clients = float(burst), concurrent, max_clients
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, at)
        self._running: dict[str, int] = {}
        self._lock = asyncio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not expensive(scope["method"], scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        client = _client(scope, self.keys)
        async with self._lock:
            wait = self._take(client)
            why = f"more than {self._describe()} expensive requests from this client"
            if wait is None and self._running.get(client, 0) >= self.concurrent:
                self._give_back(client)  # refused: the request costs nothing
                wait = 1.0
                why = f"more than {self.concurrent} expensive requests at once from this client"
            elif wait is None:
                self._running[client] = self._running.get(client, 0) + 1
        if wait is not None:
            retry = str(max(1, math.ceil(wait)))
            message = f"{why}; retry in {retry} s"
            await _refuse(send, 429, message, [(b"retry-after", retry.encode())])
            return
        try:
            await self.app(scope, receive, send)
        finally:
            async with self._lock:
                left = self._running.get(client, 1) - 1
                if left > 0:
                    self._running[client] = left
                else:
                    self._running.pop(client, None)

    def _describe(self) -> str:
        return f"{self.rate * 60:g} a minute (bursts of {self.burst:g})"

    def _take(self, client: str) -> float | None:
        """Spend a token: None when there was one, else the seconds until there is."""
        now = time.monotonic()
        tokens, at = self._buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens >= 1.0:
            self._buckets[client] = (tokens - 1.0, now)
            if len(self._buckets) > self.max_clients:
                self._forget(now)
            return None
        self._buckets[client] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def _give_back(self, client: str) -> None:
        tokens, at = self._buckets[client]
        self._buckets[client] = (min(self.burst, tokens + 1.0), at)

    def _forget(self, now: float) -> None:
        """Drop clients whose bucket has refilled (they are as if never seen)."""
        full = [
            c
            for c, (tokens, at) in self._buckets.items()
            if tokens + (now - at) * self.rate >= self.burst and c not in self._running
        ]
        for c in full:
            del self._buckets[c]


#: (method, path prefix, path suffix) of the routes that cost seconds of CPU or large
#: memory per call: questions, photos, batches, scoring up to 256 texts, an item's aspects
EXPENSIVE = (
    ("POST", "/v1/questions/", ""),
    ("POST", "/v1/images/", ""),
    ("GET", "/v1/images/", ""),
    ("POST", "/v1/recommendations/batch", ""),
    ("POST", "/v1/reviews/sentiment", ""),
    ("GET", "/v1/items/", "/aspects"),
)


def expensive(method: str, path: str) -> bool:
    """Whether a request is rate-limited (`EXPENSIVE`)."""
    return any(method == m and path.startswith(p) and path.endswith(end) for m, p, end in EXPENSIVE)


def _client(scope: Scope, keys: Iterable[SecretStr | str]) -> str:
    """Who a request counts against: its key when that key is one of `keys`, else its
    address (an unknown key, or none, is the address's client)."""
    key = _given_key(scope)
    if key and _matches(key, keys):  # a digest: the key itself is never kept
        return "key:" + hashlib.sha256(key.encode()).hexdigest()[:16]
    host = (scope.get("client") or ("unknown", 0))[0]
    return f"addr:{host}"


class BodyLimit:
    """Refuse bodies over `max_bytes` with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await _too_large(send, self.max_bytes)
                    return
        seen = 0
        replied = False  # the 413 went out: whatever the app sends after is dropped

        async def counted() -> Message:
            nonlocal seen, replied
            message = await receive()
            if message["type"] == "http.request" and not replied:
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    await _too_large(send, self.max_bytes)
                    replied = True
                    return {"type": "http.disconnect"}  # the app stops reading the body
            return message

        async def guarded_send(message: Message) -> None:
            if not replied:
                await send(message)

        await self.app(scope, counted, guarded_send)


async def _refuse(
    send: Send, code: int, message: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """A problem document (RFC 9457), as the app's own errors are, sent by middleware."""
    import json
    from http import HTTPStatus

    problem = {"type": "about:blank", "title": HTTPStatus(code).phrase, "status": code,
               "detail": message}  # fmt: skip
    await send(
        {
            "type": "http.response.start",
            "status": code,
            "headers": [(b"content-type", b"application/problem+json"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(problem).encode()})


async def _too_large(send: Send, limit: int) -> None:
    await _refuse(send, 413, f"request body larger than {limit} bytes")
