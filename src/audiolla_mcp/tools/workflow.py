"""Workflow tools: presets, ad-hoc pipelines and batches, run server-side without round trips."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from ..errors import ToolError
from . import tool
from .common import (
    Backgroundable,
    BackgroundArg,
    FileOutput,
    FormatArg,
    OverwriteArg,
    Reply,
    Run,
    WebhookArg,
    app_of,
    execute,
    notify_files_changed,
    reply_result,
)

if TYPE_CHECKING:
    from ..pipeline import Runner

BATCH_INLINE_MAX = 8
"""Batches over more inputs than this run in the background unless background=false."""
BATCH_MAX = 500

PipelineInputArg = Annotated[
    str, Field(description="Input audio: a workspace path such as 'song.wav' (or a workspace:// URI).")
]
PipelineOutputArg = Annotated[
    str | None,
    Field(
        description="Where the result goes: a file path for one result, a folder for several. Default: "
        "'<input stem>.<name>.<ext>' in the workspace root (a '<input stem>.<name>/' folder for several files); "
        "an existing file is never replaced unless overwrite=true."
    ),
]
KeepArg = Annotated[
    bool,
    Field(description="Keep every intermediate file in a runs/<name>-<id>/ folder (for checking each step)."),
]
ParamsArg = Annotated[
    dict[str, Any] | None,
    Field(description="Overrides of the preset's parameters, e.g. {'target_lufs': -16}; see list_presets."),
]


Scalar = str | float | bool


class PresetParam(BaseModel):
    name: str
    type: str = Field(description="number, integer, string or boolean.")
    description: str
    default: Scalar | None = None
    required: bool
    min: float | None = None
    max: float | None = None
    choices: list[Scalar] | None = None


class PresetInfo(BaseModel):
    name: str
    title: str
    description: str
    promise: str | None = Field(description="What the result meets, e.g. '−14 LUFS ±0.5 LU, ≤ −1 dBTP'.")
    params: list[PresetParam]
    ops: list[str] = Field(description="The tools it calls, in order.")
    available: bool = Field(description="False when this server cannot run it yet; see reason.")
    reason: str | None = None
    uri: str = Field(description="audiolla://presets/{name}: the preset's YAML.")


class PresetList(BaseModel):
    presets: list[PresetInfo]


class RunResult(Backgroundable):
    name: str | None = Field(default=None, description="The preset's name, or 'pipeline'.")
    input: str | None = None
    outputs: list[FileOutput] = Field(default_factory=list, description="The final files.")
    steps: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Per step: step, id, op, status, params (resolved), duration_s, outputs, summary, result.",
    )
    run_folder: str | None = Field(default=None, description="Folder with the intermediate files, when kept.")
    elapsed_s: float | None = None


class PipelineStep(BaseModel):
    op: str = Field(description="A tool name from list_ops, e.g. 'normalize_loudness'.")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="The tool's arguments. Omit input to take the previous step's audio. Values may use "
        "${input}, ${stem}, ${steps.<id>.<field>} (e.g. ${steps.master.output.path}) and ${prev.<field>}.",
    )
    id: str | None = Field(default=None, description="A name for referring to this step; default: the op's name.")


class BatchResult(Backgroundable):
    op: str | None = None
    items: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Per input, in order: input, ok, outputs, summary, result or error, duration_s.",
    )
    succeeded: int = 0
    failed: int = 0
    elapsed_s: float | None = None


class OpParam(BaseModel):
    name: str
    type: str | None = Field(description="JSON type, when simple.")
    required: bool
    default: Scalar | list[Scalar] | None = None
    description: str | None = None


class OpInfo(BaseModel):
    name: str
    title: str
    category: str
    takes: str | None = Field(description="The kind of file its input reads (audio, midi), or None.")
    makes: str = Field(description="audio, file, files, or none (analysis).")
    params: list[OpParam]


class OpList(BaseModel):
    ops: list[OpInfo]
    input_schema: dict[str, Any] | None = Field(description="The full JSON schema of `op`, when one op was asked for.")


# -- helpers ------------------------------------------------------------------------------------


def _presets(ctx: Context) -> dict[str, Any]:
    return app_of(ctx).presets


def preset_infos(ctx: Context) -> list[PresetInfo]:
    from ..pipeline import op_infos, problems, tool_server

    infos = op_infos(tool_server(ctx.mcp_server))
    listed = []
    for preset in _presets(ctx).values():
        found = problems(preset.steps, infos)
        listed.append(
            PresetInfo(
                name=preset.name,
                title=preset.title,
                description=preset.description,
                promise=preset.promise,
                params=[PresetParam(**p) for p in preset.describe_params()],
                ops=preset.ops,
                available=not found,
                reason="; ".join(found) or None,
                uri=f"audiolla://presets/{preset.name}",
            )
        )
    return listed


async def _launch(
    ctx: Context,
    prepare: Callable[[Runner], Any],
    start: Callable[[Runner, Any], Awaitable[Reply]],
    *,
    background: bool,
    webhook_url: str | None,
    result_type: type[Backgroundable],
) -> CallToolResult:
    """Check the request now; run it inline (progress to this call) or as a background job."""
    from ..pipeline import Runner, run_blocking, tool_server

    app = app_of(ctx)
    server = tool_server(ctx.mcp_server)

    async def report(done: float, total: float, message: str | None) -> None:
        await ctx.report_progress(done, total, message)

    runner = Runner(app, server, ctx, report)
    checked = prepare(runner)
    if background:

        def work(run: Run) -> Reply:
            return run_blocking(lambda sink: start(Runner(app, server, None, sink), checked), run.progress, run.cancel)

        return await execute(ctx, work, background=True, result_type=result_type, webhook_url=webhook_url)
    if webhook_url:
        raise ToolError("webhook_url is used only with background=true; add background=true or drop webhook_url.")
    reply = await start(runner, checked)
    await notify_files_changed(ctx)
    return reply_result(app, reply)


async def _run_plan(runner: Runner, plan: Any) -> Reply:
    done = await runner.run(plan)
    result = RunResult(
        name=plan.label,
        input=done.input,
        outputs=done.outputs,
        steps=[s.model_dump(mode="json") for s in done.steps],
        run_folder=done.run_folder,
        elapsed_s=done.elapsed_s,
    )
    ran = [s for s in done.steps if s.status == "ok"]
    wrote = ", ".join(f.path for f in done.outputs) or "no files"
    notes = " ".join(f"[{s.id}] {s.summary}" for s in ran[-2:] if s.summary)
    summary = (
        f"Ran {plan.label} on {done.input} ({len(ran)} step(s), {done.elapsed_s:.1f} s): wrote {wrote}. {notes}".strip()
    )
    return Reply(result=result, summary=summary)


def _plain(value: Any) -> Any:
    """A default as a scalar or a list of scalars; anything nested as its JSON text."""
    if value is None or isinstance(value, str | float | int | bool):
        return value
    if isinstance(value, list) and all(isinstance(v, str | float | int | bool) for v in value):
        return value
    return json.dumps(value)


# -- tools --------------------------------------------------------------------------------------


@tool
async def list_presets(ctx: Context) -> Annotated[CallToolResult, PresetList]:
    listed = preset_infos(ctx)
    ready = [p.name for p in listed if p.available]
    summary = f"{len(listed)} preset(s); ready here: {', '.join(ready) or 'none'}."
    return reply_result(app_of(ctx), Reply(result=PresetList(presets=listed), summary=summary))


@tool
async def run_preset(
    ctx: Context,
    input: PipelineInputArg,
    name: Annotated[str, Field(description="The preset, e.g. 'master-for-streaming'; see list_presets.")],
    params: ParamsArg = None,
    output: PipelineOutputArg = None,
    format: FormatArg = None,
    overwrite: OverwriteArg = False,
    keep_intermediates: KeepArg = False,
    background: BackgroundArg = False,
    webhook_url: WebhookArg = None,
) -> Annotated[CallToolResult, RunResult]:
    presets = _presets(ctx)
    preset = presets.get(name)
    if preset is None:
        raise ToolError(f"No preset {name!r}; known: {', '.join(presets) or 'none'} (list_presets describes them).")

    def prepare(runner: Runner) -> Any:
        return runner.plan_preset(
            preset, input, params, output=output, format=format, overwrite=overwrite, keep=keep_intermediates
        )

    return await _launch(ctx, prepare, _run_plan, background=background, webhook_url=webhook_url, result_type=RunResult)


@tool
async def run_pipeline(
    ctx: Context,
    input: PipelineInputArg,
    steps: Annotated[
        list[PipelineStep],
        Field(min_length=1, description="The steps in order; each step's audio feeds the next unless it sets input."),
    ],
    output: PipelineOutputArg = None,
    format: FormatArg = None,
    overwrite: OverwriteArg = False,
    keep_intermediates: KeepArg = False,
    background: BackgroundArg = False,
    webhook_url: WebhookArg = None,
) -> Annotated[CallToolResult, RunResult]:
    from ..presets import Step, default_ids

    ids = default_ids([(s.id, s.op) for s in steps])
    plan_steps = [
        Step(id=ids[i], op=s.op, params=dict(s.params), where=f"steps[{i}] {ids[i]!r}") for i, s in enumerate(steps)
    ]

    def prepare(runner: Runner) -> Any:
        return runner.plan(
            plan_steps,
            input,
            label="pipeline",
            output=output,
            format=format,
            overwrite=overwrite,
            keep=keep_intermediates,
        )

    return await _launch(ctx, prepare, _run_plan, background=background, webhook_url=webhook_url, result_type=RunResult)


@tool
async def batch(
    ctx: Context,
    op: Annotated[str, Field(description="The tool to run on every input, e.g. 'measure_loudness'; see list_ops.")],
    inputs: Annotated[
        list[str] | None, Field(max_length=BATCH_MAX, description="Workspace paths of the inputs (or use pattern).")
    ] = None,
    pattern: Annotated[
        str | None, Field(description="Instead of inputs: every workspace file matching this glob, e.g. 'album/*.wav'.")
    ] = None,
    params: Annotated[
        dict[str, Any] | None, Field(description="Arguments for every call except input, e.g. {'target_lufs': -14}.")
    ] = None,
    concurrency: Annotated[int, Field(ge=1, le=8, description="Inputs processed at once.")] = 2,
    background: Annotated[
        bool | None,
        Field(description=f"Run as a background job; default: yes when there are more than {BATCH_INLINE_MAX} inputs."),
    ] = None,
    webhook_url: WebhookArg = None,
) -> Annotated[CallToolResult, BatchResult]:
    app = app_of(ctx)
    arguments = dict(params or {})
    if bool(inputs) == bool(pattern):
        raise ToolError("Give either inputs (a list of paths) or pattern (a glob such as '*.wav').")
    paths = list(inputs or [e.path for e in app.workspace.list(None, pattern)])
    if not paths:
        raise ToolError(f"No workspace file matches {pattern!r}; call list_files to see what is there.")
    if len(paths) > BATCH_MAX:
        raise ToolError(f"{len(paths)} inputs; one batch takes at most {BATCH_MAX}.")
    missing = []
    for i, path in enumerate(paths):
        try:
            app.workspace.file(path)
        except ToolError as exc:
            missing.append(f"inputs[{i}] {path!r}: {exc}")
    if missing:
        raise ToolError("Nothing was run; fix these inputs first: " + " ".join(missing))

    def prepare(runner: Runner) -> None:
        runner.check_batch(op, arguments)

    async def start(runner: Runner, _: Any) -> Reply:
        started = time.monotonic()
        items = await runner.batch(op, paths, arguments, concurrency)
        ok = sum(item.ok for item in items)
        result = BatchResult(
            op=op,
            items=[item.model_dump(mode="json") for item in items],
            succeeded=ok,
            failed=len(items) - ok,
            elapsed_s=round(time.monotonic() - started, 3),
        )
        failures = "; ".join(f"{item.input}: {item.error}" for item in items if not item.ok)[:500]
        summary = f"{op} on {len(items)} input(s): {ok} succeeded, {len(items) - ok} failed." + (
            f" Failed: {failures}" if failures else ""
        )
        return Reply(result=result, summary=summary)

    run_in_background = background if background is not None else len(paths) > BATCH_INLINE_MAX
    return await _launch(
        ctx, prepare, start, background=run_in_background, webhook_url=webhook_url, result_type=BatchResult
    )


@tool
async def list_ops(
    ctx: Context,
    op: Annotated[str | None, Field(description="One op to describe in full (its JSON schema); omit for all.")] = None,
) -> Annotated[CallToolResult, OpList]:
    from ..pipeline import op_infos, tool_server

    server = tool_server(ctx.mcp_server)
    infos = op_infos(server)
    if op is not None and op not in infos:
        raise ToolError(f"{op!r} is not an op pipelines can run here; list_ops without op lists them.")
    chosen = [infos[op]] if op else list(infos.values())
    ops = [
        OpInfo(
            name=i.name,
            title=i.title,
            category=i.category,
            takes=i.takes,
            makes=i.makes,
            params=[
                OpParam(
                    name=name,
                    type=schema.get("type"),
                    required=name in i.required,
                    default=_plain(schema.get("default")),
                    description=schema.get("description"),
                )
                for name, schema in i.params.items()
            ],
        )
        for i in chosen
    ]
    schema = server._tool_input_schema(op) if op else None
    summary = f"{len(ops)} op(s) for run_pipeline and batch: " + ", ".join(o.name for o in ops[:60])
    return reply_result(app_of(ctx), Reply(result=OpList(ops=ops, input_schema=schema), summary=summary))
