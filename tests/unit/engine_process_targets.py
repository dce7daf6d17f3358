"""Functions the engine-process tests run in the child (importable there by module name)."""

from __future__ import annotations

import os
import signal
import time

import numpy as np

from audiolla_mcp.engines.base import ENGINES, Engine
from audiolla_mcp.engines.process import in_engine_process
from audiolla_mcp.errors import ToolError
from audiolla_mcp.progress import NEVER, CancelToken, ProgressFn, no_progress


class Weights(Engine):
    family = "test"

    def load(self) -> None:
        self.weights = np.ones(1000, dtype=np.float32)

    def unload(self) -> None:
        del self.weights


@in_engine_process
def where(samples: np.ndarray) -> tuple[int, float]:
    return os.getpid(), float(samples.sum())


@in_engine_process
def count(n: int, *, progress: ProgressFn = no_progress, cancel: CancelToken = NEVER) -> int:
    for i in range(n):
        cancel.check()
        progress(i + 1, n, "counting")
        time.sleep(0.05)
    return n


@in_engine_process
def refuse(message: str) -> None:
    raise ToolError(message)


@in_engine_process
def killed() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@in_engine_process
def weigh(model: str) -> float:
    with ENGINES.use(Weights, model, "cpu") as engine:
        return float(engine.weights.sum())
