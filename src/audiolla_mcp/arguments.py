"""Argument errors an LLM can act on, checked before a tool runs (for clients and pipelines alike):
misspelt names are refused rather than silently ignored, numbers must be finite, and validation
failures read `end_s: must be greater than 0 (got -3)`, one line per field."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError


def argument_problem(name: str, schema: dict[str, Any], metadata: Any, arguments: dict[str, Any]) -> str | None:
    """What is wrong with `arguments` for tool `name`, or None when they validate."""
    known = schema.get("properties", {})
    unknown = sorted(set(arguments) - set(known))
    if unknown:
        return f"{name} does not take {', '.join(map(repr, unknown))}; its parameters are: {', '.join(known)}."
    infinite = next(_non_finite(arguments), None)
    if infinite:
        return f"Invalid arguments for {name}: {infinite}: must be a finite number."
    try:
        metadata.validate_arguments(arguments)
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_url=False):
            where = ".".join(str(part) for part in error["loc"]) or "arguments"
            message = error["msg"].removeprefix("Value error, ")
            got = f" (got {error['input']!r})" if error["type"] not in ("missing",) and "input" in error else ""
            lines.append(f"{where}: {message}{got}")
        return f"Invalid arguments for {name}: " + "; ".join(lines[:10]) + "."
    return None


def _non_finite(value: Any, where: str = "") -> Iterator[str]:
    """Locations of NaN and ±Infinity (which lenient JSON parsers accept) anywhere in `value`."""
    if isinstance(value, float) and not math.isfinite(value):
        yield where or "arguments"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _non_finite(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _non_finite(item, f"{where}.{index}")
