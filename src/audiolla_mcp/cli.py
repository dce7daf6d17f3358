"""Command line: `audiolla-mcp [serve] [--http] …`, `audiolla-mcp tools`, `audiolla-mcp models …`.

Every flag has an `AUDIOLLA_<FLAG>` environment equivalent (dashes become underscores). Logs go
to stderr; in stdio mode stdout carries only the MCP protocol.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .config import Settings

SERVE_FLAGS = (
    ("--workspace", Path, "workspace folder (default ./workspace)"),
    ("--toolsets", str, "comma-separated toolsets to expose, e.g. 'default,midi' or 'all'"),
    ("--host", str, "HTTP bind address (default 127.0.0.1)"),
    ("--port", int, "HTTP port (default 8765)"),
    ("--token", str, "HTTP bearer token; when set, every MCP request must carry it"),
    ("--allowed-hosts", str, "extra Host header values accepted over HTTP (comma-separated, 'name:*' for any port)"),
    ("--allowed-origins", str, "extra Origin values accepted over HTTP (comma-separated)"),
    ("--max-request-mb", float, "largest HTTP request body (default 16)"),
    ("--max-base64-mb", float, "largest inline upload, decoded (default 10)"),
    ("--inline-max-mb", float, "largest audio returned inline (default 1)"),
    ("--max-file-mb", float, "largest file a tool may write (default 2048)"),
    ("--max-duration-s", float, "longest input a tool will decode (default 14400)"),
    ("--quota-mb", float, "workspace size quota (default none)"),
    ("--max-jobs", int, "background jobs running at once (default 2)"),
    ("--models-dir", Path, "model cache folder"),
    ("--log-level", str, "DEBUG, INFO, WARNING or ERROR"),
    ("--presets-dir", Path, "folder of your own workflow presets (*.yaml), besides the built-in ones"),
    ("--remote-allowlist", str, "hosts remote URLs (webhooks) may reach, comma-separated: 'hooks.example.com,*.example.org' or '*'; empty = remote URLs off"),
    ("--remote-schemes", str, "URL schemes allowed for remote URLs (default https; add http to opt in)"),
    ("--remote-max-mb", float, "largest remote response (default 50)"),
    ("--remote-timeout-s", float, "time limit of one remote request, redirects included (default 30)"),
    ("--webhook-secret", str, "HMAC-SHA256 key that signs webhook deliveries (X-Audiolla-Signature)"),
)


def _add_serve_flags(parser: argparse.ArgumentParser) -> None:
    for flag, kind, help_text in SERVE_FLAGS:
        env = "AUDIOLLA_" + flag[2:].replace("-", "_").upper()
        parser.add_argument(flag, type=kind, default=None, help=f"{help_text} [{env}]")


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    for flag, _, _ in SERVE_FLAGS:
        name = flag[2:].replace("-", "_")
        value = getattr(args, name, None)
        if isinstance(value, str) and name in ("toolsets", "allowed_hosts", "allowed_origins", "remote_allowlist", "remote_schemes"):
            value = [v.strip() for v in value.split(",") if v.strip()]
        overrides[name] = value
    return Settings.from_env(**overrides)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="audiolla-mcp", description="A local audio studio as an MCP server.")
    _add_serve_flags(parser)
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the server (stdio by default)")
    serve.add_argument("--http", action="store_true", help="serve streamable HTTP at /mcp instead of stdio [AUDIOLLA_HTTP]")
    _add_serve_flags(serve)
    tools = sub.add_parser("tools", help="list the tools a server with these settings exposes")
    _add_serve_flags(tools)
    sub.add_parser("models", help="list, pull, verify, add or remove models", add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["models"]:
        from .models import models_main

        return models_main(argv[1:])
    args = _parser().parse_args(argv)
    settings = _settings(args)
    logging.basicConfig(
        stream=sys.stderr, level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.command == "tools":
        return _print_tools(settings)

    from .errors import ToolError
    from .server import build_server
    from .transport import run_http, run_stdio

    try:
        server = build_server(settings)
    except ToolError as exc:
        print(f"audiolla-mcp: {exc}", file=sys.stderr)
        return 2
    http = getattr(args, "http", False) or _env_flag("HTTP")
    try:
        if http:
            run_http(server, settings)
        else:
            run_stdio(server)
    except KeyboardInterrupt:
        pass
    return 0


def _env_flag(name: str) -> bool:
    import os

    return os.environ.get(f"AUDIOLLA_{name}", "").lower() in ("1", "true", "yes", "on")


def _print_tools(settings: Settings) -> int:
    from . import catalog

    try:
        entries = catalog.select(settings.toolsets)
    except Exception as exc:  # unknown toolset
        print(f"audiolla-mcp: {exc}", file=sys.stderr)
        return 2
    width = max((len(e.name) for e in entries), default=0)
    for entry in entries:
        print(f"{entry.name:<{width}}  [{entry.category}] {entry.title}: {entry.description.split('. ')[0].rstrip('.')}.")
    print(f"{len(entries)} tools (toolsets: {','.join(settings.toolsets)})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
