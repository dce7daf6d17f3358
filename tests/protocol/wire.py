"""Assertions on tool results as they travel over the wire (camelCase JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def wire(result: Any) -> dict:
    return result.model_dump(by_alias=True, mode="json", exclude_none=True)


def assert_tool_error(result: Any, *fragments: str) -> str:
    """An isError result whose text names every fragment and carries no traceback."""
    data = wire(result)
    assert data.get("isError") is True, data
    text = data["content"][0]["text"]
    for fragment in fragments:
        assert fragment in text, text
    assert "Traceback" not in text
    return text


def workspace_files(root: Path) -> list[str]:
    """Visible files in the workspace (server state under .audiolla excluded)."""
    return sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
