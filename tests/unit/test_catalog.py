"""tools.yaml and the code agree; toolsets select what they promise."""

from __future__ import annotations

import pytest

from audiolla_mcp import catalog
from audiolla_mcp.errors import ToolError
from audiolla_mcp.tools import load_all

CATEGORIES = {"files", "analysis", "editing", "effects", "mastering", "separation", "speech", "tagging", "midi", "visualize", "metadata", "workflow", "jobs", "system"}


def test_every_ready_tool_has_code_and_every_tool_in_code_is_ready() -> None:
    entries = {e.name: e for e in catalog.load_catalog()}
    code = set(load_all())
    assert sorted(code - set(entries)) == [], "tools defined in code but missing from tools.yaml"
    ready = {name for name, e in entries.items() if e.ready}
    assert sorted(ready - code) == [], "tools.yaml marks these ready but no code defines them"
    assert sorted(code - ready) == [], "code defines these but tools.yaml still says planned"


def test_entries_are_complete() -> None:
    for entry in catalog.load_catalog():
        assert entry.category in CATEGORIES, entry.name
        assert entry.title and entry.description.endswith((".", ")")), entry.name
        assert len(entry.description) >= 20, entry.name
        assert entry.extra in ("core", "separation", "speech", "tagging")
        assert not (entry.read_only and entry.destructive), entry.name


def test_default_toolset_is_the_everyday_set() -> None:
    default = [e for e in catalog.load_catalog() if "default" in e.toolsets]
    assert 25 <= len(default) <= 35


def test_selection() -> None:
    everything = catalog.select(["all"])
    assert {e.name for e in catalog.select(["default", "midi"])} <= {e.name for e in everything}
    assert all(e.ready for e in everything)
    assert {e.category for e in catalog.select(["jobs"])} == {"jobs"}
    assert "all" in catalog.toolset_names() and "default" in catalog.toolset_names()
    with pytest.raises(ToolError, match="Unknown toolset"):
        catalog.select(["nope"])
