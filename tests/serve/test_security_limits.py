"""Per-client limits on expensive routes: a burst beyond the bucket and more requests at
once than allowed get 429 with Retry-After; other clients and cheap routes are untouched."""

from __future__ import annotations

import asyncio
import time

from shopsense.serve.security import RateLimits, expensive

QUESTION = "/v1/questions/answer"


def _scope(path: str = QUESTION, key: bytes | None = None, addr: str = "10.0.0.1") -> dict:
    headers = [(b"x-api-key", key)] if key else []
    return {"type": "http", "method": "POST", "path": path, "headers": headers,
            "client": (addr, 5000)}  # fmt: skip


async def _call(limits: RateLimits, scope: dict) -> tuple[int, dict[bytes, bytes]]:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:
        sent.append(message)

    await limits(scope, receive, send)
    return sent[0]["status"], dict(sent[0].get("headers", []))


def _app(gate: asyncio.Event | None = None):
    async def app(scope, receive, send) -> None:
        if gate is not None:
            await gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


def test_which_routes_are_expensive() -> None:
    assert expensive("POST", "/v1/questions/answer") and expensive("POST", "/v1/images/classify")
    assert expensive("GET", "/v1/images/similar/x")
    assert expensive("POST", "/v1/recommendations/batch")
    assert expensive("POST", "/v1/reviews/sentiment") and expensive("GET", "/v1/items/7/aspects")
    assert not expensive("GET", "/v1/items/7/similar")
    assert not expensive("GET", "/v1/users/1/recommendations") and not expensive("GET", "/healthz")


def test_a_burst_beyond_the_bucket_gets_429_with_retry_after() -> None:
    async def run() -> None:
        limits = RateLimits(_app(), per_minute=60, burst=3, concurrent=5, keys=["k1"])
        codes = [(await _call(limits, _scope()))[0] for _ in range(3)]
        assert codes == [200, 200, 200]
        code, headers = await _call(limits, _scope())
        assert code == 429 and headers[b"retry-after"] == b"1"
        # a made-up key is no new client: it counts against its address
        assert (await _call(limits, _scope(key=b"made-up-1")))[0] == 429
        assert (await _call(limits, _scope(key=b"made-up-2")))[0] == 429
        # another client (by address, or by a configured key) has its own bucket; cheap
        # routes are free
        assert (await _call(limits, _scope(addr="10.0.0.2")))[0] == 200
        assert (await _call(limits, _scope(key=b"k1")))[0] == 200
        assert (await _call(limits, _scope(path="/v1/users/1/history")))[0] == 200
        await asyncio.sleep(1.05)  # one token back after a second at 60 a minute
        assert (await _call(limits, _scope()))[0] == 200
        assert (await _call(limits, _scope()))[0] == 429

    asyncio.run(run())


def test_more_requests_at_once_than_allowed_get_429() -> None:
    async def run() -> None:
        gate = asyncio.Event()
        limits = RateLimits(_app(gate), per_minute=6000, burst=100, concurrent=2)
        first = [asyncio.create_task(_call(limits, _scope())) for _ in range(2)]
        await asyncio.sleep(0.05)  # both are in flight, held at the gate
        began = time.perf_counter()
        code, headers = await _call(limits, _scope())
        assert code == 429 and headers[b"retry-after"] == b"1"
        assert time.perf_counter() - began < 0.5  # refused at once, not queued
        gate.set()
        assert [(await t)[0] for t in first] == [200, 200]
        assert (await _call(limits, _scope()))[0] == 200  # the slots are free again

    asyncio.run(run())
