"""Compile the JIT kernels the tools use, so no user's first call pays for it.

The installer runs `python -m audiolla_mcp.warmup` once; numba caches compiled code on disk.
Each ops/engines module with a JIT-heavy path offers a `warm()` that runs it on a tiny signal.
"""

from __future__ import annotations

import importlib
import logging
import sys
import time

log = logging.getLogger("audiolla_mcp.warmup")

MODULES = (
    "audiolla_mcp.ops.analysis",
    "audiolla_mcp.ops.beats",
    "audiolla_mcp.ops.key",
    "audiolla_mcp.ops.chords",
    "audiolla_mcp.ops.melody",
    "audiolla_mcp.ops.structure",
    "audiolla_mcp.ops.edit",
    "audiolla_mcp.ops.pitch",
    "audiolla_mcp.ops.restore",
    "audiolla_mcp.engines.basic_pitch",
)


def warm_all() -> int:
    failures = 0
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            log.info("skip %s (%s)", name, exc)
            continue
        warm = getattr(module, "warm", None)
        if warm is None:
            continue
        started = time.perf_counter()
        try:
            warm()
            log.info("warmed %s in %.1f s", name, time.perf_counter() - started)
        except Exception:
            failures += 1
            log.exception("warming %s failed", name)
    return failures


if __name__ == "__main__":
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="[warmup] %(message)s")
    raise SystemExit(1 if warm_all() else 0)
