"""MCP tool functions, one module per catalog category.

A tool module defines plain async functions decorated with `@tool`; the decorator only records
them. `server.py` then registers the ones `tools.yaml` marks ready, with the catalog's title,
description and annotations. Tool modules import only light modules at their top (pydantic,
typing, this package); ops and engines are imported inside the functions.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

REGISTRY: dict[str, Callable[..., Any]] = {}


def tool(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Record `fn` as the implementation of the catalog tool of the same name."""
    if fn.__name__ in REGISTRY:
        raise RuntimeError(f"tool {fn.__name__!r} is defined twice")
    REGISTRY[fn.__name__] = fn
    return fn


def load_all() -> dict[str, Callable[..., Any]]:
    """Import every tool module (cheap) and return the registry."""
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_") and module.name != "common":
            importlib.import_module(f"{__name__}.{module.name}")
    return REGISTRY
