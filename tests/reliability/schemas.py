"""What the server advertises, read for paths: which parameters of a tool's input schema name
workspace files (at any depth), and minimal valid arguments with one value planted anywhere.

Discovery works from parameter names and descriptions, so tools that land later are covered
without edits.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any, Literal

from .sandbox import SEED_AUDIO, SEED_FOLDER, SEED_MIDI

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
    def ext(self) -> str:
        """The extension of the bait that fits this parameter."""
        return "mid" if self.kind == "midi" else "wav"

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
