"""The engine lifecycle shared by every model family.

An engine wraps one loaded model. `ENGINES.use(EngineClass, model, device)` loads it on first
use, keeps it while any caller holds it, and a reaper thread unloads it once it has been idle
for `ENGINES.ttl` seconds (the server's `engine_ttl` setting, default 600). Engines never import
torch at module level; `torch_runtime()` does it once and sets the thread count from the cores
this process may use.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from ..errors import ToolError

log = logging.getLogger(__name__)

DEFAULT_TTL_S = 600.0


def cpu_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


_torch_ready = threading.Lock()


def torch_runtime() -> Any:
    """Import torch once, with one intra-op thread per usable core."""
    with _torch_ready:
        import torch

        cores = cpu_cores()
        if torch.get_num_threads() != cores:
            torch.set_num_threads(cores)
        return torch


def check_device(spec: str) -> str:
    """The spec, normalised, if it names a device this server understands (without torch)."""
    spec = spec.strip().lower()
    if spec not in ("auto", "cpu", "cuda") and not (spec.startswith("cuda:") and spec[5:].isdigit()):
        raise ToolError(f"unknown device {spec!r}; use auto, cpu, cuda or cuda:N")
    return spec


def resolve_device(spec: str | None = None) -> str:
    """`auto` (CUDA when present, else CPU), `cpu`, `cuda` or `cuda:N` → a torch device string."""
    spec = check_device(spec or os.environ.get("AUDIOLLA_DEVICE") or "auto")
    if spec == "cpu":
        return "cpu"
    try:
        import torch
    except ImportError:
        if spec == "auto":
            return "cpu"
        raise ToolError(
            f"device {spec} needs torch; install 'audiolla-mcp[all]' or use cpu"
        ) from None
    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if spec == "auto":
        return "cuda:0" if available else "cpu"
    index = int(spec[5:]) if ":" in spec else 0
    if index >= available:
        raise ToolError(
            f"device {spec} is not available ({available} CUDA device(s)); use cpu or auto"
        )
    return f"cuda:{index}"


def module_bytes(*modules: Any) -> int:
    """Bytes held by the parameters and buffers of torch modules (None entries skipped)."""
    total = 0
    for module in modules:
        if module is None:
            continue
        for tensor in [*module.parameters(), *module.buffers()]:
            total += tensor.numel() * tensor.element_size()
    return total


def process_rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def release_memory() -> None:
    """Give freed model memory back to the OS, so idle RSS really drops after an unload."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class Engine:
    """One loaded model. Subclasses set `family`, implement `load`, and release references in
    `unload`; their own methods do the work. `memory_bytes` feeds `list_engines`."""

    family: ClassVar[str] = ""

    def __init__(self, model: str, device: str) -> None:
        self.model = model
        self.device = device

    def load(self) -> None:
        raise NotImplementedError

    def unload(self) -> None:
        """Drop every reference to the model; the registry then releases the memory."""

    def memory_bytes(self) -> int:
        return 0


E = TypeVar("E", bound=Engine)


@dataclass
class _Slot:
    engine: Engine
    loaded: bool = False
    users: int = 0
    last_used: float = 0.0
    loaded_at: float = 0.0
    evict: bool = False

    def __post_init__(self) -> None:
        self.load_lock = threading.Lock()


@dataclass(frozen=True)
class EngineInfo:
    family: str
    model: str
    device: str
    state: str
    users: int
    memory_mb: float
    idle_s: float
    loaded_s: float


class EngineRegistry:
    """Loaded engines keyed by (family, model, device)."""

    def __init__(self, ttl: float = DEFAULT_TTL_S) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._slots: dict[tuple[str, str, str], _Slot] = {}
        self._reaper: threading.Thread | None = None
        self._wake = threading.Event()

    def set_ttl(self, seconds: float) -> None:
        """Idle seconds before an engine is unloaded; the reaper re-checks at once."""
        self.ttl = max(0.0, seconds)
        self._wake.set()

    @contextmanager
    def use(self, cls: type[E], model: str, device: str | None = None) -> Iterator[E]:
        """Hold a loaded engine for the duration of the block."""
        resolved = resolve_device(device) if cls.family not in _CPU_ONLY else "cpu"
        key = (cls.family, model, resolved)
        with self._lock:
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = _Slot(cls(model, resolved))
            slot.users += 1
            slot.evict = False
        try:
            with slot.load_lock:
                if not slot.loaded:
                    started = time.monotonic()
                    slot.engine.load()
                    slot.loaded, slot.loaded_at = True, time.monotonic()
                    log.info(
                        "loaded %s/%s on %s in %.1f s",
                        cls.family,
                        model,
                        resolved,
                        slot.loaded_at - started,
                    )
            yield slot.engine  # type: ignore[misc]
        finally:
            with self._lock:
                slot.users -= 1
                slot.last_used = time.monotonic()
                if not slot.loaded and slot.users == 0:
                    self._slots.pop(key, None)
                drop = slot.evict and slot.users == 0
            if drop and self._unload(key):
                release_memory()
            self._ensure_reaper()

    def _unload(self, key: tuple[str, str, str]) -> bool:
        with self._lock:
            slot = self._slots.get(key)
            if slot is None or slot.users:
                return False
            del self._slots[key]
        with slot.load_lock:
            if slot.loaded:
                slot.engine.unload()
                slot.loaded = False
        log.info("unloaded %s/%s", key[0], key[1])
        return True

    def sweep(self, ttl: float | None = None) -> list[str]:
        """Unload engines idle for at least `ttl` seconds; returns their `family/model` names."""
        ttl = self.ttl if ttl is None else ttl
        now = time.monotonic()
        with self._lock:
            idle = [
                k
                for k, s in self._slots.items()
                if s.loaded and not s.users and now - s.last_used >= ttl
            ]
        gone = [f"{k[0]}/{k[1]}" for k in idle if self._unload(k)]
        if gone:
            release_memory()
        return gone

    def unload_all(self) -> list[str]:
        """Unload every idle engine now; busy ones go as soon as their run ends."""
        with self._lock:
            for slot in self._slots.values():
                if slot.users:
                    slot.evict = True
        return self.sweep(ttl=0.0)

    def list(self) -> list[EngineInfo]:
        now = time.monotonic()
        with self._lock:
            slots = list(self._slots.values())
        return [
            EngineInfo(
                family=s.engine.family,
                model=s.engine.model,
                device=s.engine.device,
                state=("in use" if s.users else "idle") if s.loaded else "loading",
                users=s.users,
                memory_mb=round(s.engine.memory_bytes() / 2**20, 1) if s.loaded else 0.0,
                idle_s=0.0 if s.users else round(now - s.last_used, 1),
                loaded_s=round(now - s.loaded_at, 1) if s.loaded else 0.0,
            )
            for s in slots
        ]

    def _ensure_reaper(self) -> None:
        with self._lock:
            if self._reaper is not None and self._reaper.is_alive():
                return
            self._reaper = threading.Thread(
                target=self._reap, name="audiolla-engine-reaper", daemon=True
            )
            self._reaper.start()

    def _reap(self) -> None:
        while True:
            self._wake.wait(timeout=max(1.0, min(60.0, self.ttl / 4)))
            self._wake.clear()
            self.sweep()
            with self._lock:
                if not self._slots:
                    self._reaper = None
                    return


# Families that never touch torch run on the CPU whatever the device setting says.
_CPU_ONLY = frozenset({"silero", "deepfilter-onnx"})

ENGINES = EngineRegistry()


def list_engines() -> list[EngineInfo]:
    return ENGINES.list()


def unload_all() -> list[str]:
    return ENGINES.unload_all()
