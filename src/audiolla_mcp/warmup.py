"""Compile the JIT kernels the tools use, so no user's first call pays for it.

The installer runs `python -m audiolla_mcp.warmup` once; numba caches compiled code on disk.
Each ops/engines module with a JIT-heavy path offers a `warm()` that runs it on a tiny signal.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys
import time

log = logging.getLogger("audiolla_mcp.warmup")

PACKAGES = ("audiolla_mcp.ops", "audiolla_mcp.engines")


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        path = importlib.import_module(package).__path__
        names += [f"{package}.{m.name}" for m in pkgutil.iter_modules(path) if not m.name.startswith("_")]
    return names


def warm_all() -> int:
    failures = 0
    for name in _modules():
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
