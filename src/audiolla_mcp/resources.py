"""MCP resources: the workspace files (`workspace://{+path}`), the catalog and the jobs.

The workspace listing is dynamic (it is whatever is in the folder now), and each file is read as
bytes with its own MIME type, so `resources/list` and `resources/read` for `workspace://` are
served here; the other resources go through the SDK's resource manager.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    BlobResourceContents,
    ListResourcesResult,
    PaginatedRequestParams,
    ReadResourceRequestParams,
    ReadResourceResult,
    Resource,
)

from . import catalog, presets
from .errors import ToolError
from .workspace import URI_SCHEME, mime_type

if TYPE_CHECKING:
    from .server import App

PAGE_SIZE = 500


def register(server: MCPServer, app: App) -> None:
    @server.resource(
        "workspace://{+path}",
        name="workspace-file",
        title="Workspace file",
        description="Any file in the workspace, read as bytes with its own MIME type.",
        mime_type="application/octet-stream",
    )
    def workspace_file(path: str) -> bytes:
        # Reads are answered by read_resource below (per-file MIME); this registers the template.
        return base64.b64decode(_read_workspace_file(app, URI_SCHEME + path).blob)

    @server.resource(
        "audiolla://catalog",
        name="catalog",
        title="Tool catalog",
        description="Every tool by toolset with its one-line description and whether it is exposed.",
        mime_type="application/json",
    )
    def catalog_resource() -> str:
        exposed = set(app.settings.toolsets)
        entries = catalog.load_catalog()
        return json.dumps(
            {
                "toolsets_exposed": sorted(exposed),
                "toolsets": {
                    name: [
                        {"name": e.name, "title": e.title, "status": e.status, "description": e.description}
                        for e in entries
                        if e.in_toolsets([name])
                    ]
                    for name in catalog.toolset_names(entries)
                    if name != "all"
                },
            },
            indent=1,
        )

    @server.resource(
        "audiolla://jobs/{job_id}",
        name="job",
        title="Background job",
        description="The record of a background job: status, progress, result or error.",
        mime_type="application/json",
    )
    def job_resource(job_id: str) -> str:
        try:
            return json.dumps(app.jobs.get(job_id).public(), indent=1)
        except ToolError as exc:
            raise MCPError(code=INVALID_PARAMS, message=str(exc)) from None

    presets.register_resources(server, app)

    lowlevel = server._lowlevel_server
    sdk_read = lowlevel.get_request_handler("resources/read")
    sdk_list = lowlevel.get_request_handler("resources/list")
    assert sdk_read is not None and sdk_list is not None

    async def list_resources(ctx: Any, params: PaginatedRequestParams) -> ListResourcesResult:
        static = (await sdk_list.handler(ctx, params)).resources
        files = [
            Resource(uri=f.uri, name=f.path, mime_type=f.mime_type, size=f.bytes)
            for f in app.workspace.list()
        ]
        everything = static + files
        start = int(params.cursor or 0) if (params.cursor or "0").isdigit() else 0
        page = everything[start : start + PAGE_SIZE]
        more = start + PAGE_SIZE < len(everything)
        return ListResourcesResult(resources=page, next_cursor=str(start + PAGE_SIZE) if more else None)

    async def read_resource(ctx: Any, params: ReadResourceRequestParams) -> Any:
        uri = str(params.uri)
        if not uri.lower().startswith(URI_SCHEME):
            return await sdk_read.handler(ctx, params)
        return ReadResourceResult(contents=[_read_workspace_file(app, uri)])

    lowlevel.add_request_handler("resources/list", PaginatedRequestParams, list_resources)
    lowlevel.add_request_handler("resources/read", ReadResourceRequestParams, read_resource)


def _read_workspace_file(app: App, uri: str) -> BlobResourceContents:
    try:
        path = app.workspace.file(uri, what="resource")
    except ToolError as exc:
        raise MCPError(code=INVALID_PARAMS, message=str(exc), data={"uri": uri}) from None
    size = path.stat().st_size
    cap = app.settings.max_file_bytes
    if size > cap:
        raise MCPError(code=INVALID_PARAMS, message=f"{uri} is {size / 1e6:.0f} MB, over the {cap / 1e6:.0f} MB read cap.")
    return BlobResourceContents(
        uri=uri, blob=base64.b64encode(path.read_bytes()).decode(), mime_type=mime_type(path)
    )
