"""Errors never break the transport: on a real server, a crash, a refused request and a
good one share one keep-alive connection, and every error is a problem document."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import FastAPI

from shopsense.serve.app import create_app

USER = "12348"


@pytest.fixture()
def server(fresh_shop) -> Iterator[tuple[FastAPI, int]]:
    """The real app under uvicorn on a free port, in a thread."""
    app = create_app(fresh_shop)

    def boom() -> dict:
        raise RuntimeError("secret internal detail")

    app.add_api_route("/v1/boom", boom, methods=["GET", "POST"])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield app, port
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _call(
    conn: http.client.HTTPConnection, method: str, path: str, body: dict | None = None
) -> tuple[int, dict[str, str], bytes]:
    payload = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if payload else {}
    conn.request(method, path, body=payload, headers=headers)
    response = conn.getresponse()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def test_a_crash_leaves_the_connection_usable(server):
    _, port = server
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        status, _, _ = _call(conn, "GET", "/healthz")
        assert status == 200
        sock = conn.sock
        for method, body in (("GET", None), ("POST", {"anything": [1, 2, 3]})):
            status, headers, text = _call(conn, method, "/v1/boom", body)
            assert status == 500
            assert headers["content-type"] == "application/problem+json"
            assert headers.get("connection", "").lower() != "close"
            problem = json.loads(text)
            assert problem["status"] == 500 and "reference" in problem["detail"]
            assert problem["reference"] in problem["detail"] and b"secret" not in text
            assert conn.sock is sock, "the server closed the connection after the error"
        # a refused request and then a good one, still on the same connection
        status, headers, text = _call(conn, "GET", f"/v1/users/{USER}/recommendations?k=0")
        assert status == 422 and headers["content-type"] == "application/problem+json"
        assert json.loads(text)["detail"][0]["loc"] == ["query", "k"]
        status, _, text = _call(conn, "GET", f"/v1/users/{USER}/recommendations?k=3")
        assert status == 200 and len(json.loads(text)["items"]) == 3
        assert conn.sock is sock
    finally:
        conn.close()


def test_errors_are_problem_documents(client):
    r = client.get("/v1/users/12348/recommendations", params={"model": "nosuchmodel"})
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["title"] == "Not Found" and body["status"] == 404
    assert "saved models" in body["detail"]
