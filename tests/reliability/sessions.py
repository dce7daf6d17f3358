"""Real MCP clients and servers driven from synchronous code (tests, hypothesis), with a
per-call timeout and a verdict for every reply.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED

from .sandbox import MODELS_DIR, Sandbox

Verdict = Literal["result", "error", "internal", "protocol", "hang", "crash"]


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    text: str
    structured: dict | None
    seconds: float

    @property
    def clean(self) -> bool:
        return self.verdict in ("result", "error") and "Traceback (most recent call last)" not in self.text


class Session:
    """A connected MCP client behind a blocking portal."""

    def __init__(self, portal: BlockingPortal, client: Client, app: Any = None):
        self.portal = portal
        self.client = client
        self.app = app

    def call(self, name: str, arguments: dict[str, Any], timeout_s: float = 30.0) -> Outcome:
        return self.portal.call(self.outcome, name, arguments, timeout_s)

    def call_many(
        self,
        calls: list[tuple[str, dict[str, Any]]],
        timeout_s: float = 30.0,
        concurrency: int = 8,
        queues: list[str] | None = None,
    ) -> list[Outcome]:
        """Many calls, outcomes in order. Calls in one queue (default: one per tool, since an
        engine may keep per-model state) run one after another; queues run side by side,
        `concurrency` at most."""
        return self.portal.call(self._call_many, calls, timeout_s, concurrency, queues or [n for n, _ in calls])

    async def _call_many(
        self, calls: list[tuple[str, dict[str, Any]]], timeout_s: float, concurrency: int, queues: list[str]
    ) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(calls)
        grouped: dict[str, list[int]] = {}
        for index, queue in enumerate(queues):
            grouped.setdefault(queue, []).append(index)
        limiter = anyio.CapacityLimiter(concurrency)

        async def drain(indices: list[int]) -> None:
            async with limiter:
                for index in indices:
                    outcomes[index] = await self.outcome(*calls[index], timeout_s)

        async with anyio.create_task_group() as group:
            for indices in grouped.values():
                group.start_soon(drain, indices)
        return outcomes  # type: ignore[return-value]

    async def outcome(self, name: str, arguments: dict[str, Any], timeout_s: float = 30.0) -> Outcome:
        """Call a tool and classify the reply; never raises for what the server does."""
        started = time.perf_counter()
        try:
            with anyio.fail_after(timeout_s):
                result = await self.client.call_tool(name, arguments)
        except TimeoutError:
            return Outcome("hang", f"no reply in {timeout_s:g} s", None, time.perf_counter() - started)
        except MCPError as exc:
            verdict: Verdict = "crash" if exc.code == CONNECTION_CLOSED else "protocol"
            return Outcome(verdict, str(exc), None, time.perf_counter() - started)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError) as exc:
            return Outcome("crash", repr(exc), None, time.perf_counter() - started)
        text = "\n".join(getattr(block, "text", "") for block in result.content)
        verdict = "result"
        if result.is_error:
            verdict = "internal" if text.strip() == f"Error executing tool {name}" else "error"
        return Outcome(verdict, text, result.structured_content, time.perf_counter() - started)

    def run(self, fn: Any, *args: Any) -> Any:
        """Run any client coroutine function, e.g. `session.run(session.client.list_tools)`."""
        return self.portal.call(fn, *args)

    def schemas(self) -> dict[str, dict]:
        return {tool.name: tool.input_schema for tool in self.run(self.client.list_tools).tools}


class DirectSession(Session):
    """Calls the server object's own `call_tool`: argument validation, the tool body and the
    workspace exactly as served, without the JSON-RPC round trip (several times faster), for
    matrices of thousands of calls."""

    def __init__(self, portal: BlockingPortal, server: Any, app: Any = None):
        super().__init__(portal, client=None, app=app)  # type: ignore[arg-type]
        self.server = server

    async def outcome(self, name: str, arguments: dict[str, Any], timeout_s: float = 30.0) -> Outcome:
        from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError

        started = time.perf_counter()
        try:
            with anyio.fail_after(timeout_s):
                result = await self.server.call_tool(name, arguments)
        except TimeoutError:
            return Outcome("hang", f"no reply in {timeout_s:g} s", None, time.perf_counter() - started)
        except UnexpectedToolError as exc:
            return Outcome("internal", f"{exc!r} from {exc.__cause__!r}", None, time.perf_counter() - started)
        except ToolError as exc:
            return Outcome("error", str(exc), None, time.perf_counter() - started)
        except MCPError as exc:
            return Outcome("protocol", str(exc), None, time.perf_counter() - started)
        text = "\n".join(getattr(block, "text", "") for block in result.content)
        return Outcome("error" if result.is_error else "result", text, result.structured_content, time.perf_counter() - started)

    def schemas(self) -> dict[str, dict]:
        return {tool.name: tool.input_schema for tool in self.portal.call(self.server.list_tools)}


@contextmanager
def session(target: Any, **options: Any) -> Iterator[Session]:
    """`target`: an MCPServer (in-process), StdioServerParameters, a transport or a URL."""
    with start_blocking_portal() as portal, portal.wrap_async_context_manager(Client(target, **options)) as client:
        yield Session(portal, client)


def build(box: Sandbox, **overrides: Any) -> tuple[Any, Any]:
    """An in-process server (every toolset unless `toolsets` says otherwise) on the sandbox's
    workspace, and its App; `overrides` are Settings fields."""
    from audiolla_mcp.config import Settings
    from audiolla_mcp.server import build_server, make_app

    settings = Settings.from_env(**{"workspace": box.workspace, "toolsets": ["all"], "models_dir": box.root / MODELS_DIR,
                                    **overrides})
    app = make_app(settings)
    return build_server(settings, app), app


@contextmanager
def direct_session(server: Any, app: Any) -> Iterator[DirectSession]:
    with start_blocking_portal() as portal:
        yield DirectSession(portal, server, app)


@contextmanager
def served(box: Sandbox, *, direct: bool = False, **overrides: Any) -> Iterator[Session]:
    """`build`, then a client on it (or, with `direct`, a `DirectSession`); jobs stop at the end."""
    server, app = build(box, **overrides)
    try:
        if direct:
            with direct_session(server, app) as connected:
                yield connected
        else:
            with session(server) as connected:
                connected.app = app
                yield connected
    finally:
        app.jobs.shutdown()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def http_served(box: Sandbox, **overrides: Any) -> Iterator[str]:
    """The streamable-HTTP app exactly as `serve --http` builds it, on 127.0.0.1 in a uvicorn
    thread (no process start-up to pay); yields the base URL."""
    import uvicorn

    from audiolla_mcp.transport import http_app

    server, app = build(box, **overrides)
    port = free_port()
    web = uvicorn.Server(uvicorn.Config(http_app(server, app.settings), host="127.0.0.1", port=port,
                                       log_level="warning", log_config=None))
    thread = threading.Thread(target=web.run, name="audiolla-test-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not web.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        web.should_exit = True
        thread.join(timeout=15)
        app.jobs.shutdown()


@contextmanager
def http_session(url: str, token: str | None = None, **options: Any) -> Iterator[Session]:
    """A real streamable-HTTP client (optionally with a bearer token) behind a portal."""
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    headers = {"Authorization": f"Bearer {token}"} if token else None
    with start_blocking_portal() as portal:
        http = portal.wrap_async_context_manager(create_mcp_http_client(headers=headers))
        with http as client_http:
            transport = streamable_http_client(url, http_client=client_http, max_sse_event_size=None)
            with portal.wrap_async_context_manager(Client(transport, **options)) as client:
                yield Session(portal, client)
