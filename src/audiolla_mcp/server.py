"""Build the one MCP server object from the catalog, and serve it over stdio or streamable HTTP."""

from __future__ import annotations

import functools
import inspect
import logging
from dataclasses import dataclass
from typing import Any

from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError as MCPToolError
from mcp_types import CallToolRequestParams, CallToolResult, TextContent

from . import __version__, catalog, models, prompts, resources
from .arguments import argument_problem
from .config import Settings
from .engines.base import ENGINES, check_device
from .engines.process import ENGINE_PROCESS
from .errors import ToolError
from .jobs import JobManager
from .presets import Preset, load_presets
from .tools import load_all
from .tools.common import CURRENT_CALL, bind_app
from .workspace import Workspace

log = logging.getLogger(__name__)

INSTRUCTIONS = """\
audiolla is a local audio studio. All files live in one workspace folder on the user's machine.

Paths: every `input`, `output` and other file argument is a path relative to the workspace root
('song.wav', 'stems/song.vocals.wav') or a workspace:// URI; absolute paths and '..' are refused.
Call list_files to see what is there; small clips can also be sent as `input_base64`.

Outputs: tools that make audio write a new file and return its `path` and `uri` with duration,
sample rate and format. Without `output`, the name is derived from the input
('song.wav' -> 'song.trim.wav') and never replaces an existing file unless overwrite=true.
Read results as workspace:// resources or pass the returned path to the next tool.
Set inline=true to also get small results back as audio content.

Long work: separation and other heavy tools accept background=true and return a job_id at once;
poll job_status, then job_result. Clients stop waiting after about 60 s, so use background=true for
inputs longer than about 30 s. Progress notifications are sent while a call runs.

Numbers: loudness is in LUFS and dBTP (EBU R128); times are in seconds; gains in dB.
"""


@dataclass
class App:
    """Process-wide state shared by every tool call and every connection."""

    settings: Settings
    workspace: Workspace
    jobs: JobManager
    presets: dict[str, Preset]


def make_app(settings: Settings) -> App:
    check_device(settings.device)
    models.apply_settings(settings.models_dir, settings.auto_download, settings.device)
    ENGINES.set_ttl(settings.engine_ttl)
    ENGINE_PROCESS.set_ttl(settings.engine_ttl)
    presets = load_presets(settings.presets_dir)
    workspace = Workspace(
        settings.workspace,
        quota_bytes=int(settings.quota_mb * 1024 * 1024) if settings.quota_mb else None,
        max_file_bytes=settings.max_file_bytes,
    )
    jobs = JobManager(workspace.internal_dir / "jobs", max_workers=settings.max_jobs)
    return App(settings=settings, workspace=workspace, jobs=jobs, presets=presets)


def _translate_errors(name: str, fn: Any) -> Any:
    """Wrap a tool so domain errors become isError results and the call is known to `execute`."""

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        arguments = {k: v for k, v in kwargs.items() if k != "ctx"}
        token = CURRENT_CALL.set((name, arguments))
        try:
            return await fn(*args, **kwargs)
        except ToolError as exc:
            raise MCPToolError(str(exc)) from None
        finally:
            CURRENT_CALL.reset(token)

    return wrapper


def build_server(settings: Settings, app: App | None = None) -> MCPServer:
    """One server for both transports and both protocol eras."""
    app = app or make_app(settings)
    server = MCPServer(
        name="audiolla-mcp",
        title="audiolla — local audio studio",
        version=__version__,
        instructions=INSTRUCTIONS,
        log_level=settings.log_level.upper(),  # type: ignore[arg-type]
    )
    bind_app(server, app)
    implementations = load_all()
    for entry in catalog.select(settings.toolsets):
        fn = implementations.get(entry.name)
        if fn is None:
            raise RuntimeError(f"tools.yaml marks {entry.name!r} ready but no code defines it")
        if not inspect.iscoroutinefunction(fn):
            raise RuntimeError(f"tool {entry.name!r} must be async (heavy work goes through execute())")
        server.add_tool(
            _translate_errors(entry.name, fn),
            name=entry.name,
            title=entry.title,
            description=entry.description,
            annotations=entry.annotations(),
        )
    resources.register(server, app)
    prompts.register(server, app)
    _check_arguments(server)
    _advertise_list_changed(server)
    return server


def _check_arguments(server: MCPServer) -> None:
    """Every call's arguments go through `argument_problem` before the SDK sees them."""
    lowlevel = server._lowlevel_server
    sdk_call = lowlevel.get_request_handler("tools/call")
    assert sdk_call is not None

    async def call_tool(ctx: Any, params: CallToolRequestParams) -> Any:
        tool = server._tool_manager.get_tool(params.name)
        if tool is not None:
            problem = argument_problem(params.name, tool.parameters, tool.fn_metadata, params.arguments or {})
            if problem:
                return CallToolResult(content=[TextContent(type="text", text=problem)], is_error=True)
        return await sdk_call.handler(ctx, params)

    lowlevel.add_request_handler("tools/call", CallToolRequestParams, call_tool)


def _advertise_list_changed(server: MCPServer) -> None:
    """Handshake-era clients learn from the capabilities that resource lists change."""
    lowlevel = server._lowlevel_server
    original = lowlevel.create_initialization_options

    def options(notification_options: NotificationOptions | None = None, *args: Any, **kwargs: Any) -> Any:
        return original(notification_options or NotificationOptions(resources_changed=True), *args, **kwargs)

    lowlevel.create_initialization_options = options  # type: ignore[method-assign]
