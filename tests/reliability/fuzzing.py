"""Arguments generated from each tool's advertised input schema, valid and invalid.

Valid arguments come from hypothesis-jsonschema on the schema itself, with two narrowings that
make the calls reach real work: path slots draw from files that exist in the sandbox (plus a few
hostile and missing ones), and base64 slots from real and broken clips. Invalid arguments are
valid ones with one value of the wrong type, a required key dropped, an unknown key added, or
arbitrary JSON. `Ledger` keeps the verdicts and what the replies said they wrote.
"""

from __future__ import annotations

import base64
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from .sandbox import SEED_AUDIO, SEED_FOLDER, SEED_MIDI, Sandbox, write_midi, write_seed
from .schemas import branches, deref, is_path, path_kind, path_role, schema_types
from .sessions import Outcome

READ_PATHS = [SEED_AUDIO, f"{SEED_FOLDER}/{SEED_AUDIO}", f"./{SEED_AUDIO}", f"{SEED_FOLDER}//{SEED_AUDIO}",
              f"./{SEED_FOLDER}/{SEED_AUDIO}", f"{SEED_FOLDER}/./{SEED_AUDIO}", f"workspace://{SEED_AUDIO}",
              f"WORKSPACE://{SEED_FOLDER}/{SEED_AUDIO}", f"workspace://{SEED_MIDI}", SEED_MIDI,
              SEED_FOLDER, "missing.wav", "../outside/secret.wav", "link_file.wav", "fifo.wav"]
"""Mostly good inputs (so calls reach real work), then folders, missing files and escapes."""
WRITE_PATHS = ["fresh/out.wav", "fresh/out.flac", "fresh/out.mp3", "fresh/out.mid", "fresh/out.png", "fresh/out",
               "fresh/dir/", SEED_AUDIO, "../outside/new.wav", "link_dir/new.wav", "dangling.wav"]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def narrowed(schema: dict, box: Sandbox, tools: list[str]) -> dict:
    """The schema with path, base64 and op slots replaced by enums of interesting values, and
    the first input file made required (a call without one only tests the 'no input' message)."""
    defs = schema.get("$defs", {})
    clips = [base64.b64encode((box.workspace / SEED_AUDIO).read_bytes()[:40000]).decode(), "", "bm90IGF1ZGlv", "!!"]

    def walk(node: dict, name: str, description: str) -> dict:
        node = deref(node, defs)
        description = node.get("description") or description
        node = {k: v for k, v in node.items() if k != "$defs"}
        if branches(node):
            key = "anyOf" if "anyOf" in node else "oneOf"
            node[key] = [walk(b, name, description) for b in node[key]]
            node.pop("discriminator", None)
        types = schema_types(node)
        if "properties" in node:
            node["properties"] = {k: walk(v, k, "") for k, v in node["properties"].items()}
        if isinstance(node.get("additionalProperties"), dict):
            node["additionalProperties"] = walk(node["additionalProperties"], name, description)
        if "array" in types and isinstance(node.get("items"), dict):
            node["items"] = walk(node["items"], name, description)
        if types == {"string"} and "enum" not in node and "const" not in node:
            if is_path(name, description):
                paths = WRITE_PATHS if path_role(name, description) == "write" else READ_PATHS
                return {"enum": paths if path_kind(name, description) != "soundfont" else [*paths, "missing.sf2"]}
            if name.endswith("base64"):
                return {"enum": clips}
            if name == "op" or "tool name" in description.lower():
                return {"enum": tools}
        return node

    narrowed_schema = walk(schema, "", "")
    inputs = [key for key, sub in schema.get("properties", {}).items()
              if is_path(key, sub.get("description", "")) and path_role(key, sub.get("description", "")) == "read"]
    for key in inputs[:1]:
        narrowed_schema["required"] = sorted({*narrowed_schema.get("required", []), key})
        if "array" not in schema_types(deref(schema["properties"][key], defs)):
            narrowed_schema["properties"][key] = {"enum": READ_PATHS}
    return narrowed_schema


def valid_arguments(schema: dict) -> st.SearchStrategy[dict]:
    return from_schema(schema)


def invalid_arguments(schema: dict) -> st.SearchStrategy[dict]:
    required = schema.get("required", [])
    properties = list(schema.get("properties", {}))
    base = valid_arguments(schema)
    mutations = [
        st.dictionaries(st.text(max_size=10), JSON, max_size=4),
        st.tuples(base, st.text(min_size=1, max_size=10), JSON).map(lambda t: {**t[0], f"x_{t[1]}": t[2]}),
    ]
    if properties:
        mutations.append(st.tuples(base, st.sampled_from(properties), JSON).map(lambda t: {**t[0], t[1]: t[2]}))
    if required:
        mutations.append(st.tuples(base, st.sampled_from(required)).map(lambda t: {k: v for k, v in t[0].items() if k != t[1]}))
    return st.one_of(mutations)


def arguments(schema: dict) -> st.SearchStrategy[dict]:
    """Seven valid calls in ten, three invalid ones."""
    return st.integers(0, 9).flatmap(lambda n: valid_arguments(schema) if n < 7 else invalid_arguments(schema))


def reseed(box: Sandbox) -> None:
    """Put back the seed files a call may have moved, deleted or overwritten with something else."""
    for path in (box.workspace / SEED_AUDIO, box.workspace / SEED_FOLDER / SEED_AUDIO):
        if not path.is_file():
            write_seed(path)
    if not (box.workspace / SEED_MIDI).is_file():
        write_midi(box.workspace / SEED_MIDI)


@dataclass
class Ledger:
    """Verdict counts, the failures worth reading, and every path the replies reported."""

    verdicts: Counter = field(default_factory=Counter)
    by_tool: dict[str, Counter] = field(default_factory=dict)
    failures: list[tuple[str, str, dict, str]] = field(default_factory=list)
    reported: set[str] = field(default_factory=set)

    def record(self, tool: str, args: dict, outcome: Outcome) -> None:
        self.verdicts[outcome.verdict] += 1
        self.by_tool.setdefault(tool, Counter())[outcome.verdict] += 1
        if not outcome.clean:
            self.failures.append((tool, outcome.verdict, args, outcome.text[:300]))
        self.remember(outcome.structured)

    def remember(self, structured: dict | None) -> None:
        """Note the paths a reply names (a background job's files come with its job_result)."""
        if structured:
            self.reported |= set(_strings(structured))

    @property
    def calls(self) -> int:
        return sum(self.verdicts.values())

    def summary(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(self.verdicts.items()))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value.removeprefix("workspace://").rstrip("/")]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def unaccounted_files(box: Sandbox, ledger: Ledger, before: set[str]) -> list[str]:
    """Visible files that were not there before and that no successful reply reported: what a
    failed call would have left behind. A file inside a reported folder is accounted for."""
    found = []
    for path in box.workspace.rglob("*"):
        rel = path.relative_to(box.workspace).as_posix()
        if path.is_dir() or rel in before or any(part.startswith(".") for part in Path(rel).parts):
            continue
        if not any(rel == r or rel.startswith(r + "/") for r in ledger.reported):
            found.append(rel)
    return sorted(found)

