"""API keys for writes and administration, and a cap on request bodies.

Keys come from `Settings.api_keys` (SecretStr: never printed, never logged) and are
compared in constant time. Without any configured key every write is refused, so a
service started without keys is read-only rather than open.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status
from fastapi.security import APIKeyHeader
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
    supplied = given.encode()
    valid = False
    for k in keys:  # no early exit: the time taken does not tell which key nearly matched
        valid |= hmac.compare_digest(supplied, k.get_secret_value().encode())
    if not valid:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the API key is not valid")


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


async def _too_large(send: Send, limit: int) -> None:
    body = b'{"detail":"request body larger than %d bytes"}' % limit
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})
