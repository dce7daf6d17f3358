"""What every tool shares: parameter types, result models, and the one way to run a tool.

A tool body is a `work(run) -> Reply` function: `run.load(...)` resolves the input audio,
an op does the work with `run.progress` / `run.cancel`, `run.save_audio(...)` writes the output
atomically, and the `Reply` carries the typed result plus a one-line summary. `execute()` runs
that body in a worker thread (or as a background job), forwards progress, removes every file the
body wrote if it fails or is cancelled, and builds the MCP result: a text summary, structured
content, and inline audio or images when asked and small enough.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import weakref
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp_types import (
    AudioContent,
    CallToolResult,
    ContentBlock,
    ImageContent,
    TextContent,
)
from pydantic import BaseModel, Field
from pydantic_core import to_jsonable_python

from .. import audio_io
from ..engines.process import engine_process
from ..errors import ToolError
from ..jobs import run_in_worker
from ..progress import NEVER, CancelToken, ProgressFn, no_progress
from ..workspace import megabytes, mime_type

if TYPE_CHECKING:
    from ..server import App

log = logging.getLogger(__name__)

# -- parameter types ---------------------------------------------------------------------------

InputArg = Annotated[
    str | None,
    Field(
        description="Input audio: a workspace path such as 'song.wav' or 'stems/song.vocals.wav', or a "
        "workspace:// URI. Give this or input_base64."
    ),
]
InputBase64Arg = Annotated[
    str | None,
    Field(description="A small clip sent inline as base64 instead of `input` (max 10 MB decoded by default)."),
]
InputFormatArg = Annotated[
    str | None,
    Field(description="Container of input_base64, e.g. 'wav', 'mp3', 'flac'; guessed from the data when omitted."),
]
OutputArg = Annotated[
    str | None,
    Field(
        description="Workspace path for the result, e.g. 'out/song-master.wav'. Omit to derive a name from "
        "the input; an existing file is never replaced unless overwrite=true."
    ),
]
OverwriteArg = Annotated[bool, Field(description="Replace `output` if it already exists.")]
FormatArg = Annotated[
    audio_io.Format | None,
    Field(description="Output format; default: the output's extension, else the input's format, else wav."),
]
BitDepthArg = Annotated[
    Literal[16, 24, 32] | None,
    Field(description="PCM bit depth for wav/flac/aiff (32 = 32-bit float, wav/aiff only). Default 24."),
]
BitrateArg = Annotated[
    int | None,
    Field(ge=32, le=512, description="Bitrate in kbit/s for mp3/ogg/opus/m4a (defaults: mp3 192, opus 128, m4a 192)."),
]
InlineArg = Annotated[
    bool,
    Field(description="Also return the result audio inline (AudioContent) when it is under the inline size cap (1 MB)."),
]
BackgroundArg = Annotated[
    bool,
    Field(
        description="Run as a background job and return a job_id at once; poll job_status, fetch job_result. "
        "Use for long inputs: clients stop waiting after about 60 s."
    ),
]

WebhookArg = Annotated[
    str | None,
    Field(
        description="With background=true: a URL the server POSTs the finished job record to, signed with "
        "X-Audiolla-Signature: sha256=<HMAC of the body>. Only URLs the operator's remote-URL policy allows."
    ),
]

# -- result models -----------------------------------------------------------------------------


class AudioOutput(BaseModel):
    path: str = Field(description="Workspace path of the written file.")
    uri: str = Field(description="workspace:// URI of the file (readable as an MCP resource).")
    duration_s: float
    sample_rate: int
    channels: int
    format: str
    bytes: int


class FileOutput(BaseModel):
    path: str
    uri: str
    bytes: int
    mime_type: str


class Backgroundable(BaseModel):
    """Base of results for tools that accept background=true."""

    job_id: str | None = Field(
        default=None, description="Set only when background=true: the job to poll with job_status / job_result."
    )


@dataclass
class Reply:
    """What a tool body returns: the typed result, a sentence for humans, optional media."""

    result: BaseModel
    summary: str
    inline_audio: list[Path] = field(default_factory=list)
    images: list[bytes] = field(default_factory=list)


# -- the per-call context a tool body sees -----------------------------------------------------

_APPS: weakref.WeakKeyDictionary[Any, App] = weakref.WeakKeyDictionary()


def bind_app(server: Any, app: App) -> None:
    _APPS[server] = app


def app_of(ctx: Context) -> App:
    return _APPS[ctx.mcp_server]


class Run:
    """Inputs, outputs, progress and cancellation for one tool call or job."""

    def __init__(self, app: App, progress: ProgressFn = no_progress, cancel: CancelToken = NEVER):
        self.app = app
        self.workspace = app.workspace
        self.settings = app.settings
        self.progress = progress
        self.cancel = cancel
        self.written: list[Path] = []
        self._created: list[Path] = []  # written where nothing was before: removed if the run fails

    def path(self, path: str, what: str = "input") -> Path:
        return self.workspace.file(path, what=what)

    def load(
        self,
        input: str | None,
        input_base64: str | None = None,
        input_format: str | None = None,
        *,
        what: str = "input",
    ) -> audio_io.Audio:
        """Decode the input audio from the workspace or from inline base64."""
        if input and input_base64:
            raise ToolError(f"Give either {what} or {what}_base64, not both.")
        if input_base64:
            return audio_io.decode_bytes(self.b64decode(input_base64), input_format, max_duration_s=self.settings.max_duration_s)
        if not input:
            raise ToolError(f"No {what} given: pass a workspace path (see list_files) or {what}_base64.")
        return audio_io.decode(self.path(input, what), max_duration_s=self.settings.max_duration_s)

    def b64decode(self, data: str) -> bytes:
        cap = self.settings.max_base64_bytes
        if len(data) > cap * 4 // 3 + 8:
            raise ToolError(
                f"The base64 upload is over the {megabytes(cap)} cap; place the file in the workspace "
                "(copy it into the workspace folder) and pass its path instead."
            )
        try:
            raw = base64.b64decode(data.split(",", 1)[-1] if data.startswith("data:") else data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ToolError("input_base64 is not valid base64.") from exc
        if len(raw) > cap:
            raise ToolError(f"The base64 upload decodes to {megabytes(len(raw))}, over the {megabytes(cap)} cap.")
        return raw

    def output(self, output: str | None, default: str, *, overwrite: bool = False) -> Path:
        return self.workspace.output_path(output, default=default, overwrite=overwrite)

    def save_audio(
        self,
        samples: Any,
        sr: int,
        *,
        output: str | None,
        default: str,
        format: str | None = None,
        overwrite: bool = False,
        bit_depth: int | None = None,
        bitrate_kbps: int | None = None,
    ) -> AudioOutput:
        """Encode and write atomically. `default` is a derived name like 'song.trim.wav'."""
        default_fmt = audio_io.format_for(Path(default), None) if Path(default).suffix else "wav"
        if output is None and format is not None:
            default = str(Path(default).with_suffix("." + format))
        target = self.output(output, default, overwrite=overwrite)
        fmt = audio_io.format_for(target, format if format else (None if target.suffix else default_fmt))
        if not target.suffix:
            target = target.with_suffix("." + fmt)
        self.cancel.check()
        with self._recording(target), self.workspace.atomic(target) as tmp:
            audio_io.encode(samples, sr, tmp, fmt, bit_depth=bit_depth, bitrate_kbps=bitrate_kbps)
        frames = int(samples.shape[-1])
        channels = int(samples.shape[0]) if getattr(samples, "ndim", 1) > 1 else 1
        return AudioOutput(
            path=self.workspace.rel(target),
            uri=self.workspace.uri(target),
            duration_s=round(frames / sr, 6),
            sample_rate=int(sr),
            channels=channels,
            format=fmt,
            bytes=target.stat().st_size,
        )

    def save_bytes(self, data: bytes, *, output: str | None, default: str, overwrite: bool = False) -> FileOutput:
        return self.save_file(lambda tmp: tmp.write_bytes(data), output=output, default=default, overwrite=overwrite)

    def save_file(
        self, write: Callable[[Path], object], *, output: str | None, default: str, overwrite: bool = False
    ) -> FileOutput:
        """Let `write` fill a temp file beside the target (ffmpeg, mutagen…), then move it into place."""
        target = self.output(output, default, overwrite=overwrite)
        with self._recording(target), self.workspace.atomic(target) as tmp:
            write(tmp)
        return self.file_output(target)

    @contextlib.contextmanager
    def _recording(self, target: Path) -> Iterator[None]:
        existed = target.exists()
        yield
        self.written.append(target)
        if not existed:
            self._created.append(target)

    def file_output(self, target: Path) -> FileOutput:
        return FileOutput(
            path=self.workspace.rel(target),
            uri=self.workspace.uri(target),
            bytes=target.stat().st_size,
            mime_type=mime_type(target),
        )

    def discard(self) -> None:
        """Remove the files this run created (after a failure or a cancel). A file it replaced
        (overwrite=true) keeps its new content: the old one is gone either way."""
        for path in self._created:
            path.unlink(missing_ok=True)
        self._created.clear()


def derived(name: str, tag: str, ext: str = "wav", folder: str | None = None) -> str:
    """Derived output name: ('song', 'trim') -> 'song.trim.wav'."""
    stem = Path(name).stem if "." in name else name
    file = f"{stem}.{tag}.{ext}" if tag else f"{stem}.{ext}"
    return f"{folder}/{file}" if folder else file


def source_ext(input: str | None, default: str = "wav") -> str:
    """The input's format if we can write it, else `default`."""
    if input:
        ext = Path(input.split("://")[-1]).suffix.lower().lstrip(".")
        ext = {"aif": "aiff", "oga": "ogg"}.get(ext, ext)
        if ext in audio_io.FORMATS:
            return ext
    return default


# -- writing a tool's audio result ------------------------------------------------------------


def peak_field() -> object:
    return Field(
        default=None,
        description="Sample peak of the result in dBFS; above 0 it was clipped when written as PCM "
        "(lower the gain or write bit_depth 32).",
    )


@dataclass(frozen=True)
class Destination:
    """Where and how a tool writes its audio: the output arguments every audio-writing tool shares."""

    output: str | None
    format: str | None
    overwrite: bool
    bit_depth: int | None = None
    bitrate_kbps: int | None = None

    def save(self, run: Run, samples, sr: int, source_name: str, tag: str, input: str | None,
             folder: str | None = None) -> AudioOutput:
        return run.save_audio(
            samples, sr, output=self.output, default=derived(source_name, tag, source_ext(input), folder=folder),
            format=self.format, overwrite=self.overwrite, bit_depth=self.bit_depth, bitrate_kbps=self.bitrate_kbps,
        )


def peak_and_warning(samples, out: AudioOutput) -> tuple[float | None, str]:
    """The result's sample peak and, when a PCM file clipped, a sentence for the summary."""
    from ..ops.dsp import sample_peak_dbfs

    peak = sample_peak_dbfs(samples)
    if peak is not None and peak > 0 and out.format in ("wav", "flac", "aiff"):
        return peak, f" Peaks reached {peak:+.1f} dBFS and were clipped; lower the gain or use bit_depth 32."
    return peak, ""


# -- running a tool body -----------------------------------------------------------------------


CURRENT_CALL: ContextVar[tuple[str, dict[str, Any]]] = ContextVar("audiolla_current_call", default=("tool", {}))
"""The tool name and arguments of the call being served (set by the server's tool wrapper)."""


async def execute(
    ctx: Context,
    work: Callable[[Run], Reply],
    *,
    inline: bool = False,
    background: bool = False,
    result_type: type[Backgroundable] | None = None,
    webhook_url: str | None = None,
) -> CallToolResult:
    """Run a tool body with progress and cancellation, inline or as a background job.

    A background job with a `webhook_url` POSTs its record there when it finishes."""
    app = app_of(ctx)
    name, arguments = CURRENT_CALL.get()
    _check_outputs(app, arguments)
    if webhook_url and not background:
        raise ToolError("webhook_url is used only with background=true; add background=true or drop webhook_url.")
    if background:
        if result_type is None:
            raise ToolError("This tool does not run in the background; call it without background=true.")
        record = app.jobs.submit(
            name, _loggable(arguments), lambda p, c: _run_job(app, work, p, c), on_finish=_webhook(app, webhook_url)
        )
        summary = (
            f"Started background job {record.id}; poll job_status(job_id='{record.id}') and fetch "
            "job_result when it has succeeded."
        )
        return reply_result(app, Reply(result=result_type(job_id=record.id), summary=summary))

    wrote: list[Path] = []

    def body(progress: ProgressFn, cancel: CancelToken) -> Reply:
        run = Run(app, progress, cancel)
        reply = _guarded(run, work)
        wrote.extend(run.written)
        return reply

    async def report(done: float, total: float, message: str | None) -> None:
        await ctx.report_progress(done, total, message)

    reply = await run_in_worker(body, report)
    if wrote:
        record_written(wrote)
        await notify_files_changed(ctx)
    return reply_result(app, reply, inline=inline)


OUTPUT_ARGUMENTS = ("output", "midi_output", "folder", "output_names")
"""Arguments that name where results go (HOWTO's conventions); `output_names` maps names to paths."""


def _check_outputs(app: App, arguments: dict[str, Any]) -> None:
    """Refuse an output path that leaves the workspace before the work starts, not after it."""
    for name in OUTPUT_ARGUMENTS:
        value = arguments.get(name)
        for path in value.values() if isinstance(value, dict) else [value]:
            if isinstance(path, str) and path:
                app.workspace.resolve(path, must_exist=False, what=name)


WRITTEN: ContextVar[list[Path] | None] = ContextVar("audiolla_written", default=None)
"""Set by a caller that runs tools for itself (the pipeline runner) to learn which files they wrote."""


def record_written(paths: list[Path]) -> None:
    collector = WRITTEN.get()
    if collector is not None:
        collector.extend(paths)


def _webhook(app: App, url: str | None) -> Callable[[Any], None] | None:
    """The job's on_finish hook for a webhook URL, checked against the policy now."""
    if not url:
        return None
    from ..webhooks import WebhookNotifier

    notifier = WebhookNotifier.from_settings(app.settings)
    notifier.check(url)
    return lambda record: notifier.notify(url, record)


def _guarded(run: Run, work: Callable[[Run], Reply]) -> Reply:
    """Run the body; on any failure or a late cancel, remove what it wrote."""
    try:
        with engine_process(run.settings.engine_process):
            reply = work(run)
        run.cancel.check()
        return reply
    except BaseException:
        run.discard()
        raise


def _run_job(app: App, work: Callable[[Run], Reply], progress: ProgressFn, cancel: CancelToken) -> tuple[dict, str]:
    reply = _guarded(Run(app, progress, cancel), work)
    return reply.result.model_dump(mode="json"), reply.summary


def _loggable(arguments: dict[str, Any]) -> dict[str, Any]:
    """Arguments as stored in a job record: inline uploads replaced by their size."""
    return {
        key: (
            f"<{len(value)} base64 chars>"
            if key.endswith("base64") and isinstance(value, str)
            else to_jsonable_python(value, fallback=str)
        )
        for key, value in arguments.items()
    }


async def notify_files_changed(ctx: Context) -> None:
    """Tell clients the workspace listing changed, on both protocol eras."""
    try:
        await ctx.notify_resources_changed()
        await ctx.session.send_resource_list_changed()
    except Exception:  # a client that has gone away must not fail the call that changed the files
        log.debug("could not notify the client that the workspace changed", exc_info=True)


def reply_result(app: App, reply: Reply, *, inline: bool = False) -> CallToolResult:
    content: list[ContentBlock] = [TextContent(type="text", text=reply.summary)]
    cap = app.settings.inline_max_bytes
    if inline:
        for path in reply.inline_audio:
            size = path.stat().st_size
            if size <= cap:
                data = base64.b64encode(path.read_bytes()).decode()
                content.append(AudioContent(type="audio", data=data, mime_type=mime_type(path)))
            else:
                content.append(
                    TextContent(
                        type="text",
                        text=f"{path.name} is {size / 1e6:.1f} MB, over the {cap / 1e6:.1f} MB inline cap; read "
                        f"workspace://{app.workspace.rel(path)} instead.",
                    )
                )
    for png in reply.images:
        content.append(ImageContent(type="image", data=base64.b64encode(png).decode(), mime_type="image/png"))
    return CallToolResult(content=content, structured_content=reply.result.model_dump(mode="json"))
