"""Shared fixtures: an isolated environment, a temp workspace, test signals, an MCP client."""

from __future__ import annotations

import inspect
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

# Libraries write caches into HOME and try the network for hub models: keep both out of tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> None:
    """Run every `async def` test on anyio (asyncio backend), without a marker on each."""
    if collector.funcnamefilter(name) and inspect.iscoroutinefunction(obj):
        pytest.mark.anyio(obj)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "workspace"
    root.mkdir()
    return root


class Signals:
    """Write known test signals into the workspace (float32 WAV unless the name says otherwise)."""

    def __init__(self, root: Path):
        self.root = root

    def write(self, name: str, samples: np.ndarray, sr: int = 44100, subtype: str | None = None) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = np.asarray(samples, dtype=np.float32)
        data = data[None, :] if data.ndim == 1 else data
        sf.write(str(path), data.T, sr, subtype=subtype or ("FLOAT" if path.suffix == ".wav" else None))
        return path

    def sine(
        self,
        name: str,
        freq: float = 1000.0,
        seconds: float = 2.0,
        sr: int = 44100,
        channels: int = 2,
        level_db: float = -12.0,
    ) -> Path:
        t = np.arange(int(round(seconds * sr))) / sr
        tone = (10 ** (level_db / 20)) * np.sin(2 * np.pi * freq * t)
        return self.write(name, np.tile(tone, (channels, 1)), sr)

    def ramp(self, name: str, seconds: float = 1.0, sr: int = 44100, channels: int = 1) -> Path:
        """A linear ramp from −0.5 to 0.5: reversal, trimming and offsets are easy to check."""
        ramp = np.linspace(-0.5, 0.5, int(round(seconds * sr)), dtype=np.float32)
        return self.write(name, np.tile(ramp, (channels, 1)), sr)

    def noise(self, name: str, seconds: float = 2.0, sr: int = 44100, channels: int = 2, level_db: float = -20.0, seed: int = 0) -> Path:
        rng = np.random.default_rng(seed)
        return self.write(name, (10 ** (level_db / 20)) * rng.standard_normal((channels, int(seconds * sr))), sr)


@pytest.fixture
def signals(workspace: Path) -> Signals:
    return Signals(workspace)


@pytest.fixture
def settings(workspace: Path, tmp_path: Path) -> Any:
    from audiolla_mcp.config import Settings

    return Settings.from_env(workspace=workspace, toolsets=["all"], models_dir=tmp_path / "models")


@pytest.fixture
def app(settings: Any) -> Any:
    """The process-wide state (workspace, jobs) behind the `server` fixture."""
    from audiolla_mcp.server import make_app

    made = make_app(settings)
    yield made
    made.jobs.shutdown()


@pytest.fixture
def server(settings: Any, app: Any) -> Any:
    from audiolla_mcp.server import build_server

    return build_server(settings, app)


@pytest.fixture
async def client(server: Any) -> AsyncIterator[Any]:
    from mcp import Client

    async with Client(server) as connected:
        yield connected


@pytest.fixture
def call(client: Any) -> Callable[[str, dict[str, Any]], Awaitable[Any]]:
    async def invoke(name: str, arguments: dict[str, Any] | None = None) -> Any:
        return await client.call_tool(name, arguments or {})

    return invoke
