"""Workspace file tools, for clients without resource support, and `audio_info`."""

from __future__ import annotations

import base64
from typing import Annotated

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from .. import audio_io
from . import tool
from .common import (
    FileOutput,
    InputArg,
    OverwriteArg,
    Reply,
    Run,
    app_of,
    execute,
    notify_files_changed,
    reply_result,
)

PathArg = Annotated[str, Field(description="Workspace path or workspace:// URI of the file.")]


class FileList(BaseModel):
    files: list[FileOutput]
    count: int
    truncated: bool = Field(description="True when more files matched than `limit`.")


class FileData(FileOutput):
    data_base64: str


class Moved(BaseModel):
    source: str
    destination: FileOutput


class Deleted(BaseModel):
    deleted: str


class AudioInfoResult(BaseModel):
    path: str
    uri: str
    duration_s: float
    sample_rate: int
    channels: int
    frames: int
    codec: str
    container: str
    bit_depth: int | None
    bitrate_kbps: float | None
    bytes: int


@tool
async def list_files(
    ctx: Context,
    prefix: Annotated[str | None, Field(description="Only list inside this folder, e.g. 'stems'.")] = None,
    pattern: Annotated[str | None, Field(description="Glob on the path or file name, e.g. '*.wav'.")] = None,
    limit: Annotated[int, Field(ge=1, le=5000, description="Maximum number of files to return.")] = 500,
) -> Annotated[CallToolResult, FileList]:
    app = app_of(ctx)
    entries = app.workspace.list(prefix, pattern)
    files = [FileOutput(path=e.path, uri=e.uri, bytes=e.bytes, mime_type=e.mime_type) for e in entries[:limit]]
    result = FileList(files=files, count=len(entries), truncated=len(entries) > limit)
    where = f" under {prefix!r}" if prefix else ""
    summary = f"{len(entries)} file(s){where}" + (f" matching {pattern!r}" if pattern else "") + "."
    if files:
        summary += " " + ", ".join(f.path for f in files[:20]) + (" …" if len(files) > 20 else "")
    return reply_result(app, Reply(result=result, summary=summary))


@tool
async def put_file(
    ctx: Context,
    path: PathArg,
    data_base64: Annotated[str, Field(description="The file's bytes, base64-encoded.")],
    overwrite: OverwriteArg = False,
) -> Annotated[CallToolResult, FileOutput]:
    app = app_of(ctx)
    run = Run(app)
    out = run.save_bytes(run.b64decode(data_base64), output=path, default=path, overwrite=overwrite)
    await notify_files_changed(ctx)
    return reply_result(app, Reply(result=out, summary=f"Stored {out.path} ({out.bytes} bytes)."))


@tool
async def get_file(ctx: Context, path: PathArg) -> Annotated[CallToolResult, FileData]:
    app = app_of(ctx)
    run = Run(app)
    target = run.path(path, "path")
    size = target.stat().st_size
    cap = app.settings.inline_max_bytes
    if size > cap:
        from ..errors import ToolError

        raise ToolError(
            f"{path!r} is {size / 1e6:.1f} MB, over the {cap / 1e6:.1f} MB download cap; read its workspace:// "
            "resource instead, or make a smaller file (trim, convert to mp3)."
        )
    info = run.file_output(target)
    result = FileData(**info.model_dump(), data_base64=base64.b64encode(target.read_bytes()).decode())
    return reply_result(app, Reply(result=result, summary=f"{info.path}: {size} bytes, {info.mime_type}."))


@tool
async def delete_file(ctx: Context, path: PathArg) -> Annotated[CallToolResult, Deleted]:
    app = app_of(ctx)
    rel = app.workspace.delete(path)
    await notify_files_changed(ctx)
    return reply_result(app, Reply(result=Deleted(deleted=rel), summary=f"Deleted {rel}."))


@tool
async def move_file(
    ctx: Context,
    source: Annotated[str, Field(description="Existing workspace file to move.")],
    destination: Annotated[str, Field(description="New workspace path.")],
    overwrite: OverwriteArg = False,
) -> Annotated[CallToolResult, Moved]:
    app = app_of(ctx)
    src, dst = app.workspace.move(source, destination, overwrite=overwrite)
    out = Run(app).file_output(app.workspace.file(dst))
    await notify_files_changed(ctx)
    return reply_result(app, Reply(result=Moved(source=src, destination=out), summary=f"Moved {src} to {dst}."))


@tool
async def audio_info(ctx: Context, input: InputArg) -> Annotated[CallToolResult, AudioInfoResult]:
    def work(run: Run) -> Reply:
        path = run.path(input or "")
        info = audio_io.probe(path)
        result = AudioInfoResult(path=run.workspace.rel(path), uri=run.workspace.uri(path), **info.__dict__)
        depth = f", {info.bit_depth}-bit" if info.bit_depth else ""
        summary = (
            f"{result.path}: {info.duration_s:.2f} s, {info.sample_rate} Hz, {info.channels} ch, "
            f"{info.codec}{depth}, {info.bytes / 1e6:.2f} MB."
        )
        return Reply(result=result, summary=summary)

    return await execute(ctx, work)
