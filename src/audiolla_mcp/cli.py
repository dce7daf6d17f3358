"""Command line: `audiolla-mcp [serve] [--http] …`, `audiolla-mcp tools`, `audiolla-mcp models …`.

Every flag has an `AUDIOLLA_<FLAG>` environment equivalent (dashes become underscores). Logs go
to stderr; in stdio mode stdout carries only the MCP protocol.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict
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
    ("--engine-ttl", float, "seconds an idle model stays loaded before it is unloaded (default 600)"),
    ("--device", str, "where models run: auto (CUDA when present), cpu, cuda or cuda:N (default auto)"),
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
    from .errors import ToolError

    try:
        entries = catalog.select(settings.toolsets)
    except ToolError as exc:  # unknown toolset
        print(f"audiolla-mcp: {exc}", file=sys.stderr)
        return 2
    width = max((len(e.name) for e in entries), default=0)
    for entry in entries:
        print(f"{entry.name:<{width}}  [{entry.category}] {entry.title}: {entry.description.split('. ')[0].rstrip('.')}.")
    print(f"{len(entries)} tools (toolsets: {','.join(settings.toolsets)})", file=sys.stderr)
    return 0



# ---------------------------------------------------------------------------------------------
# audiolla-mcp models …: models.py does the work and returns data; this prints it
# ---------------------------------------------------------------------------------------------

class _Bar:
    """A one-line download progress bar on stderr."""

    def __init__(self) -> None:
        self.label = ""

    def __call__(self, done: float, total: float, message: str | None = None) -> None:
        if message != self.label and self.label:
            sys.stderr.write("\n")
        self.label = message or ""
        frac = done / total if total else 0.0
        filled = int(30 * frac)
        sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] "
                         f"{frac:6.1%} {done / 1e6:8.1f}/{total / 1e6:.1f} MB")
        sys.stderr.flush()

    def close(self) -> None:
        if self.label:
            sys.stderr.write("\n")


def _models_parser() -> argparse.ArgumentParser:
    from .models import FAMILIES, models_dir

    parser = argparse.ArgumentParser(prog="audiolla-mcp models",
                                     description="Manage the model cache " + str(models_dir()))
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="known models and whether they are installed")
    listing.add_argument("--family", choices=FAMILIES)
    listing.add_argument("--json", action="store_true")
    sub.add_parser("pull", help="download and verify a model").add_argument("name")
    sub.add_parser("verify", help="check sizes and checksums").add_argument("name", nargs="?")
    add = sub.add_parser("add", help="register weights you already have")
    add.add_argument("name")
    add.add_argument("path")
    add.add_argument("--family", choices=FAMILIES)
    add.add_argument("--link", action="store_true", help="symlink instead of copying")
    add.add_argument("--stems", help="comma-separated stem names the model outputs")
    sub.add_parser("rm", help="delete a model from the cache").add_argument("name")
    return parser


def models_main(argv: list[str]) -> int:
    from .errors import ToolError

    args = _models_parser().parse_args(argv)
    command = {"list": _models_list, "pull": _models_pull, "verify": _models_verify,
               "add": _models_add, "rm": _models_rm}[args.command]
    try:
        return command(args)
    except ToolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _models_list(args: argparse.Namespace) -> int:
    from .models import list_models

    infos = list_models(args.family)
    if args.json:
        print(json.dumps([asdict(i) for i in infos], indent=2))
        return 0
    for info in infos:
        mark = "installed" if info.installed else "-"
        print(f"{info.name:24} {info.family:10} {info.size_mb:>6} MB  {mark:9}  {info.summary}")
    return 0


def _models_pull(args: argparse.Namespace) -> int:
    from .models import pull, verify

    bar = _Bar()
    try:
        folder = pull(args.name, progress=bar)
    finally:
        bar.close()
    report = verify(args.name)
    print(f"{args.name}: {'ok' if report.ok else 'FAILED'} in {folder}")
    return 0 if report.ok else 1


def _models_verify(args: argparse.Namespace) -> int:
    from .models import list_models, verify

    names = [args.name] if args.name else [m.name for m in list_models() if m.installed]
    ok = True
    for name in names:
        report = verify(name)
        ok &= report.ok
        print(f"{name}: {'ok' if report.ok else 'FAILED'}")
        for check in report.files:
            print(f"  {'ok ' if check.ok else 'BAD'} {check.name}: {check.detail}")
    return 0 if ok else 1


def _models_add(args: argparse.Namespace) -> int:
    from .models import add

    stems = tuple(s.strip() for s in args.stems.split(",") if s.strip()) if args.stems else ()
    info = add(args.name, args.path, args.family, args.link, stems)
    print(f"{info.name}: added as a {info.family} model in {info.path}")
    return 0


def _models_rm(args: argparse.Namespace) -> int:
    from .models import remove

    removed = remove(args.name)
    print(f"{args.name}: removed {len(removed)} path(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
