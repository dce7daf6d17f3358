"""Serve the server over stdio or streamable HTTP.

HTTP adds what a network listener needs: a bearer token (constant-time compare) when one is
configured, DNS-rebinding protection with configurable allowed hosts and origins, a request-size
cap, and an unauthenticated `/healthz`. It binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from . import __version__
from .config import Settings

log = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


def run_stdio(server: MCPServer) -> None:
    anyio.run(server.run_stdio_async)


def security_settings(settings: Settings) -> TransportSecuritySettings:
    """Host/Origin checks: loopback names on the bound port, plus whatever the operator allows."""
    hosts = [f"{h}:*" for h in LOOPBACK] + [*LOOPBACK]
    origins = [f"http://{h}:*" for h in LOOPBACK]
    if settings.host not in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "::"):
        hosts += [settings.host, f"{settings.host}:*"]
        origins += [f"http://{settings.host}:*", f"https://{settings.host}:*"]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=settings.dns_rebinding_protection,
        allowed_hosts=hosts + settings.allowed_hosts,
        allowed_origins=origins + settings.allowed_origins,
    )


class BearerToken:
    """Refuse every request without `Authorization: Bearer <token>`, except the health check."""

    def __init__(self, app: ASGIApp, token: str, open_paths: tuple[str, ...] = ("/healthz",)):
        self.app = app
        self.token = token.encode()
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.open_paths:
            await self.app(scope, receive, send)
            return
        header = dict(scope.get("headers") or []).get(b"authorization", b"")
        scheme, _, supplied = header.partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(supplied.strip(), self.token):
            response = JSONResponse(
                {"error": "unauthorized", "error_description": "Send 'Authorization: Bearer <token>'."},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="audiolla-mcp"'},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def http_app(server: MCPServer, settings: Settings) -> Any:
    @server.custom_route("/healthz", methods=["GET"])
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__})

    app = server.streamable_http_app(
        streamable_http_path="/mcp",
        max_request_body_size=settings.max_request_bytes,
        transport_security=security_settings(settings),
        host=settings.host,
    )
    if settings.token:
        return BearerToken(app, settings.token)
    return app


def run_http(server: MCPServer, settings: Settings) -> None:
    import uvicorn

    if not settings.token and settings.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("serving on %s without a token: anyone who can reach the port can use the server", settings.host)
    config = uvicorn.Config(
        http_app(server, settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=None,
    )
    log.info("audiolla-mcp %s on http://%s:%d/mcp", __version__, settings.host, settings.port)
    anyio.run(uvicorn.Server(config).serve)
