"""HTTP transport: every request without the right bearer token is refused, foreign Host and
Origin headers are refused unless the operator allows them, and oversized bodies get 413.

The app is the one `serve --http` builds, on 127.0.0.1 (uvicorn in a thread).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from .sandbox import Sandbox
from .sessions import http_served, http_session

TOKEN = "reliability-token-0c41"
CAP_MB = 0.05
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD")
PATHS = ("/mcp", "/mcp/", "/", "/anything", "/healthz/../mcp", "/MCP")
BAD_AUTHORIZATION = (
    None, "", "Bearer", f"Bearer {TOKEN[:-1]}", f"Bearer {TOKEN}x", f"Bearer {TOKEN.upper()}",
    f"Basic {TOKEN}", f"Token {TOKEN}", TOKEN, f"Bearer {TOKEN[::-1]}", "Bearer " + "A" * 4096, f"Bearer\t{TOKEN}",
)
FOREIGN_HOSTS = ("evil.example", "evil.example:80", "127.0.0.1.evil.example", "localhost.evil.example:8765",
                 "127.0.0.2", "[::2]:8765", "0.0.0.0", "studio.lan")
FOREIGN_ORIGINS = ("http://evil.example", "https://evil.example", "http://127.0.0.1.evil.example", "null",
                   "https://studio.lan", "file://")


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    box = Sandbox.create(tmp_path_factory.mktemp("auth"))
    with http_served(box, toolsets=["files"], token=TOKEN, max_request_mb=CAP_MB) as url:
        yield url


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    box = Sandbox.create(tmp_path_factory.mktemp("auth-configured"))
    with http_served(box, toolsets=["files"], token=TOKEN, allowed_hosts=["studio.lan:*", "studio.lan"],
                     allowed_origins=["https://studio.lan"]) as url:
        yield url


def authorized(**headers: str) -> dict[str, str]:
    return {**ACCEPT, "Authorization": f"Bearer {TOKEN}", **headers}


def test_every_request_without_the_right_token_is_refused(guarded: str) -> None:
    refused = 0
    with httpx.Client(base_url=guarded, timeout=10) as http:
        for authorization in BAD_AUTHORIZATION:
            headers = dict(ACCEPT) if authorization is None else {**ACCEPT, "Authorization": authorization}
            for method in METHODS:
                for path in PATHS:
                    response = http.request(method, path, headers=headers, json=INITIALIZE if method == "POST" else None)
                    assert response.status_code == 401, (method, path, authorization, response.status_code)
                    assert "Bearer" in response.headers.get("www-authenticate", "")
                    refused += 1
        assert http.post("/mcp", params={"token": TOKEN, "access_token": TOKEN}, json=INITIALIZE, headers=ACCEPT).status_code == 401
        health = http.get("/healthz")
    assert refused == len(BAD_AUTHORIZATION) * len(METHODS) * len(PATHS)
    assert health.status_code == 200 and set(health.json()) == {"status", "version"}


def test_the_right_token_is_served_through_the_real_client(guarded: str) -> None:
    with http_session(guarded + "/mcp", TOKEN, mode="legacy") as client:
        assert "list_files" in client.schemas()
        assert client.call("list_files", {}).verdict == "result"
    with httpx.Client(base_url=guarded, timeout=10) as http:
        assert http.post("/mcp", json=INITIALIZE, headers=authorized()).status_code == 200


def test_foreign_host_and_origin_are_refused_by_default(guarded: str) -> None:
    with httpx.Client(base_url=guarded, timeout=10) as http:
        for host in FOREIGN_HOSTS:
            response = http.post("/mcp", json=INITIALIZE, headers=authorized(Host=host))
            assert response.status_code == 421, (host, response.status_code)
        for origin in FOREIGN_ORIGINS:
            response = http.post("/mcp", json=INITIALIZE, headers=authorized(Origin=origin))
            assert response.status_code == 403, (origin, response.status_code)
        port = guarded.rsplit(":", 1)[1]
        for host, origin in ((f"127.0.0.1:{port}", f"http://127.0.0.1:{port}"), (f"localhost:{port}", f"http://localhost:{port}")):
            assert http.post("/mcp", json=INITIALIZE, headers=authorized(Host=host, Origin=origin)).status_code == 200


def test_configured_hosts_and_origins_are_accepted_and_still_need_the_token(configured: str) -> None:
    with httpx.Client(base_url=configured, timeout=10) as http:
        for headers in ({"Host": "studio.lan:8765"}, {"Host": "studio.lan"}, {"Origin": "https://studio.lan"},
                        {"Host": "studio.lan", "Origin": "https://studio.lan"}):
            assert http.post("/mcp", json=INITIALIZE, headers=authorized(**headers)).status_code == 200, headers
            assert http.post("/mcp", json=INITIALIZE, headers={**ACCEPT, **headers}).status_code == 401
        assert http.post("/mcp", json=INITIALIZE, headers=authorized(Host="evil.example")).status_code == 421
        assert http.post("/mcp", json=INITIALIZE, headers=authorized(Origin="https://evil.example")).status_code == 403


def test_oversized_bodies_get_413(guarded: str) -> None:
    cap = int(CAP_MB * 1024 * 1024)
    padded = {**INITIALIZE, "params": {**INITIALIZE["params"], "padding": "x" * (cap + 1)}}
    chunks = (b"x" * 4096 for _ in range(cap // 4096 + 2))
    with httpx.Client(base_url=guarded, timeout=10) as http:
        assert http.post("/mcp", json=padded, headers=authorized()).status_code == 413
        assert http.post("/mcp", content=chunks, headers=authorized()).status_code == 413
        near = {**INITIALIZE, "params": {**INITIALIZE["params"], "padding": "x" * (cap - 1024)}}
        assert http.post("/mcp", json=near, headers=authorized()).status_code == 200
        assert http.post("/mcp", json=padded, headers=ACCEPT).status_code == 401
