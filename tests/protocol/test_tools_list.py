"""What an agent sees in tools/list: documented, typed, annotated — and unchanged unless meant."""

from __future__ import annotations

import json
import os
from pathlib import Path

SNAPSHOT = Path(__file__).parent / "snapshots" / "tools_list.json"


def _walk_properties(schema: dict, defs: dict, path: str):
    """Every parameter, including fields of nested models, with its schema."""
    for name, prop in schema.get("properties", {}).items():
        yield f"{path}{name}", prop
        for ref in _refs(prop):
            target = defs[ref.rsplit("/", 1)[-1]]
            yield from _walk_properties(target, defs, f"{path}{name}.")


def _refs(prop: dict) -> list[str]:
    found = []
    for key in ("$ref",):
        if key in prop:
            found.append(prop[key])
    for key in ("anyOf", "oneOf", "allOf"):
        for option in prop.get(key, []):
            found += _refs(option)
    if "items" in prop:
        found += _refs(prop["items"])
    return found


async def test_every_parameter_is_described_and_every_tool_is_typed(client):
    tools = (await client.list_tools()).tools
    assert tools
    for tool in tools:
        assert tool.description and tool.title, tool.name
        assert tool.output_schema and tool.output_schema.get("type") == "object", tool.name
        assert tool.annotations is not None and tool.annotations.read_only_hint is not None, tool.name
        schema = tool.input_schema
        defs = schema.get("$defs", {})
        undocumented = [name for name, prop in _walk_properties(schema, defs, "") if not prop.get("description") and "$ref" not in prop]
        assert undocumented == [], f"{tool.name}: parameters without a description: {undocumented}"


async def test_tools_list_matches_snapshot(client):
    tools = (await client.list_tools()).tools
    current = {
        t.name: {
            "title": t.title,
            "description": t.description,
            "input": t.input_schema,
            "output": t.output_schema,
            "annotations": t.annotations.model_dump(by_alias=True, exclude_none=True) if t.annotations else None,
        }
        for t in sorted(tools, key=lambda t: t.name)
    }
    if os.environ.get("AUDIOLLA_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(json.dumps(current, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    assert SNAPSHOT.exists(), "no snapshot yet: run with AUDIOLLA_UPDATE_SNAPSHOTS=1 and review the diff"
    expected = json.loads(SNAPSHOT.read_text())
    assert sorted(current) == sorted(expected), "tools added or removed: update the snapshot (AUDIOLLA_UPDATE_SNAPSHOTS=1)"
    for name in current:
        assert json.loads(json.dumps(current[name])) == expected[name], f"{name} changed: review and update the snapshot"
