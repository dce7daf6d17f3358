"""Model cache and engine management: what is installed, what is loaded, free memory."""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from . import tool
from .common import Reply, Run, app_of, execute, reply_result

Family = Literal["demucs", "uvr", "deepfilter", "silero", "pyannote", "ast", "clap"]


class EngineState(BaseModel):
    family: str
    model: str
    device: str
    state: str = Field(description="'in use', 'idle' or 'loading'.")
    users: int
    memory_mb: float = Field(description="Weights and buffers held by the model.")
    idle_s: float
    loaded_s: float
    process: Literal["server", "engine"] = Field(
        description="'engine': a torch model, held by the engine process (stopped when it holds none).")


class EnginesResult(BaseModel):
    engines: list[EngineState]
    process_rss_mb: float = Field(description="Resident memory of the server process.")
    engine_process_rss_mb: float = Field(description="Resident memory of the engine process; 0 when it is not running.")
    ttl_s: float = Field(description="Idle engines are unloaded after this many seconds.")


class ModelEntry(BaseModel):
    name: str
    family: str
    installed: bool
    size_mb: int
    summary: str
    stems: list[str]
    tasks: list[str]
    source: str
    licence: str
    origin: str = Field(description="'registry' (pull it), 'bundled' (ships with a package) or 'added' (local weights).")


class ModelsResult(BaseModel):
    models: list[ModelEntry]
    models_dir: str
    downloads_enabled: bool


class PullResult(BaseModel):
    name: str
    path: str
    ok: bool
    files: list[dict]


class UnloadResult(BaseModel):
    unloaded: list[str]
    process_rss_mb_before: float = Field(description="Resident memory of the server and its engine process together.")
    process_rss_mb_after: float


def _engines() -> EnginesResult:
    from ..engines.base import ENGINES, list_engines, process_rss_mb
    from ..engines.process import ENGINE_PROCESS

    engines = [EngineState(**vars(e), process="server") for e in list_engines()]
    engines += [EngineState(**vars(e), process="engine") for e in ENGINE_PROCESS.engines()]
    return EnginesResult(engines=engines, process_rss_mb=process_rss_mb(),
                         engine_process_rss_mb=ENGINE_PROCESS.rss_mb(), ttl_s=ENGINES.ttl)


def _total_rss_mb() -> float:
    from ..engines.base import process_rss_mb
    from ..engines.process import ENGINE_PROCESS

    return round(process_rss_mb() + ENGINE_PROCESS.rss_mb(), 1)


@tool
async def list_engines(ctx: Context) -> Annotated[CallToolResult, EnginesResult]:
    result = _engines()
    loaded = ", ".join(f"{e.family}/{e.model} ({e.state}, {e.memory_mb:.0f} MB)" for e in result.engines)
    summary = (f"{len(result.engines)} engine(s) loaded" + (f": {loaded}" if loaded else "")
               + f"; server RSS {result.process_rss_mb:.0f} MB"
               + (f", engine process {result.engine_process_rss_mb:.0f} MB." if result.engine_process_rss_mb else "."))
    return reply_result(app_of(ctx), Reply(result=result, summary=summary))


@tool
async def list_models(
    ctx: Context,
    family: Annotated[Family | None, Field(description="Only this model family.")] = None,
    installed_only: Annotated[bool, Field(description="Only models that are ready to use.")] = False,
) -> Annotated[CallToolResult, ModelsResult]:
    from .. import models

    entries = [ModelEntry(**{k: v for k, v in vars(m).items() if k != "path"})
               for m in models.list_models(family) if m.installed or not installed_only]
    result = ModelsResult(models=entries, models_dir=str(models.models_dir()),
                          downloads_enabled=models.downloads_enabled())
    ready = [m.name for m in entries if m.installed]
    summary = f"{len(entries)} model(s), {len(ready)} installed: {', '.join(ready) or 'none'}."
    return reply_result(app_of(ctx), Reply(result=result, summary=summary))


@tool
async def pull_model(
    ctx: Context,
    name: Annotated[str, Field(description="Model name from list_models, e.g. 'htdemucs'.")],
) -> Annotated[CallToolResult, PullResult]:
    def work(run: Run) -> Reply:
        from .. import models
        from ..errors import ToolError

        spec = models.spec(name)
        if not models.downloads_enabled() and not spec.bundled_in:
            raise ToolError(f"downloads are disabled on this server; run `audiolla-mcp models pull {name}` "
                            f"in a terminal ({spec.approx_mb} MB), or start the server with "
                            "AUDIOLLA_AUTO_DOWNLOAD=1")
        folder = models.pull(name, progress=run.progress, cancel=run.cancel)
        report = models.verify(name)
        result = PullResult(name=name, path=str(folder), ok=report.ok,
                            files=[vars(f) for f in report.files])
        state = "installed and verified" if report.ok else "downloaded but failed verification"
        return Reply(result=result, summary=f"{name} {state} in {folder}.")

    return await execute(ctx, work)


@tool
async def unload_engines(ctx: Context) -> Annotated[CallToolResult, UnloadResult]:
    from ..engines.base import release_memory, unload_all
    from ..engines.process import ENGINE_PROCESS

    before = _total_rss_mb()
    gone = unload_all() + ENGINE_PROCESS.unload_all()
    release_memory()  # results that passed through this process leave freed heap behind
    result = UnloadResult(unloaded=gone, process_rss_mb_before=before, process_rss_mb_after=_total_rss_mb())
    summary = (f"Unloaded {len(gone)} engine(s){': ' + ', '.join(gone) if gone else ''}; RSS "
               f"{before:.0f} → {result.process_rss_mb_after:.0f} MB.")
    return reply_result(app_of(ctx), Reply(result=result, summary=summary))
