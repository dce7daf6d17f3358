"""Torch engines run in a child process, so the server gets their memory back.

A process that has imported torch and run a model keeps 300–550 MB after every model is freed
(the library itself, allocator arenas), and a model's threads compete with the server's own for
the interpreter. So the functions marked `@in_engine_process` run in one child process when a
tool calls them (the tool layer wraps each tool body in `engine_process(enabled)`; the
`engine_process` setting, on by default): the arguments go over a socket pair, progress and the
result come back, and a cancel is forwarded to the child's token. The child keeps its own engine
registry (lazy load, idle TTL) and says when it holds no engine and runs nothing; the parent then
stops it, and the server is back at its start-up memory. Called directly (tests, scripts, the
child itself), the functions run in the calling process.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import itertools
import logging
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import Any, TypeVar

from ..errors import Cancelled, ToolError
from ..progress import NEVER, CancelToken, ProgressFn, no_progress
from .base import DEFAULT_TTL_S, ENGINES, EngineInfo

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

_ISOLATED: ContextVar[bool] = ContextVar("audiolla_engine_process", default=False)
PASSED_ENVIRONMENT = ("AUDIOLLA_", "HF_", "TRANSFORMERS_", "TORCH_", "XDG_", "HOME")
"""Variables the engines read (model cache, offline switches); each call carries their values."""
CONTROL_TIMEOUT_S = 30.0
IDLE_CHECK_S = 0.5


@contextlib.contextmanager
def engine_process(enabled: bool) -> Iterator[None]:
    """Within the block, `@in_engine_process` functions run in the child process if `enabled`."""
    token = _ISOLATED.set(enabled)
    try:
        yield
    finally:
        _ISOLATED.reset(token)


def in_engine_process(fn: F) -> F:
    """Run `fn` in the engine process when a tool body calls it; its `progress` and `cancel`
    keyword arguments (if it takes them) are bridged across."""
    target = f"{fn.__module__}:{fn.__qualname__}"
    bridged = "progress" in inspect.signature(fn).parameters

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        if not _ISOLATED.get():
            return fn(*args, **kwargs)
        progress = kwargs.pop("progress", no_progress) if bridged else no_progress
        cancel = kwargs.pop("cancel", NEVER) if bridged else NEVER
        return ENGINE_PROCESS.call(target, args, kwargs, bridged, progress, cancel)

    return call  # type: ignore[return-value]


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(PASSED_ENVIRONMENT)}


# ---------------------------------------------------------------------------------------------
# Parent side
# ---------------------------------------------------------------------------------------------

class _Child:
    """One running child: its process, the parent's end of the socket, the calls waiting."""

    def __init__(self, ttl: float, on_idle: Callable[[_Child], None]) -> None:
        ours, theirs = socket.socketpair()
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", f"from {__name__} import serve; serve({theirs.fileno()})"],
            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=2, env=env,  # library prints stay off stdout
        )
        theirs.close()
        self.conn = Connection(ours.detach())
        self.waiting: dict[int, queue.SimpleQueue] = {}
        self.calls = 0
        self._send_lock = threading.Lock()
        self._on_idle = on_idle
        self.send(("ttl", 0, ttl))
        threading.Thread(target=self._read, name="audiolla-engine-process-reader", daemon=True).start()

    def send(self, message: tuple) -> None:
        try:
            with self._send_lock:
                self.conn.send(message)
        except (OSError, ValueError) as exc:
            raise ToolError(f"the engine process is not running ({exc}); try the call again") from None

    def _read(self) -> None:
        try:
            while True:
                message = self.conn.recv()
                if message[0] == "idle":
                    self._on_idle(self)
                elif (replies := self.waiting.get(message[1])) is not None:
                    replies.put(message)
        except (EOFError, OSError):
            pass
        self.conn.close()
        for replies in list(self.waiting.values()):
            replies.put(("stopped", 0))

    def stop(self) -> None:
        """Shut the socket down (the child exits on end of file, our reader ends) and reap it."""
        with contextlib.suppress(OSError), socket.socket(fileno=os.dup(self.conn.fileno())) as end:
            end.shutdown(socket.SHUT_RDWR)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def rss_mb(self) -> float:
        try:
            with open(f"/proc/{self.proc.pid}/statm") as fh:
                pages = int(fh.read().split()[1])
        except (OSError, ValueError, IndexError):
            return 0.0
        return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


class EngineProcess:
    """The parent's handle on the child: started on the first call, stopped when it is idle."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._child: _Child | None = None
        self._ids = itertools.count(1)
        self.ttl = DEFAULT_TTL_S

    @property
    def running(self) -> bool:
        return self._child is not None

    def set_ttl(self, seconds: float) -> None:
        self.ttl = max(0.0, seconds)
        with self._lock:
            child = self._child
        if child is not None:
            child.send(("ttl", 0, self.ttl))

    def call(self, target: str, args: tuple, kwargs: dict, bridged: bool, progress: ProgressFn,
             cancel: CancelToken) -> Any:
        cancel.check()
        child, call_id, replies = self._begin(counted=True)
        try:
            child.send(("call", call_id, target, args, kwargs, bridged, _environment()))
            asked_to_cancel = False
            while True:
                if cancel.cancelled and not asked_to_cancel:
                    child.send(("cancel", call_id))
                    asked_to_cancel = True
                try:
                    message = replies.get(timeout=0.1)
                except queue.Empty:
                    if child.proc.poll() is not None:
                        raise ToolError(self._stopped_message(child)) from None
                    continue
                kind = message[0]
                if kind == "progress":
                    progress(*message[2:])
                elif kind == "result":
                    return message[2]
                elif kind == "error":
                    raise message[2]
                else:
                    raise ToolError(self._stopped_message(child))
        finally:
            self._end(child, call_id, counted=True)

    def engines(self) -> list[EngineInfo]:
        """The engines the child holds (none when it is not running)."""
        return self._control("engines") or []

    def unload_all(self) -> list[str]:
        """Unload the child's idle engines and stop it if nothing runs there."""
        gone = self._control("unload") or []
        with self._lock:
            if self._child is not None and not self._child.calls:
                self._stop_locked()
        return gone

    def rss_mb(self) -> float:
        with self._lock:
            return self._child.rss_mb() if self._child is not None else 0.0

    def stop(self) -> None:
        with self._lock:
            if self._child is not None:
                self._stop_locked()

    def _control(self, kind: str) -> Any:
        with self._lock:
            if self._child is None:
                return None
        child, call_id, replies = self._begin(counted=False)
        try:
            child.send((kind, call_id))
            message = replies.get(timeout=CONTROL_TIMEOUT_S)
            return message[2] if message[0] == "result" else None
        except (queue.Empty, ToolError):
            return None
        finally:
            self._end(child, call_id, counted=False)

    def _begin(self, counted: bool) -> tuple[_Child, int, queue.SimpleQueue]:
        with self._lock:
            if self._child is None or self._child.proc.poll() is not None:
                self._child = _Child(self.ttl, self._child_idle)
                log.info("started the engine process (pid %d)", self._child.proc.pid)
            child, call_id, replies = self._child, next(self._ids), queue.SimpleQueue()
            child.waiting[call_id] = replies
            child.calls += counted
            return child, call_id, replies

    def _end(self, child: _Child, call_id: int, counted: bool) -> None:
        with self._lock:
            child.waiting.pop(call_id, None)
            child.calls -= counted

    def _child_idle(self, child: _Child) -> None:
        with self._lock:
            if child is self._child and not child.calls:
                self._stop_locked()

    def _stop_locked(self) -> None:
        child, self._child = self._child, None
        assert child is not None
        child.stop()
        log.info("stopped the idle engine process")

    @staticmethod
    def _stopped_message(child: _Child) -> str:
        try:
            code = child.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        how = f"exit code {code}" if code is None or code >= 0 else f"signal {-code}"
        hint = " (out of memory?)" if code == -9 else ""
        return (f"the engine process stopped during the call ({how}{hint}); see the server log, "
                "then try again, perhaps with a shorter input")


ENGINE_PROCESS = EngineProcess()


# ---------------------------------------------------------------------------------------------
# Child side
# ---------------------------------------------------------------------------------------------

def serve(fd: int) -> None:
    """The child's main loop: run calls in threads until the parent closes the socket."""
    logging.basicConfig(stream=sys.stderr, level=os.environ.get("AUDIOLLA_LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s [engine process]: %(message)s")
    _Worker(Connection(fd)).serve()


class _Worker:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._send_lock = threading.Lock()
        self.tokens: dict[int, CancelToken] = {}

    def serve(self) -> None:
        threading.Thread(target=self._watch_idle, name="audiolla-idle-watch", daemon=True).start()
        try:
            while True:
                kind, call_id, *rest = self.conn.recv()
                if kind == "call":
                    self.tokens[call_id] = CancelToken()
                    threading.Thread(target=self._run, args=(call_id, *rest), daemon=True).start()
                elif kind == "cancel" and call_id in self.tokens:
                    self.tokens[call_id].cancel()
                elif kind == "ttl":
                    ENGINES.set_ttl(rest[0])
                elif kind == "engines":
                    self._send(("result", call_id, ENGINES.list()))
                elif kind == "unload":
                    self._send(("result", call_id, ENGINES.unload_all()))
        except (EOFError, OSError):
            pass
        os._exit(0)  # calls still running die with the parent's interest in them

    def _run(self, call_id: int, target: str, args: tuple, kwargs: dict, bridged: bool,
             environment: dict[str, str]) -> None:
        token = self.tokens[call_id]
        _apply_environment(environment)
        if bridged:
            kwargs = dict(kwargs, cancel=token,
                          progress=lambda done, total, message=None: self._send(("progress", call_id, done, total, message)))
        try:
            value = _resolve(target)(*args, **kwargs)
            self._send(("result", call_id, value), what=target)
        except BaseException as exc:  # everything goes back to the caller, who decides
            if not isinstance(exc, (ToolError, Cancelled)):
                log.exception("%s failed", target)
            self._send(("error", call_id, exc), what=target)
        finally:
            self.tokens.pop(call_id, None)

    def _send(self, message: tuple, what: str = "") -> None:
        try:
            data = ForkingPickler.dumps(message)
        except Exception as exc:  # noqa: BLE001 (pickling raises anything; say what it was)
            data = ForkingPickler.dumps(("error", message[1], RuntimeError(f"{what}: {message[2]!r} ({exc})")))
        with self._send_lock:
            self.conn.send_bytes(data)

    def _watch_idle(self) -> None:
        """Tell the parent when no engine is loaded and nothing runs (twice in a row)."""
        quiet = 0
        while True:
            time.sleep(IDLE_CHECK_S)
            quiet = quiet + 1 if not self.tokens and not ENGINES.list() else 0
            if quiet >= 2:
                with contextlib.suppress(OSError):
                    self._send(("idle", 0))


def _apply_environment(environment: dict[str, str]) -> None:
    """Make the caller's engine-related variables current (only a test changes them)."""
    for name in [k for k in os.environ if k.startswith(PASSED_ENVIRONMENT) and k not in environment]:
        del os.environ[name]
    for name, value in environment.items():
        if os.environ.get(name) != value:
            os.environ[name] = value


def _resolve(target: str) -> Callable[..., Any]:
    """`module:qualified.name` → the undecorated function."""
    module_name, _, qualname = target.partition(":")
    found: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        found = getattr(found, part)
    return getattr(found, "__wrapped__", found)
