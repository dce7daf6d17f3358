"""Run steps server-side: each step is a real call of a tool through the server's own tool path.

`MCPServer.call_tool` validates arguments, keeps paths inside the workspace and turns domain
errors into tool errors exactly as for a client's call; the runner only chains the calls. Before
anything runs, the whole plan is checked against the tools' schemas (unknown op or parameter, a
MIDI step fed audio, a step fed several files without saying which), so a bad pipeline fails
before it writes anything. While it runs, every file a step writes is moved into the run's folder
(`runs/<name>-<id>/NN-<step>…`); at the end the results move out to their final names, and the
folder is kept or removed as asked. If a step fails or the call is cancelled, everything the run
wrote is removed.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError as MCPToolError
from mcp_types import TextContent
from pydantic import BaseModel, Field

from . import catalog
from .arguments import argument_problem
from .audio_io import format_for
from .errors import ToolError
from .presets import BUILTIN_NAMES, Preset, Ref, Step, check_steps, pipeline_op, substitute, truthy
from .progress import CancelToken, ProgressFn
from .tools.common import WRITTEN, FileOutput, derived
from .workspace import mime_type

if TYPE_CHECKING:
    from .server import App

log = logging.getLogger(__name__)
T = TypeVar("T")

RUNS_DIR = "runs"
Report = Callable[[float, float, str | None], Awaitable[None]]
Kind = Literal["audio", "midi", "image", "file"]


def file_kind(path: str | Path) -> Kind:
    mime = mime_type(path)
    if mime == "audio/midi":
        return "midi"
    if mime.startswith("audio/"):
        return "audio"
    if mime.startswith("image/"):
        return "image"
    return "file"


# -- what the tools take and make, read from their schemas --------------------------------------


@dataclass(frozen=True)
class OpInfo:
    name: str
    title: str
    category: str
    params: dict[str, dict[str, Any]]
    required: tuple[str, ...]
    takes: Literal["audio", "midi"] | None
    """The kind of file its `input` reads; None when it has no `input`."""
    makes: Literal["audio", "file", "files", "none"]
    """One audio file, one other file, several files, or nothing (analysis)."""


def op_infos(server: MCPServer) -> dict[str, OpInfo]:
    """The tools `server` can run inside a pipeline, by name."""
    entries = {e.name: e for e in catalog.load_catalog()}
    infos: dict[str, OpInfo] = {}
    for tool in server._tool_manager.list_tools():
        entry = entries.get(tool.name)
        if entry is None or not pipeline_op(entry):
            continue
        props = tool.parameters.get("properties", {})
        takes = None
        if "input" in props:
            takes = "midi" if "MIDI" in str(props["input"].get("description", "")) else "audio"
        outputs = (tool.fn_metadata.output_schema or {}).get("properties", {})
        if entry.read_only:
            makes = "none"
        elif "output" in outputs or "file" in outputs:
            makes = "audio" if "format" in props else "file"
        else:
            makes = "files"
        infos[tool.name] = OpInfo(
            name=tool.name,
            title=tool.title or tool.name,
            category=entry.category,
            params=props,
            required=tuple(tool.parameters.get("required", [])),
            takes=takes,  # type: ignore[arg-type]
            makes=makes,  # type: ignore[arg-type]
        )
    return infos


_SERVERS: weakref.WeakKeyDictionary[MCPServer, MCPServer] = weakref.WeakKeyDictionary()


def tool_server(server: MCPServer) -> MCPServer:
    """The server whose tools the steps call: `server` itself when it exposes every ready tool,
    else one over the same app that does (toolsets choose what a client sees, not what a preset
    may use)."""
    ready = {e.name for e in catalog.select(["all"])}
    if ready <= {t.name for t in server._tool_manager.list_tools()}:
        return server
    if server not in _SERVERS:
        from .server import build_server
        from .tools.common import _APPS

        app = _APPS[server]
        _SERVERS[server] = build_server(replace(app.settings, toolsets=["all"]), app)
    return _SERVERS[server]


def problems(
    steps: list[Step] | tuple[Step, ...], infos: dict[str, OpInfo], input_kind: Kind | None = "audio"
) -> list[str]:
    """Why this plan cannot run with these tools (empty when it can)."""
    missing = [op for op in dict.fromkeys(s.op for s in steps) if op not in infos]
    if missing:
        return [f"needs {', '.join(missing)}, not available in this build yet"]
    found: list[str] = []
    current: str | None = input_kind
    for step in steps:
        info = infos[step.op]
        unknown = sorted(set(step.params) - set(info.params))
        if unknown:
            found.append(
                f"{step.where}: {step.op} does not take {', '.join(map(repr, unknown))}; its parameters: {', '.join(info.params)}"
            )
        lacking = sorted(set(info.required) - set(step.params) - ({"input"} if info.takes else set()))
        if lacking:
            found.append(f"{step.where}: {step.op} needs {', '.join(lacking)}")
        if info.takes and "input" not in step.params:
            if current == "files":
                found.append(
                    f"{step.where}: the step before wrote several files; say which one {step.op} takes "
                    "with input: '${steps.<id>.<field of its result>}'"
                )
            elif current in ("audio", "midi") and current != info.takes:
                found.append(f"{step.where}: {step.op} takes {info.takes} but would get {current}")
        if info.makes != "none":
            made = {"audio": "audio", "file": None, "files": "files"}[info.makes]
            current = made if step.when is None else None
    return found


# -- progress and cancellation for steps --------------------------------------------------------


class StepContext(Context):
    """The context a step's tool sees: the caller's session, progress mapped into the run's."""

    _report: Any = None

    def __init__(self, parent: Context | None, server: MCPServer, report: Report):
        super().__init__(
            request_context=parent._request_context if parent is not None else None,
            mcp_server=server,
            subscriptions=parent._subscriptions if parent is not None else None,
        )
        self._report = report

    async def report_progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        await self._report(progress, total, message)


def run_blocking(start: Callable[[Report], Awaitable[T]], progress: ProgressFn, cancel: CancelToken) -> T:
    """Run an async run from a background job's thread: its own event loop, the job's progress,
    and the job's cancel token cancelling the run at once."""

    async def report(done: float, total: float, message: str | None) -> None:
        progress(done, total, message)

    async def main() -> Any:
        with anyio.CancelScope() as scope:
            token = anyio.lowlevel.current_token()
            finished = threading.Event()

            def watch() -> None:
                while not finished.wait(0.05):
                    if cancel.cancelled:
                        try:
                            anyio.from_thread.run_sync(scope.cancel, token=token)
                        except RuntimeError:  # the run ended meanwhile
                            pass
                        return

            threading.Thread(target=watch, name="audiolla-run-cancel", daemon=True).start()
            try:
                return await start(report)
            finally:
                finished.set()

    result = anyio.run(main)
    cancel.check()
    return result


# -- results ------------------------------------------------------------------------------------


class StepRecord(BaseModel):
    step: int = Field(description="1-based position in the pipeline.")
    id: str
    op: str
    status: Literal["ok", "skipped"]
    params: dict[str, Any] = Field(description="The arguments the tool was called with, references resolved.")
    duration_s: float
    outputs: list[str] = Field(description="Files the step wrote, where they are now.")
    summary: str = Field(description="The tool's own one-line summary.")
    result: dict[str, Any] | None = Field(description="The tool's structured result.")


class PipelineRun(BaseModel):
    input: str
    outputs: list[FileOutput] = Field(description="The final files.")
    steps: list[StepRecord]
    run_folder: str | None = Field(description="Folder with every intermediate file, when kept.")
    elapsed_s: float


class BatchItem(BaseModel):
    input: str
    ok: bool
    outputs: list[str] = Field(default_factory=list, description="Files written for this input.")
    summary: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    duration_s: float


@dataclass
class _State:
    values: dict[str, Any]
    current: str | None
    why_not_current: str = ""
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, list[Path]] = field(default_factory=dict)
    prev: dict[str, Any] | None = None
    log: list[StepRecord] = field(default_factory=list)


@dataclass(frozen=True)
class Plan:
    label: str
    steps: tuple[Step, ...]
    input: str
    values: dict[str, Any]
    finals: tuple[str, ...]
    declared_outputs: bool
    output: str | None
    format: str | None
    overwrite: bool
    keep: bool


class Runner:
    """Runs plans and batches for one tool call (or one background job)."""

    def __init__(self, app: App, server: MCPServer, parent: Context | None, report: Report):
        self.app = app
        self.server = server
        self.parent = parent
        self.report = report
        self.workspace = app.workspace
        self.infos = op_infos(server)

    # -- checking, before anything runs ------------------------------------------------------

    def plan_preset(self, preset: Preset, input: str, params: dict[str, Any] | None, **options: Any) -> Plan:
        still = problems(preset.steps, self.infos)
        if still:
            raise ToolError(f"The preset {preset.name} cannot run here: {still[0]}.")
        return self.plan(
            list(preset.steps),
            input,
            label=preset.name,
            values=preset.bind(params),
            outputs=list(preset.outputs or []),
            **options,
        )

    def plan(
        self,
        steps: list[Step],
        input: str,
        *,
        label: str,
        values: dict[str, Any] | None = None,
        outputs: list[str] | None = None,
        output: str | None = None,
        format: str | None = None,
        overwrite: bool = False,
        keep: bool = False,
    ) -> Plan:
        values = dict(values or {})
        check_steps(steps, set(values) | set(BUILTIN_NAMES), outputs)
        source = self.workspace.file(input)
        rel = self.workspace.rel(source)
        found = problems(steps, self.infos, file_kind(rel))
        if found:
            raise ToolError(found[0] + ".")
        if output:
            target = self.workspace.resolve(output, must_exist=False, what="output")
            if target.exists() and not overwrite:
                raise ToolError(
                    f"{self.workspace.rel(target)!r} already exists; pass overwrite=true or choose another output."
                )
            if format is None and target.suffix and file_kind(target) == "audio":
                format = format_for(target)
        writers = [s.id for s in steps if self.infos[s.op].makes != "none"]
        finals = tuple(outputs) if outputs else tuple(writers[-1:])
        return Plan(label, tuple(steps), rel, values, finals, bool(outputs), output, format, overwrite, keep)

    # -- running ----------------------------------------------------------------------------

    async def run(self, plan: Plan) -> PipelineRun:
        started = time.monotonic()
        folder = self.workspace.root / RUNS_DIR / f"{plan.label}-{uuid.uuid4().hex[:8]}"
        stem = Path(plan.input).stem
        state = _State(values={"input": plan.input, "stem": stem, **plan.values}, current=plan.input)
        placed: list[Path] = []
        try:
            for index, step in enumerate(plan.steps):
                await self._progress(
                    index, len(plan.steps), f"step {index + 1}/{len(plan.steps)}: {step.id} ({step.op})"
                )
                state.log.append(await self._step(plan, index, step, state, folder))
            self._place_results(plan, state, folder, placed)
        except BaseException:
            for path in placed:
                path.unlink(missing_ok=True)
            _remove_run_folder(folder)
            raise
        kept = plan.keep and folder.is_dir() and any(folder.iterdir())
        if not kept:
            _remove_run_folder(folder)
        await self._progress(len(plan.steps), len(plan.steps), "done")
        return PipelineRun(
            input=plan.input,
            outputs=[self._file(p) for p in placed],
            steps=state.log,
            run_folder=self.workspace.rel(folder) if kept else None,
            elapsed_s=round(time.monotonic() - started, 3),
        )

    async def _step(self, plan: Plan, index: int, step: Step, state: _State, folder: Path) -> StepRecord:
        info = self.infos[step.op]
        lookup = self._lookup(step, state)
        if step.when is not None and not truthy(substitute(step.when, lookup)):
            return StepRecord(
                step=index + 1,
                id=step.id,
                op=step.op,
                status="skipped",
                params={},
                duration_s=0.0,
                outputs=[],
                summary="Skipped: its condition is false.",
                result=None,
            )
        params = substitute(step.params, lookup)
        if info.takes and "input" not in params:
            if state.current is None:
                raise ToolError(f"{step.where}: {state.why_not_current}; give this step an input.")
            params["input"] = state.current
        if info.takes and isinstance(params.get("input"), str):
            kind = file_kind(params["input"])
            if kind in ("audio", "midi") and kind != info.takes:
                raise ToolError(
                    f"{step.where}: {step.op} takes {info.takes}, but its input {params['input']!r} is {kind}."
                )
        self._formats(plan, step, info, params)
        written: list[Path] = []
        token = WRITTEN.set(written)
        started = time.monotonic()
        try:
            result = await self._call(step.op, params, self._context(index, len(plan.steps), step))
        except MCPToolError as exc:
            raise ToolError(f"{step.where} ({step.op}) failed: {_reason(exc, step.op)}") from None
        finally:
            WRITTEN.reset(token)
        summary = " ".join(c.text for c in getattr(result, "content", []) if isinstance(c, TextContent))
        if getattr(result, "is_error", False):
            raise ToolError(f"{step.where} ({step.op}) failed: {summary}")
        moves = self._collect(written, index, step, params.get("input"), folder, self.workspace.root / plan.input)
        structured = _rewrite(getattr(result, "structured_content", None) or {}, moves, self.workspace)
        files = list(moves.values())
        state.results[step.id] = structured
        state.prev = structured
        state.files[step.id] = files
        if len(files) == 1:
            state.current = self.workspace.rel(files[0])
        elif len(files) > 1:
            state.current = None
            state.why_not_current = f"step {step.id!r} wrote {len(files)} files, so it is not clear which one to take"
        return StepRecord(
            step=index + 1,
            id=step.id,
            op=step.op,
            status="ok",
            params=params,
            duration_s=round(time.monotonic() - started, 3),
            outputs=[self.workspace.rel(p) for p in files],
            summary=_rewrite(summary, moves, self.workspace),
            result=structured,
        )

    async def _call(self, op: str, arguments: dict[str, Any], context: StepContext) -> Any:
        """One tool call as a client's goes: the server's argument check, then the tool itself."""
        tool = self.server._tool_manager.get_tool(op)
        problem = tool and argument_problem(op, tool.parameters, tool.fn_metadata, arguments)
        if problem:
            raise MCPToolError(problem)
        return await self.server.call_tool(op, arguments, context)

    def _formats(self, plan: Plan, step: Step, info: OpInfo, params: dict[str, Any]) -> None:
        """Intermediate audio is 32-bit float WAV (lossless, no clipping between steps); a final
        step writes the format asked for, or the tool's default."""
        if "format" not in info.params or "format" in params:
            return
        if step.id in plan.finals:
            if plan.format:
                params["format"] = plan.format
            return
        params["format"] = "wav"
        if "bit_depth" in info.params and "bit_depth" not in params:
            params["bit_depth"] = 32

    def _lookup(self, step: Step, state: _State) -> Callable[[Ref], Any]:
        def lookup(ref: Ref) -> Any:
            if ref.root == "param":
                return state.values[ref.name]
            if ref.root == "prev":
                if state.prev is None:
                    raise ToolError(f"{step.where}: ${{{ref.text}}} — the step before was skipped or wrote no result.")
                return _walk(state.prev, ref, step)
            if ref.name not in state.results:
                raise ToolError(f"{step.where}: ${{{ref.text}}} — step {ref.name!r} was skipped, so it has no result.")
            return _walk(state.results[ref.name], ref, step)

        return lookup

    def _context(self, index: int, total: int, step: Step) -> StepContext:
        async def report(done: float, of: float | None, message: str | None) -> None:
            fraction = min(max(done / of, 0.0), 1.0) if of else 0.0
            text = f"step {index + 1}/{total}: {step.id}" + (f" — {message}" if message else "")
            await self._progress(index + fraction, total, text)

        return StepContext(self.parent, self.server, report)

    async def _progress(self, done: float, total: float, message: str | None) -> None:
        try:
            await self.report(done, total, message)
        except Exception:  # a client that went away must not fail the run
            log.debug("progress not delivered", exc_info=True)

    def _collect(
        self, written: list[Path], index: int, step: Step, source: Any, folder: Path, protected: Path
    ) -> dict[Path, Path]:
        """Move what a step wrote into the run folder: 'NN-<id><what the tool added>'. The run's
        input is never moved, whatever a tool reports."""
        moves: dict[Path, Path] = {}
        folder.mkdir(parents=True, exist_ok=True)
        for path in written:
            if not path.exists() or path == protected:
                continue
            rest = _added_by_tool(path.name, Path(source).stem if isinstance(source, str) else "")
            target = folder / f"{index + 1:02d}-{step.id}{rest}"
            n = 2
            while target.exists():
                target = folder / f"{index + 1:02d}-{step.id}-{n}{rest}"
                n += 1
            path.replace(target)
            moves[path] = target
        return moves

    def _place_results(self, plan: Plan, state: _State, folder: Path, placed: list[Path]) -> None:
        """Move the final files out of the run folder: one file → 'song.<name>.ext' (or `output`),
        several → a folder 'song.<name>/'. `placed` lists what has been moved so far."""
        ids = plan.finals if plan.declared_outputs else [s.id for s in plan.steps if state.files.get(s.id)][-1:]
        files = [p for step_id in ids for p in state.files.get(step_id, []) if p.exists()]
        if not files:
            return
        stem = Path(plan.input).stem
        moves: dict[Path, Path] = {}
        if len(files) == 1:
            source = files[0]
            target = self.workspace.output_path(
                plan.output, default=derived(stem, plan.label, source.suffix.lstrip(".")), overwrite=plan.overwrite
            )
            if plan.output and target.suffix.lower() != source.suffix.lower():
                raise ToolError(f"The result is a {source.suffix} file; give an output ending in {source.suffix}.")
            target.parent.mkdir(parents=True, exist_ok=True)
            source.replace(target)
            moves[source] = target
            placed.append(target)
        else:
            target_dir = self._result_folder(
                plan.output or f"{stem}.{plan.label}", explicit=bool(plan.output), overwrite=plan.overwrite
            )
            for source in files:
                name = source.name.split("-", 1)[1] if source.name[:2].isdigit() else source.name
                target = target_dir / name
                if target.exists() and not plan.overwrite:
                    raise ToolError(
                        f"{self.workspace.rel(target)!r} already exists; pass overwrite=true or another output."
                    )
                source.replace(target)
                moves[source] = target
                placed.append(target)
        for record in state.log:
            record.outputs = [_rewrite(p, moves, self.workspace) for p in record.outputs]
            record.result = _rewrite(record.result, moves, self.workspace)
            record.summary = _rewrite(record.summary, moves, self.workspace)

    def _result_folder(self, requested: str, *, explicit: bool, overwrite: bool) -> Path:
        base = self.workspace.resolve(requested, must_exist=False, what="output")
        target, n = base, 2
        while target.exists() and not (explicit and overwrite and target.is_dir()):
            if explicit:
                raise ToolError(
                    f"{self.workspace.rel(target)!r} already exists; pass overwrite=true or choose another output."
                )
            target = base.with_name(f"{base.name}-{n}")
            n += 1
        target.mkdir(parents=True, exist_ok=True)
        return target

    def _file(self, path: Path) -> FileOutput:
        return FileOutput(
            path=self.workspace.rel(path),
            uri=self.workspace.uri(path),
            bytes=path.stat().st_size,
            mime_type=mime_type(path),
        )

    # -- batch ------------------------------------------------------------------------------

    def check_batch(self, op: str, params: dict[str, Any]) -> OpInfo:
        entry = {e.name: e for e in catalog.load_catalog()}.get(op)
        if entry is None or op not in self.infos:
            why = "unknown op" if entry is None else "not available to pipelines here"
            raise ToolError(f"{op!r}: {why}; list_ops shows the ops batch can run.")
        info = self.infos[op]
        if not info.takes:
            raise ToolError(f"{op} takes no input file, so there is nothing to batch over.")
        bad = sorted(
            set(params)
            & {"input", "output", "overwrite", "inline", "background", "webhook_url", "input_base64", "input_format"}
        )
        if bad:
            raise ToolError(
                f"params may not set {', '.join(bad)}: batch gives each item its input and the tool names its output."
            )
        unknown = sorted(set(params) - set(info.params))
        if unknown:
            raise ToolError(
                f"{op} does not take {', '.join(map(repr, unknown))}; its parameters: {', '.join(info.params)}."
            )
        return info

    async def batch(self, op: str, inputs: list[str], params: dict[str, Any], concurrency: int) -> list[BatchItem]:
        total = len(inputs)
        items: list[BatchItem | None] = [None] * total
        fractions = [0.0] * total
        limiter = anyio.CapacityLimiter(max(1, concurrency))

        async def one(i: int) -> None:
            async with limiter:
                items[i] = await self._batch_item(op, inputs[i], params, i, fractions)
                fractions[i] = 1.0
                await self._progress(sum(fractions), total, f"{sum(f == 1.0 for f in fractions)}/{total} done")

        async with anyio.create_task_group() as group:
            for i in range(total):
                group.start_soon(one, i)
        return [item for item in items if item is not None]

    async def _batch_item(
        self, op: str, input: str, params: dict[str, Any], i: int, fractions: list[float]
    ) -> BatchItem:
        async def report(done: float, of: float | None, message: str | None) -> None:
            fractions[i] = min(max(done / of, 0.0), 0.99) if of else 0.0
            await self._progress(sum(fractions), len(fractions), f"{input}: {message or op}")

        written: list[Path] = []
        token = WRITTEN.set(written)
        started = time.monotonic()
        try:
            result = await self._call(op, {**params, "input": input}, StepContext(self.parent, self.server, report))
        except MCPToolError as exc:
            return BatchItem(
                input=input, ok=False, error=_reason(exc, op), duration_s=round(time.monotonic() - started, 3)
            )
        finally:
            WRITTEN.reset(token)
        summary = " ".join(c.text for c in result.content if isinstance(c, TextContent))
        return BatchItem(
            input=input,
            ok=not result.is_error,
            outputs=[self.workspace.rel(p) for p in written if p.exists()],
            summary=None if result.is_error else summary,
            result=result.structured_content,
            error=summary if result.is_error else None,
            duration_s=round(time.monotonic() - started, 3),
        )


def _added_by_tool(name: str, source_stem: str) -> str:
    """What a tool added to its input's name ('01-eq' + '.reversed.wav'), else '-' + the name.
    Tools derive names from the input's stem, sometimes minus its last dotted part."""
    stem = source_stem
    while stem:
        if name.startswith(stem) and name[len(stem) : len(stem) + 1] in (".", "-"):
            return name[len(stem) :]
        stem = stem.rsplit(".", 1)[0] if "." in stem else ""
    return f"-{name}"


def _walk(result: dict[str, Any], ref: Ref, step: Step) -> Any:
    value: Any = result
    for part in ref.path:
        if isinstance(part, str) and isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(part, int) and isinstance(value, list) and -len(value) <= part < len(value):
            value = value[part]
        elif isinstance(part, tuple) and isinstance(value, list):
            key, wanted = part
            matches = [item for item in value if isinstance(item, dict) and str(item.get(key)) == wanted]
            if not matches:
                raise ToolError(f"{step.where}: ${{{ref.text}}} — no item with {key}={wanted!r}.")
            value = matches[0]
        else:
            shown = sorted(value) if isinstance(value, dict) else type(value).__name__
            raise ToolError(f"{step.where}: ${{{ref.text}}} — {part!r} is not in the result (it has: {shown}).")
    return value


def _rewrite(value: Any, moves: dict[Path, Path], workspace: Any) -> Any:
    """Replace moved files' paths and URIs in a result (strings inside text too)."""
    if not moves:
        return value
    if isinstance(value, dict):
        return {k: _rewrite(v, moves, workspace) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, moves, workspace) for v in value]
    if isinstance(value, str):
        for old, new in moves.items():
            value = value.replace(workspace.rel(old), workspace.rel(new))
    return value


def _reason(exc: Exception, op: str) -> str:
    return str(exc).removeprefix(f"Error executing tool {op}: ")


def _remove_run_folder(folder: Path) -> None:
    """Delete a run's folder, and `runs/` too when this run was all it held."""
    shutil.rmtree(folder, ignore_errors=True)
    try:
        folder.parent.rmdir()
    except OSError:
        pass  # other runs' folders (or a user's files) are still there
