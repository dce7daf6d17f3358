"""Hostile-input machinery shared by the reliability tests and `bench/fuzz.py`.

Everything here works from what the server advertises (`tools/list` input schemas), so tools
that land later are covered without edits: `path_params` finds every parameter that takes a
workspace path, `arguments_for` builds a minimal valid call with one value planted at any
depth, `Sandbox` lays out a workspace next to an "outside" folder full of bait (files, links
pointing out, a hard link, a FIFO), and `Session` drives a real MCP client from synchronous
code (tests, hypothesis) with a per-call timeout and a verdict for every reply.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anyio
import mido
import numpy as np
import soundfile as sf
from anyio.from_thread import BlockingPortal, start_blocking_portal
from mcp import Client
from mcp.shared.exceptions import MCPError

Step = tuple[str, ...]
"""One move into a schema: ('prop', name), ('item',), ('value',), ('variant', index) or ('key', name)."""

PATH_NAMES = frozenset(
    {"input", "inputs", "output", "path", "source", "destination", "folder", "prefix", "ir", "soundfont",
     "reference", "trigger", "compare_with", "like", "midi_output", "output_names"}
)
PATH_TEXT = re.compile(r"workspace (?:path|file|folder|audio)|workspace://|in the workspace|\bfolder\b", re.IGNORECASE)
WRITE_NAMES = frozenset({"output", "destination", "midi_output", "output_names", "folder"})
WRITE_TEXT = re.compile(r"^(?:workspace (?:path|folder) for|new workspace path|where the result|custom workspace paths)", re.IGNORECASE)
FREE_ARGUMENTS = re.compile(r"\barguments\b", re.IGNORECASE)
"""A free-form object described as a tool's arguments (pipeline steps, batch params) carries paths."""
QUOTED = re.compile(r"'([^']+)'")
LISTED = re.compile(r"\(([\w-]+),")
"""The first item of a list given in parentheses, e.g. 'Drum by name (kick, snare, …)'."""


# -- discovering path parameters --------------------------------------------------------------


@dataclass(frozen=True)
class PathParam:
    tool: str
    locator: tuple[Step, ...]
    role: Literal["read", "write"]
    kind: Literal["audio", "midi", "soundfont", "folder"]

    @property
    def label(self) -> str:
        text = ""
        for step in self.locator:
            text += {"prop": f".{step[-1]}", "item": "[]", "value": "{}", "key": f".{step[-1]}"}.get(step[0], "")
        return f"{self.tool}:{text.lstrip('.')}"


def deref(node: dict, defs: dict) -> dict:
    while "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def branches(node: dict) -> list[dict]:
    return node.get("anyOf") or node.get("oneOf") or []


def schema_types(node: dict) -> set[str]:
    kind = node.get("type")
    return set(kind) if isinstance(kind, list) else {kind} if kind else set()


def is_path(name: str, description: str) -> bool:
    if "glob" in description.lower():
        return False
    return name in PATH_NAMES or bool(PATH_TEXT.search(description))


def path_params(tool: str, schema: dict) -> list[PathParam]:
    """Every string slot of `schema` that names a workspace file or folder, at any depth."""
    defs = schema.get("$defs", {})
    found: list[PathParam] = []

    def walk(node: dict, locator: tuple[Step, ...], name: str, description: str) -> None:
        node = deref(node, defs)
        description = node.get("description") or description
        for index, branch in enumerate(branches(node)):
            walk(branch, (*locator, ("variant", str(index))), name, description)
        types = schema_types(node)
        if "object" in types or "properties" in node:
            for key, sub in node.get("properties", {}).items():
                walk(sub, (*locator, ("prop", key)), key, "")
            extra = node.get("additionalProperties")
            if isinstance(extra, dict) and extra:
                walk(extra, (*locator, ("value",)), name, description)
            elif extra is True and not node.get("properties") and FREE_ARGUMENTS.search(description):
                for key in ("input", "output"):
                    found.append(PathParam(tool, (*locator, ("key", key)), "write" if key == "output" else "read", "audio"))
        if "array" in types:
            walk(node.get("items", {}), (*locator, ("item",)), name, description)
        if "string" in types and is_path(name, description):
            found.append(PathParam(tool, locator, path_role(name, description), path_kind(name, description)))

    walk(schema, (), "", "")
    return found


def path_role(name: str, description: str) -> Literal["read", "write"]:
    return "write" if name in WRITE_NAMES or WRITE_TEXT.search(description) else "read"


def path_kind(name: str, description: str) -> Literal["audio", "midi", "soundfont", "folder"]:
    text = description.lower()
    if "midi file" in text:
        return "midi"
    if "soundfont" in text:
        return "soundfont"
    if name in ("prefix", "folder") or "folder" in text:
        return "folder"
    return "audio"


# -- building arguments -----------------------------------------------------------------------

SEED_AUDIO = "seed.wav"
SEED_MIDI = "seed.mid"
SEED_FOLDER = "seeds"


def benign(param: PathParam) -> str | None:
    """A value that names a real, suitable workspace file (or a fresh output name)."""
    if param.role == "write":
        return f"fresh/{param.tool}-{len(param.locator)}"
    return {"audio": SEED_AUDIO, "midi": SEED_MIDI, "folder": SEED_FOLDER, "soundfont": None}[param.kind]


class Builder:
    """Minimal valid arguments for one tool's input schema."""

    def __init__(self, tool: str, schema: dict, seed_base64: str = "", hints: dict[str, Any] | None = None):
        self.tool = tool
        self.schema = schema
        self.defs = schema.get("$defs", {})
        self.seed_base64 = seed_base64
        self.hints = hints or {}
        """Top-level arguments a tool needs to get as far as its paths (e.g. write_tags' tags)."""

    def minimal(self, node: dict, name: str = "", description: str = "") -> Any:
        node = deref(node, self.defs)
        description = node.get("description") or description
        if "const" in node:
            return node["const"]
        if "enum" in node:
            return node["enum"][0]
        if "default" in node:
            return copy.deepcopy(node["default"])
        options = [b for b in branches(node) if schema_types(deref(b, self.defs)) != {"null"}]
        if options:
            return self.minimal(options[0], name, description)
        types = schema_types(node) - {"null"}
        if "object" in types or "properties" in node:
            return self._object(node)
        if "array" in types:
            items = node.get("items", {})
            return [self.minimal(items, name, description) for _ in range(node.get("minItems", 0))]
        if "string" in types:
            return self._string(node, name, description)
        if "integer" in types or "number" in types:
            return self._number(node, integer="integer" in types)
        if "boolean" in types:
            return False
        return None

    def _object(self, node: dict) -> dict[str, Any]:
        """The required properties, plus every optional input file (so a call has its inputs)."""
        properties = node.get("properties", {})
        required = node.get("required", [])
        instance = {key: self.minimal(properties[key], key) for key in required}
        for key, sub in properties.items():
            sub = deref(sub, self.defs)
            description = sub.get("description", "")
            types = self._types_of(sub)
            if "array" in types:
                types |= self._types_of(deref(sub.get("items") or next(
                    (b.get("items", {}) for b in branches(sub) if "items" in b), {}), self.defs))
            if key in instance or "string" not in types:
                continue
            if is_path(key, description) and path_role(key, description) == "read":
                value = benign(PathParam(self.tool, (), "read", path_kind(key, description)))
                if value is not None:
                    instance[key] = [value] if "array" in self._types_of(sub) else value
        return instance

    def _types_of(self, node: dict) -> set[str]:
        return schema_types(node).union(*(schema_types(deref(b, self.defs)) for b in branches(node)))

    def _string(self, node: dict, name: str, description: str) -> str:
        if is_path(name, description):
            param = PathParam(self.tool, (), path_role(name, description), path_kind(name, description))
            return benign(param) or SEED_AUDIO
        if name.endswith("base64") and self.seed_base64:
            return self.seed_base64
        for example in [*QUOTED.findall(description), *LISTED.findall(description)]:
            if len(example) >= node.get("minLength", 0) and re.fullmatch(node.get("pattern", ".*"), example):
                return example
        return "x" * max(1, node.get("minLength", 1))

    @staticmethod
    def _number(node: dict, *, integer: bool) -> float | int:
        low = node.get("minimum", node.get("exclusiveMinimum", float("-inf")))
        high = node.get("maximum", node.get("exclusiveMaximum", float("inf")))
        value = min(max(1, low), high)
        if "exclusiveMinimum" in node and value <= node["exclusiveMinimum"]:
            value = node["exclusiveMinimum"] + (1 if integer else 0.5)
        return int(value) if integer else float(value)

    def place(self, node: dict, locator: tuple[Step, ...], value: Any, name: str = "", description: str = "") -> Any:
        """A minimal instance of `node` with `value` at `locator`."""
        node = deref(node, self.defs)
        description = node.get("description") or description
        if not locator:
            return value
        step, rest = locator[0], locator[1:]
        if step[0] == "variant":
            return self.place(branches(node)[int(step[1])], rest, value, name, description)
        if step[0] == "item":
            count = min(max(2, node.get("minItems", 0)), node.get("maxItems", 2))
            items = node.get("items", {})
            filler = [self.minimal(items, name, description) for _ in range(count - 1)]
            return filler + [self.place(items, rest, value, name, description)]
        if step[0] == "value":
            key = (QUOTED.findall(description) or ["key"])[0]
            return {key: self.place(node["additionalProperties"], rest, value, name, description)}
        if step[0] == "key":
            return {step[1]: value}
        instance = self._object(node)
        instance[step[1]] = self.place(node["properties"][step[1]], rest, value, step[1])
        return instance

    def arguments(self, locator: tuple[Step, ...] = (), value: Any = None) -> dict[str, Any]:
        root = {k: v for k, v in self.schema.items() if k != "$defs"}
        instance = self.place(root, locator, value) if locator else self._object(root)
        target = locator[0][1] if locator else None
        return {**{k: copy.deepcopy(v) for k, v in self.hints.items() if k != target}, **instance} | (
            {target: instance[target]} if target else {})


# -- the sandbox ------------------------------------------------------------------------------

MODELS_DIR = "models"
SECRET_SECONDS = 0.8125
"""Bait audio has this unusual length, so a reply that read it would show it."""


def write_tone(path: Path, seconds: float, sr: int = 44100, channels: int = 2, freq: float = 440.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(round(seconds * sr), dtype=np.float32) / sr
    tone = (0.25 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    sf.write(str(path), np.tile(tone, (channels, 1)).T, sr, subtype="PCM_16")
    return path


def write_seed(path: Path, seconds: float = 3.0, sr: int = 44100) -> Path:
    """A tone with a click every half second: long enough for chromaprint, with a beat to find."""
    write_tone(path, seconds, sr)
    data, _ = sf.read(str(path), dtype="float32")
    burst = int(0.03 * sr)
    click = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(burst) / sr) * np.exp(-np.arange(burst) / (0.01 * sr))
    for start in range(0, len(data) - burst, sr // 2):
        data[start:start + burst] += click[:, None].astype(np.float32)
    sf.write(str(path), data, sr, subtype="PCM_16")
    return path


def write_midi(path: Path, notes: tuple[int, ...] = (60, 64, 67)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    song = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    song.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=500000))
    for note in notes:
        track.append(mido.Message("note_on", note=note, velocity=90, time=0))
        track.append(mido.Message("note_off", note=note, velocity=0, time=240))
    song.save(str(path))
    return path


@dataclass
class Sandbox:
    """A workspace beside an 'outside' folder that no call may read, change or add to."""

    root: Path
    workspace: Path
    outside: Path

    @classmethod
    def create(cls, root: Path) -> Sandbox:
        workspace, outside = root / "workspace", root / "outside"
        box = cls(root=root, workspace=workspace, outside=outside)
        write_tone(outside / "secret.wav", SECRET_SECONDS, freq=997.0)
        write_midi(outside / "secret.mid", notes=(61, 66))
        (outside / "secret.txt").write_text("outside the workspace\n")
        (outside / "dir").mkdir()
        write_tone(outside / "dir" / "secret.wav", SECRET_SECONDS, freq=997.0)
        write_seed(workspace / SEED_AUDIO)
        write_seed(workspace / SEED_FOLDER / SEED_AUDIO)
        write_midi(workspace / SEED_MIDI)
        box.plant_links()
        return box

    def plant_links(self) -> None:
        """Links that someone with file-system access might leave inside the workspace."""
        ws, out = self.workspace, self.outside
        for ext in ("wav", "mid"):
            (ws / f"link_file.{ext}").symlink_to(out / f"secret.{ext}")
            os.link(out / f"secret.{ext}", ws / f"hard.{ext}")
            (ws / f"dangling.{ext}").symlink_to(out / f"new.{ext}")
            (ws / f"relative_link.{ext}").symlink_to(Path("..") / "outside" / f"secret.{ext}")
        (ws / "link_dir").symlink_to(out, target_is_directory=True)
        (ws / "sub").mkdir()
        (ws / "sub" / "up").symlink_to(Path("..") / "..", target_is_directory=True)
        (ws / "internal").symlink_to(ws / ".audiolla", target_is_directory=True)
        (ws / ".audiolla").mkdir(exist_ok=True)
        os.mkfifo(ws / "fifo.wav")

    def snapshot(self) -> dict[str, tuple[int, int, str]]:
        """Everything under the sandbox root except the workspace: (size, mtime, sha1) by path."""
        state: dict[str, tuple[int, int, str]] = {}
        for dirpath, dirnames, filenames in os.walk(self.root):
            if Path(dirpath) == self.root:
                dirnames[:] = [d for d in dirnames if d not in (self.workspace.name, MODELS_DIR)]
            for name in [*filenames, *dirnames]:
                path = Path(dirpath) / name
                info = path.lstat()
                digest = hashlib.sha1(path.read_bytes()).hexdigest() if path.is_file() and not path.is_symlink() else ""
                state[path.relative_to(self.root).as_posix()] = (info.st_size, info.st_mtime_ns, digest)
        return state

    def leftovers(self) -> list[str]:
        """Temp files left in the workspace (outside the server's own state folder)."""
        return sorted(
            p.relative_to(self.workspace).as_posix()
            for p in self.workspace.rglob(".tmp-*")
            if not p.relative_to(self.workspace).as_posix().startswith(".audiolla/")
        )


# -- the escape corpus ------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    template: str

    def value(self, box: Sandbox, ext: str) -> str:
        return self.template.format(ext=ext, outside=box.outside, ws=box.workspace)


CORPUS: tuple[Case, ...] = (
    # dot-dot traversal
    Case("dotdot", "../outside/secret.{ext}"),
    Case("dotdot-deep", "../../../../../../etc/passwd"),
    Case("dotdot-after-dir", "seeds/../../outside/secret.{ext}"),
    Case("dotdot-dot", "./../outside/secret.{ext}"),
    Case("dotdot-nested", "a/b/../../../outside/secret.{ext}"),
    Case("dotdot-bare", ".."),
    Case("dotdot-slash", "../"),
    Case("dotdot-dot-segments", "seeds/./.././../outside/secret.{ext}"),
    # absolute and home
    Case("absolute-bait", "{outside}/secret.{ext}"),
    Case("absolute-etc", "/etc/passwd"),
    Case("absolute-double-slash", "//etc/passwd"),
    Case("absolute-workspace", "{ws}/seed.{ext}"),
    Case("absolute-dev", "/dev/zero"),
    Case("absolute-proc", "/proc/self/environ"),
    Case("root", "/"),
    Case("home", "~/secret.{ext}"),
    Case("home-user", "~root/.bashrc"),
    # URLs and workspace:// variants
    Case("file-url", "file://{outside}/secret.{ext}"),
    Case("http-url", "http://127.0.0.1:9/secret.{ext}"),
    Case("uri-dotdot", "workspace://../outside/secret.{ext}"),
    Case("uri-absolute", "workspace:///etc/passwd"),
    Case("uri-upper-encoded", "WORKSPACE://..%2Foutside%2Fsecret.{ext}"),
    Case("uri-encoded-dots", "workspace://%2e%2e/outside/secret.{ext}"),
    Case("uri-double-encoded", "workspace://%252e%252e/outside/secret.{ext}"),
    Case("uri-encoded-nul", "workspace://seed.wav%00.{ext}"),
    Case("uri-link", "workspace://link_dir/secret.{ext}"),
    Case("encoded-plain", "%2e%2e%2foutside%2fsecret.{ext}"),
    Case("encoded-slash", "..%2foutside%2fsecret.{ext}"),
    # Windows forms
    Case("backslash-dotdot", "..\\outside\\secret.{ext}"),
    Case("backslash-mixed", "seeds\\..\\..\\outside/secret.{ext}"),
    Case("drive", "C:\\Windows\\win.ini"),
    Case("drive-slash", "C:/Windows/win.ini"),
    Case("unc", "\\\\server\\share\\secret.{ext}"),
    # control characters
    Case("nul", "seed.wav\x00.{ext}"),
    Case("nul-only", "\x00"),
    Case("newline", "seed\n.{ext}"),
    # sizes and emptiness
    Case("overlong-name", "a" * 300 + ".{ext}"),
    Case("overlong-path", ("d" * 200 + "/") * 6 + "x.{ext}"),
    Case("blank", "   "),
    Case("dot", "."),
    # Unicode look-alikes
    Case("fullwidth-dots", "\uff0e\uff0e/outside/secret.{ext}"),
    Case("two-dot-leader", "\u2025/outside/secret.{ext}"),
    Case("fullwidth-all", "\uff0e\uff0e\uff0foutside\uff0fsecret.{ext}"),
    Case("fullwidth-root", "\uff0fetc\uff0fpasswd"),
    Case("small-full-stops", "\ufe52\ufe52/outside/secret.{ext}"),
    Case("one-dot-leaders", "\u2024\u2024/outside/secret.{ext}"),
    # links and special files planted inside the workspace
    Case("symlink-file", "link_file.{ext}"),
    Case("symlink-relative", "relative_link.{ext}"),
    Case("symlink-dir", "link_dir/secret.{ext}"),
    Case("symlink-dir-bare", "link_dir"),
    Case("symlink-up", "sub/up/outside/secret.{ext}"),
    Case("symlink-dangling", "dangling.{ext}"),
    Case("symlink-internal", "internal/jobs/x.json"),
    Case("hard-link", "hard.{ext}"),
    Case("fifo", "fifo.wav"),
    Case("hidden-internal", ".audiolla/jobs/x.json"),
)


def ext_for(param: PathParam) -> str:
    return "mid" if param.kind == "midi" else "wav"


# -- driving a real client from synchronous code ----------------------------------------------

Verdict = Literal["result", "error", "internal", "protocol", "hang", "crash"]


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    text: str
    structured: dict | None
    seconds: float

    @property
    def clean(self) -> bool:
        return self.verdict in ("result", "error") and "Traceback (most recent call last)" not in self.text


class Session:
    """A connected MCP client behind a blocking portal."""

    def __init__(self, portal: BlockingPortal, client: Client, app: Any = None):
        self.portal = portal
        self.client = client
        self.app = app

    def call(self, name: str, arguments: dict[str, Any], timeout_s: float = 30.0) -> Outcome:
        return self.portal.call(self.outcome, name, arguments, timeout_s)

    def call_many(
        self,
        calls: list[tuple[str, dict[str, Any]]],
        timeout_s: float = 30.0,
        concurrency: int = 8,
        queues: list[str] | None = None,
    ) -> list[Outcome]:
        """Many calls, outcomes in order. Calls in one queue (default: one per tool, since an
        engine may keep per-model state) run one after another; queues run side by side,
        `concurrency` at most."""
        return self.portal.call(self._call_many, calls, timeout_s, concurrency, queues or [n for n, _ in calls])

    async def _call_many(
        self, calls: list[tuple[str, dict[str, Any]]], timeout_s: float, concurrency: int, queues: list[str]
    ) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(calls)
        grouped: dict[str, list[int]] = {}
        for index, queue in enumerate(queues):
            grouped.setdefault(queue, []).append(index)
        limiter = anyio.CapacityLimiter(concurrency)

        async def drain(indices: list[int]) -> None:
            async with limiter:
                for index in indices:
                    outcomes[index] = await self.outcome(*calls[index], timeout_s)

        async with anyio.create_task_group() as group:
            for indices in grouped.values():
                group.start_soon(drain, indices)
        return outcomes  # type: ignore[return-value]

    async def outcome(self, name: str, arguments: dict[str, Any], timeout_s: float = 30.0) -> Outcome:
        """Call a tool and classify the reply; never raises for what the server does."""
        started = time.perf_counter()
        try:
            with anyio.fail_after(timeout_s):
                result = await self.client.call_tool(name, arguments)
        except TimeoutError:
            return Outcome("hang", f"no reply in {timeout_s:g} s", None, time.perf_counter() - started)
        except MCPError as exc:
            return Outcome("protocol", str(exc), None, time.perf_counter() - started)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError) as exc:
            return Outcome("crash", repr(exc), None, time.perf_counter() - started)
        text = "\n".join(getattr(block, "text", "") for block in result.content)
        verdict: Verdict = "result"
        if result.is_error:
            verdict = "internal" if text.strip() == f"Error executing tool {name}" else "error"
        return Outcome(verdict, text, result.structured_content, time.perf_counter() - started)

    def run(self, fn: Any, *args: Any) -> Any:
        """Run any client coroutine function, e.g. `session.run(session.client.list_tools)`."""
        return self.portal.call(fn, *args)

    def schemas(self) -> dict[str, dict]:
        return {tool.name: tool.input_schema for tool in self.run(self.client.list_tools).tools}


class DirectSession(Session):
    """Calls the server object's own `call_tool`: argument validation, the tool body and the
    workspace exactly as served, without the JSON-RPC round trip (several times faster), for
    matrices of thousands of calls."""

    def __init__(self, portal: BlockingPortal, server: Any, app: Any = None):
        super().__init__(portal, client=None, app=app)  # type: ignore[arg-type]
        self.server = server

    async def outcome(self, name: str, arguments: dict[str, Any], timeout_s: float = 30.0) -> Outcome:
        from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError

        started = time.perf_counter()
        try:
            with anyio.fail_after(timeout_s):
                result = await self.server.call_tool(name, arguments)
        except TimeoutError:
            return Outcome("hang", f"no reply in {timeout_s:g} s", None, time.perf_counter() - started)
        except UnexpectedToolError as exc:
            return Outcome("internal", f"{exc!r} from {exc.__cause__!r}", None, time.perf_counter() - started)
        except ToolError as exc:
            return Outcome("error", str(exc), None, time.perf_counter() - started)
        except MCPError as exc:
            return Outcome("protocol", str(exc), None, time.perf_counter() - started)
        text = "\n".join(getattr(block, "text", "") for block in result.content)
        return Outcome("error" if result.is_error else "result", text, result.structured_content, time.perf_counter() - started)

    def schemas(self) -> dict[str, dict]:
        return {tool.name: tool.input_schema for tool in self.portal.call(self.server.list_tools)}


@contextmanager
def session(target: Any, **options: Any) -> Iterator[Session]:
    """`target`: an MCPServer (in-process), StdioServerParameters, a transport or a URL."""
    with start_blocking_portal() as portal, portal.wrap_async_context_manager(Client(target, **options)) as client:
        yield Session(portal, client)


def build(box: Sandbox, **overrides: Any) -> tuple[Any, Any]:
    """An in-process server (every toolset unless `toolsets` says otherwise) on the sandbox's
    workspace, and its App; `overrides` are Settings fields."""
    from audiolla_mcp.config import Settings
    from audiolla_mcp.server import build_server, make_app

    settings = Settings.from_env(**{"workspace": box.workspace, "toolsets": ["all"], "models_dir": box.root / MODELS_DIR,
                                    **overrides})
    app = make_app(settings)
    return build_server(settings, app), app


@contextmanager
def direct_session(server: Any, app: Any) -> Iterator[DirectSession]:
    with start_blocking_portal() as portal:
        yield DirectSession(portal, server, app)


@contextmanager
def served(box: Sandbox, *, direct: bool = False, **overrides: Any) -> Iterator[Session]:
    """`build`, then a client on it (or, with `direct`, a `DirectSession`); jobs stop at the end."""
    server, app = build(box, **overrides)
    try:
        if direct:
            with direct_session(server, app) as connected:
                yield connected
        else:
            with session(server) as connected:
                connected.app = app
                yield connected
    finally:
        app.jobs.shutdown()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def http_served(box: Sandbox, **overrides: Any) -> Iterator[str]:
    """The streamable-HTTP app exactly as `serve --http` builds it, on 127.0.0.1 in a uvicorn
    thread (no process start-up to pay); yields the base URL."""
    import uvicorn

    from audiolla_mcp.transport import http_app

    server, app = build(box, **overrides)
    port = free_port()
    web = uvicorn.Server(uvicorn.Config(http_app(server, app.settings), host="127.0.0.1", port=port,
                                       log_level="warning", log_config=None))
    thread = threading.Thread(target=web.run, name="audiolla-test-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not web.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        web.should_exit = True
        thread.join(timeout=15)
        app.jobs.shutdown()


@contextmanager
def http_session(url: str, token: str | None = None, **options: Any) -> Iterator[Session]:
    """A real streamable-HTTP client (optionally with a bearer token) behind a portal."""
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    headers = {"Authorization": f"Bearer {token}"} if token else None
    with start_blocking_portal() as portal:
        http = portal.wrap_async_context_manager(create_mcp_http_client(headers=headers))
        with http as client_http:
            transport = streamable_http_client(url, http_client=client_http, max_sse_event_size=None)
            with portal.wrap_async_context_manager(Client(transport, **options)) as client:
                yield Session(portal, client)


def seed_base64(box: Sandbox) -> str:
    return base64.b64encode((box.workspace / SEED_AUDIO).read_bytes()).decode()
