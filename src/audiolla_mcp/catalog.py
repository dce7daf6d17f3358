"""The tool catalog (`tools.yaml`): names, toolsets, descriptions, annotations, status.

Code defines what a tool does; the catalog defines how it is presented and whether it is exposed.
Toolsets: `default` (the everyday ~30 tools), one per category, and `all`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from mcp_types import ToolAnnotations

from .errors import ToolError

CATALOG_FILE = "tools.yaml"


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    category: str
    toolsets: tuple[str, ...]
    title: str
    description: str
    read_only: bool
    destructive: bool
    idempotent: bool
    open_world: bool
    extra: Literal["core", "separation", "speech", "tagging"]
    status: Literal["ready", "planned"]

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    def in_toolsets(self, selected: list[str]) -> bool:
        return "all" in selected or self.category in selected or any(t in selected for t in self.toolsets)

    def annotations(self) -> ToolAnnotations:
        return ToolAnnotations(
            title=self.title,
            read_only_hint=self.read_only,
            destructive_hint=self.destructive,
            idempotent_hint=self.idempotent,
            open_world_hint=self.open_world,
        )


def _catalog_path() -> Path:
    """tools.yaml from the source checkout, else the copy installed with the package."""
    checkout = Path(__file__).resolve().parents[2] / CATALOG_FILE
    if checkout.is_file():
        return checkout
    return Path(str(resources.files("audiolla_mcp") / CATALOG_FILE))


@cache
def load_catalog(path: Path | None = None) -> tuple[CatalogEntry, ...]:
    data = yaml.safe_load((path or _catalog_path()).read_text())
    entries = []
    for item in data["tools"]:
        notes = item.get("annotations", {})
        entries.append(
            CatalogEntry(
                name=item["name"],
                category=item["category"],
                toolsets=tuple(item.get("toolsets") or ()),
                title=item["title"],
                description=" ".join(item["description"].split()),
                read_only=bool(notes.get("read_only", False)),
                destructive=bool(notes.get("destructive", False)),
                idempotent=bool(notes.get("idempotent", False)),
                open_world=bool(notes.get("open_world", False)),
                extra=item.get("extra", "core"),
                status=item.get("status", "planned"),
            )
        )
    names = [e.name for e in entries]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"{CATALOG_FILE} lists {sorted(duplicates)} more than once")
    return tuple(entries)


def toolset_names(entries: tuple[CatalogEntry, ...] | None = None) -> list[str]:
    entries = entries or load_catalog()
    named = {t for e in entries for t in e.toolsets} | {e.category for e in entries}
    return ["all", *sorted(named)]


def select(toolsets: list[str], entries: tuple[CatalogEntry, ...] | None = None) -> list[CatalogEntry]:
    """The ready entries exposed for a toolset selection such as ['default', 'midi']."""
    entries = entries or load_catalog()
    known = set(toolset_names(entries))
    unknown = [t for t in toolsets if t not in known]
    if unknown:
        raise ToolError(f"Unknown toolset(s) {unknown}; choose from {', '.join(sorted(known))}.")
    return [e for e in entries if e.ready and e.in_toolsets(toolsets)]
