"""Workflow presets: named, parameterised chains of tool calls written in YAML.

A preset file (built in under `presets/`, or the operator's own in `--presets-dir`) says:

    title: Master for streaming
    description: What it does and when to use it.
    promise: what the result meets (checked by the tests)
    params:
      target_lufs: {type: number, default: -14, min: -30, max: -6, description: ...}
    steps:
      - id: master
        op: normalize_loudness
        params: {target_lufs: "${target_lufs}"}
      - id: check
        op: check_delivery
        params: {input: "${steps.master.output.path}", spec: spotify}
    outputs: [master]

Values may use `${name}` for a parameter (or `input`, the input path, and `stem`, its name
without folder and extension), `${steps.ID.field[0].field}` for a field of an earlier step's
result (a list item by index, or by a field value: `outputs[stem=vocals]`), and `${prev.field}`
for the step just before. A value that is a single reference keeps its type; references inside a
longer string are formatted into it; `$${` writes a literal `${`. A step without `input` takes
the audio the previous steps produced. `when: "${param}"` skips a step when the value is false,
zero or empty. Every file is checked when the server starts; an invalid one stops the start with
its file and line.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import catalog
from .errors import ToolError

log = logging.getLogger(__name__)

PRESETS_DIR = "presets"
MAX_STEPS = 32
BUILTIN_NAMES = ("input", "stem")
RESERVED_STEP_PARAMS = (
    "output",
    "overwrite",
    "in_place",
    "inline",
    "background",
    "webhook_url",
    "input_base64",
    "input_format",
)
"""The runner names, places and runs every step itself; a step may not set these."""
EXCLUDED_CATEGORIES = ("workflow", "jobs", "system")
NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

# -- references ---------------------------------------------------------------------------------

_TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_SEGMENT = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(-?[0-9]+)\]|\[([A-Za-z_][A-Za-z0-9_]*)=([^\]]*)\]")
PathItem = str | int | tuple[str, str]


@dataclass(frozen=True)
class Ref:
    """`${...}`: a parameter (`root='param'`), a field of a step, or of the previous step."""

    text: str
    root: Literal["param", "step", "prev"]
    name: str
    path: tuple[PathItem, ...] = ()
    filters: tuple[str, ...] = ()

    def apply(self, value: Any) -> Any:
        for name in self.filters:
            value = FILTERS[name](value)
        return value


FILTERS: dict[str, Callable[[Any], Any]] = {
    "round": lambda v: int(round(float(v))),
    "text": lambda v: _text(v),
}
"""`${ref|round}` rounds to a whole number; `${ref|text}` passes the value as a string."""


def parse_ref(text: str) -> Ref:
    body, *filters = [part.strip() for part in text.split("|")]
    unknown = [f for f in filters if f not in FILTERS]
    if unknown:
        raise ValueError(f"${{{text}}}: unknown filter {unknown[0]!r} (use {', '.join(FILTERS)})")
    ref = _parse_path(text, body)
    return Ref(ref.text, ref.root, ref.name, ref.path, tuple(filters))


def _parse_path(text: str, body: str) -> Ref:
    if body.startswith("steps."):
        match = re.match(r"steps\.([A-Za-z][A-Za-z0-9_]*)", body)
        if not match:
            raise ValueError(f"${{{text}}}: write steps.<step id>.<field>")
        root, name, rest = "step", match.group(1), body[match.end() :]
    elif body == "prev" or body.startswith(("prev.", "prev[")):
        root, name, rest = "prev", "prev", body[4:]
    elif IDENT.match(body):
        return Ref(text, "param", body)
    else:
        raise ValueError(f"${{{text}}} is not a parameter name, steps.<id>.<field> or prev.<field>")
    path: list[PathItem] = []
    position = 0
    while position < len(rest):
        segment = _SEGMENT.match(rest, position)
        if not segment:
            raise ValueError(f"${{{text}}}: cannot read {rest[position:]!r} (use .field, [0] or [field=value])")
        name_, index, key, value = segment.groups()
        path.append(name_ if name_ is not None else int(index) if index is not None else (key, value))
        position = segment.end()
    return Ref(text, root, name, tuple(path))  # type: ignore[arg-type]


def refs_in(value: Any) -> Iterator[Ref]:
    """Every reference in a (nested) value; raises ValueError for a malformed one."""
    if isinstance(value, str):
        for match in _TOKEN.finditer(value):
            if match.group(1) is not None:
                yield parse_ref(match.group(1))
    elif isinstance(value, dict):
        for item in value.values():
            yield from refs_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from refs_in(item)


def substitute(value: Any, lookup: Callable[[Ref], Any]) -> Any:
    """Replace references: a lone reference keeps its value's type, others are formatted in."""
    if isinstance(value, dict):
        return {key: substitute(item, lookup) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, lookup) for item in value]
    if not isinstance(value, str):
        return value
    whole = _TOKEN.fullmatch(value)
    if whole and whole.group(1) is not None:
        ref = parse_ref(whole.group(1))
        return ref.apply(lookup(ref))

    def replace(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return "${"
        ref = parse_ref(match.group(1))
        return _text(ref.apply(lookup(ref)))

    return _TOKEN.sub(replace, value)


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no", "off", "none")
    return bool(value)


# -- steps (shared by presets and ad-hoc pipelines) ---------------------------------------------


@dataclass(frozen=True)
class Step:
    id: str
    op: str
    params: dict[str, Any] = field(default_factory=dict)
    when: Any = None
    where: str = ""
    """How errors name this step: "presets/x.yaml:12: step 2 'glue'" or "steps[1] 'glue'"."""


def default_ids(ops: list[tuple[str | None, str]]) -> list[str]:
    """Step ids: the given one, else the op's name (numbered when an op repeats)."""
    ids: list[str] = []
    for given, op in ops:
        if given:
            ids.append(given)
            continue
        candidate, n = op, 2
        while candidate in ids or any(g == candidate for g, _ in ops):
            candidate, n = f"{op}_{n}", n + 1
        ids.append(candidate)
    return ids


def check_steps(steps: list[Step], names: set[str], outputs: list[str] | None = None) -> None:
    """What can be checked without the tools: ops, ids, references, reserved parameters."""
    if not steps:
        raise ToolError("A pipeline needs at least one step.")
    if len(steps) > MAX_STEPS:
        raise ToolError(f"The pipeline has {len(steps)} steps; at most {MAX_STEPS} run in one call. Split it.")
    entries = {e.name: e for e in catalog.load_catalog()}
    seen: dict[str, int] = {}
    for index, step in enumerate(steps):
        if not IDENT.match(step.id):
            raise ToolError(f"{step.where}: the id must start with a letter and use letters, digits and '_'.")
        if step.id in seen:
            raise ToolError(f"{step.where}: another step already has the id {step.id!r}; ids must be unique.")
        entry = entries.get(step.op)
        if entry is None:
            raise ToolError(f"{step.where}: unknown op {step.op!r}; list_ops shows the ops a pipeline can run.")
        if not pipeline_op(entry):
            raise ToolError(
                f"{step.where}: {step.op} cannot run inside a pipeline (workflow, job, system and file-changing tools are excluded)."
            )
        reserved = sorted(set(step.params) & set(RESERVED_STEP_PARAMS))
        if reserved:
            raise ToolError(
                f"{step.where}: {', '.join(reserved)} cannot be set on a step; the pipeline names and writes "
                "the outputs itself (use the output and keep_intermediates arguments of the run)."
            )
        try:
            references = list(refs_in(step.params)) + list(refs_in(step.when))
        except ValueError as exc:
            raise ToolError(f"{step.where}: {exc}") from None
        if step.when is not None and not isinstance(step.when, bool) and not _single_ref(step.when):
            raise ToolError(f"{step.where}: when must be true/false or a single reference such as '${{key_shift}}'.")
        for ref in references:
            _check_ref(ref, step, index, seen, names)
        seen[step.id] = index
    for output in outputs or []:
        if output not in seen:
            raise ToolError(f"outputs names {output!r}, which is not a step id ({', '.join(seen)}).")


def pipeline_op(entry: catalog.CatalogEntry) -> bool:
    if entry.category in EXCLUDED_CATEGORIES:
        return False
    return entry.read_only or entry.category != "files"


def _single_ref(value: Any) -> bool:
    return isinstance(value, str) and bool(_TOKEN.fullmatch(value.strip())) and value.strip()[:2] == "${"


def _check_ref(ref: Ref, step: Step, index: int, seen: dict[str, int], names: set[str]) -> None:
    if ref.root == "param":
        if ref.name not in names:
            known = ", ".join(sorted(names)) or "none"
            raise ToolError(f"{step.where}: ${{{ref.text}}} names no parameter (known: {known}).")
    elif ref.root == "prev":
        if index == 0:
            raise ToolError(f"{step.where}: ${{{ref.text}}} — the first step has no previous step.")
    elif ref.name == step.id:
        raise ToolError(f"{step.where}: ${{{ref.text}}} refers to the step itself (a cycle).")
    elif ref.name not in seen:
        raise ToolError(
            f"{step.where}: ${{{ref.text}}} refers to step {ref.name!r}, which does not run before this one "
            "(steps run top to bottom; a later step would make a cycle)."
        )


# -- preset files -------------------------------------------------------------------------------


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParamSpec(_Spec):
    type: Literal["number", "integer", "string", "boolean"] = "number"
    description: str
    default: Any = None
    min: float | None = None
    max: float | None = None
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _default_fits(self) -> ParamSpec:
        if self.choices is not None:
            self.choices = [coerce(self, c, "choices") for c in self.choices]
        if self.default is not None:
            self.default = coerce(self, self.default, "default")
        return self

    @property
    def required(self) -> bool:
        return self.default is None


class StepSpec(_Spec):
    id: str | None = None
    op: str
    params: dict[str, Any] = Field(default_factory=dict)
    when: bool | str | None = None
    description: str | None = None


class PresetSpec(_Spec):
    name: str | None = None
    title: str
    description: str
    promise: str | None = None
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    steps: list[StepSpec] = Field(min_length=1, max_length=MAX_STEPS)
    outputs: list[str] | None = None

    @field_validator("params")
    @classmethod
    def _param_names(cls, params: dict[str, ParamSpec]) -> dict[str, ParamSpec]:
        for name in params:
            if not IDENT.match(name) or name in (*BUILTIN_NAMES, "steps", "prev"):
                raise ValueError(
                    f"{name!r} cannot be a parameter name (letters, digits, '_'; not input/stem/steps/prev)"
                )
        return params


def coerce(spec: ParamSpec, value: Any, what: str) -> Any:
    """A parameter value in its declared type (numeric strings are accepted), within range."""
    given = value
    try:
        if spec.type == "boolean":
            if isinstance(value, str) and value.strip().lower() in (
                "true",
                "false",
                "yes",
                "no",
                "1",
                "0",
                "on",
                "off",
            ):
                value = value.strip().lower() in ("true", "yes", "1", "on")
            if not isinstance(value, bool):
                raise ValueError
        elif spec.type == "integer":
            number = float(value) if not isinstance(value, bool) else None
            if number is None or not number.is_integer():
                raise ValueError
            value = int(number)
        elif spec.type == "number":
            if isinstance(value, bool):
                raise ValueError
            value = float(value)
        else:
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise ValueError
            value = str(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: {value!r} is not {'an' if spec.type == 'integer' else 'a'} {spec.type}") from None
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if numeric and (spec.min is not None and value < spec.min or spec.max is not None and value > spec.max):
        raise ValueError(f"{what}: {given!r} is outside {spec.min}…{spec.max}")
    if spec.choices is not None and what != "choices" and value not in spec.choices:
        raise ValueError(f"{what}: {given!r} is not one of {', '.join(map(str, spec.choices))}")
    return value


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    description: str
    promise: str | None
    params: dict[str, ParamSpec]
    steps: tuple[Step, ...]
    outputs: tuple[str, ...] | None
    source: Path
    text: str

    @property
    def ops(self) -> list[str]:
        return list(dict.fromkeys(step.op for step in self.steps))

    def bind(self, overrides: dict[str, Any] | None) -> dict[str, Any]:
        """Parameter values: defaults, then the caller's overrides, each checked."""
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(self.params))
        if unknown:
            known = ", ".join(self.params) or "none"
            raise ToolError(f"{self.name} has no parameter {', '.join(map(repr, unknown))}; its parameters: {known}.")
        values: dict[str, Any] = {}
        for name, spec in self.params.items():
            if name in overrides and overrides[name] is not None:
                try:
                    values[name] = coerce(spec, overrides[name], f"params.{name}")
                except ValueError as exc:
                    raise ToolError(f"{self.name}: {exc}.") from None
            elif spec.required:
                raise ToolError(f"{self.name} needs params.{name} ({spec.description}).")
            else:
                values[name] = spec.default
        return values

    def describe_params(self) -> list[dict[str, Any]]:
        return [
            {"name": name, **spec.model_dump(exclude_none=True), "required": spec.required}
            for name, spec in self.params.items()
        ]


# -- YAML with line numbers ---------------------------------------------------------------------


class _Mapping(dict):
    """A YAML mapping that remembers the line of itself and of each key."""

    line: int = 0
    key_lines: dict[Any, int]


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _Mapping:
    loader.flatten_mapping(node)
    mapping = _Mapping()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise _LineError(key_node.start_mark.line + 1, f"{key!r} appears twice")
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = key_node.start_mark.line + 1
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class _LineError(Exception):
    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line


def _line_of(data: Any, loc: tuple[Any, ...]) -> int:
    """The line of the deepest mapping key on the path `loc` through the loaded YAML."""
    line = getattr(data, "line", 1)
    node = data
    for part in loc:
        if isinstance(node, _Mapping) and part in node:
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            line = getattr(node, "line", line)
        else:
            break
    return line


def parse_preset(path: Path, text: str | None = None) -> Preset:
    """Read and check one preset file; ToolError('file:line: problem') when it is invalid."""
    text = path.read_text() if text is None else text
    where = _display(path)
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except _LineError as exc:
        raise ToolError(f"{where}:{exc.line}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise ToolError(f"{where}:{line}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(data, _Mapping):
        raise ToolError(f"{where}:1: a preset is a mapping with title, description, params and steps")
    try:
        spec = PresetSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        label = ".".join(str(p) for p in loc) or "preset"
        raise ToolError(f"{where}:{_line_of(data, loc)}: {label}: {message}") from None
    name = spec.name or path.stem
    if not NAME.match(name) or name != path.stem:
        raise ToolError(
            f"{where}:{data.key_lines.get('name', 1)}: the name must be the file name ({path.stem!r}), lowercase with '-'"
        )
    raw_steps = data["steps"]
    ids = default_ids([(s.id, s.op) for s in spec.steps])
    steps = [
        Step(
            id=ids[i],
            op=s.op,
            params=s.params,
            when=s.when,
            where=f"{where}:{getattr(raw_steps[i], 'line', 1)}: step {i + 1} {ids[i]!r}",
        )
        for i, s in enumerate(spec.steps)
    ]
    names = set(spec.params) | set(BUILTIN_NAMES)
    try:
        check_steps(steps, names, spec.outputs)
    except ToolError as exc:
        message = str(exc)
        if not message.startswith(where):
            message = f"{where}:{data.key_lines.get('outputs', 1)}: {message}"
        raise ToolError(message) from None
    return Preset(
        name=name,
        title=spec.title,
        description=" ".join(spec.description.split()),
        promise=" ".join(spec.promise.split()) if spec.promise else None,
        params=spec.params,
        steps=tuple(steps),
        outputs=tuple(spec.outputs) if spec.outputs else None,
        source=path,
        text=text,
    )


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def builtin_dir() -> Path:
    """`presets/` of the source checkout, else the copy installed with the package."""
    checkout = Path(__file__).resolve().parents[2] / PRESETS_DIR
    if checkout.is_dir():
        return checkout
    return Path(str(resources.files("audiolla_mcp") / PRESETS_DIR))


def load_presets(user_dir: Path | None = None) -> dict[str, Preset]:
    """Every preset, built-in first; the operator's own replace built-ins of the same name.

    All files are checked; the error lists every invalid one with its file and line."""
    folders = [builtin_dir()] + ([Path(user_dir).expanduser()] if user_dir else [])
    presets: dict[str, Preset] = {}
    problems: list[str] = []
    for folder in folders:
        if not folder.is_dir():
            if folder is not folders[0]:
                problems.append(f"{folder}: the presets folder does not exist")
            continue
        for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            try:
                preset = parse_preset(path)
            except ToolError as exc:
                problems.append(str(exc))
                continue
            if preset.name in presets:
                log.info("preset %s from %s replaces %s", preset.name, path, presets[preset.name].source)
            presets[preset.name] = preset
    if problems:
        raise ToolError("Invalid preset(s):\n" + "\n".join(problems))
    return presets


# -- resources ----------------------------------------------------------------------------------


def register_resources(server: Any, app: Any) -> None:
    """`audiolla://presets` (the list) and `audiolla://presets/{name}` (one preset's YAML)."""

    @server.resource(
        "audiolla://presets",
        name="presets",
        title="Workflow presets",
        description="The named workflows: name, title, description, parameters and the tools each calls.",
        mime_type="application/json",
    )
    def preset_list() -> str:
        return json.dumps(
            [
                {
                    "name": p.name,
                    "title": p.title,
                    "description": p.description,
                    "promise": p.promise,
                    "params": p.describe_params(),
                    "ops": p.ops,
                    "uri": f"audiolla://presets/{p.name}",
                }
                for p in app.presets.values()
            ],
            indent=1,
        )

    @server.resource(
        "audiolla://presets/{name}",
        name="preset",
        title="Workflow preset",
        description="One preset's YAML: parameters with defaults and the exact steps it runs.",
        mime_type="application/yaml",
    )
    def preset_text(name: str) -> str:
        preset = app.presets.get(name)
        if preset is None:
            raise MCPError(code=INVALID_PARAMS, message=f"No preset {name!r}; read audiolla://presets for the list.")
        return preset.text
