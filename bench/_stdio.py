"""Shared bits for the stdio benchmarks: spawn a server command and talk MCP to it."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from mcp import Client, StdioServerParameters

VENV_BIN = Path(sys.executable).parent


def audiolla(workspace: Path, *args: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=str(VENV_BIN / "audiolla-mcp"),
        args=["--workspace", str(workspace), "--log-level", "WARNING", *args],
    )


def stats_ms(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p99 = ms[min(len(ms) - 1, int(round(0.99 * (len(ms) - 1))))]
    return f"median {statistics.median(ms):7.1f} ms   p99 {p99:7.1f} ms   n={len(ms)}"


__all__ = ["Client", "audiolla", "stats_ms"]
