"""Start the real `audiolla-mcp` command in a subprocess and connect real MCP clients to it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator

import httpx
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

ERAS = ["legacy", "auto"]
"""'legacy' = the 2025-11-25 initialize handshake; 'auto' probes server/discover and lands on 2026-07-28."""
EXPECTED_VERSION = {"legacy": "2025-11-25", "auto": "2026-07-28"}
TOKEN = "test-token-5b7c"


def command() -> list[str]:
    exe = Path(sys.executable).with_name("audiolla-mcp")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "audiolla_mcp"]


def server_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"AUDIOLLA_LOG_LEVEL": "WARNING", "HF_HUB_OFFLINE": "1", "AUDIOLLA_MODELS_DIR": str(tmp / "models")})
    return env


def stdio_params(workspace: Path, *extra: str) -> StdioServerParameters:
    cmd = command()
    return StdioServerParameters(
        command=cmd[0],
        args=[*cmd[1:], "--workspace", str(workspace), "--toolsets", "all", *extra],
        env=server_env(workspace.parent),
    )


@asynccontextmanager
async def stdio_client(workspace: Path, era: str, **options: Any) -> AsyncIterator[Client]:
    async with Client(stdio_params(workspace), mode=era, **options) as client:
        yield client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class HttpServer:
    url: str
    base: str
    process: subprocess.Popen

    @asynccontextmanager
    async def client(self, era: str, token: str | None = TOKEN, **options: Any) -> AsyncIterator[Client]:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        async with create_mcp_http_client(headers=headers) as http:
            transport = streamable_http_client(self.url, http_client=http, max_sse_event_size=None)
            async with Client(transport, mode=era, **options) as client:
                yield client


def start_http(workspace: Path, *extra: str) -> HttpServer:
    port = free_port()
    process = subprocess.Popen(
        [*command(), "serve", "--http", "--port", str(port), "--workspace", str(workspace), "--toolsets", "all", *extra],
        env=server_env(workspace.parent),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return HttpServer(url=base + "/mcp", base=base, process=process)
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("HTTP server did not start in 60 s")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def http_server(workspace: Path) -> Iterator[HttpServer]:
    server = start_http(workspace, "--token", TOKEN)
    yield server
    stop(server.process)
