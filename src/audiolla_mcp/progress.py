"""Progress reporting and cooperative cancellation for long-running ops.

Ops and engines take `progress` and `cancel` keyword arguments; both are optional so an op can
be called directly in a test or a script. They call `progress(done, total, message)` at chunk
boundaries and `cancel.check()` between chunks, which raises `Cancelled` once the call or job
has been cancelled.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from .errors import Cancelled

ProgressFn = Callable[[float, float, str | None], None]


def no_progress(done: float, total: float, message: str | None = None) -> None:
    """The default progress sink: ops call it unconditionally."""


class CancelToken:
    """A flag shared between the caller and a worker thread."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise `Cancelled` if cancellation was requested."""
        if self._event.is_set():
            raise Cancelled()


NEVER = CancelToken()
"""A token nobody cancels, for direct calls."""


def chunks(
    total: int,
    size: int,
    progress: ProgressFn = no_progress,
    cancel: CancelToken = NEVER,
    message: str | None = None,
) -> Iterator[tuple[int, int]]:
    """Yield `(start, stop)` windows over `total` items, reporting progress and honouring
    cancellation at each boundary."""
    size = max(1, int(size))
    for start in range(0, max(total, 0), size):
        cancel.check()
        stop = min(total, start + size)
        yield start, stop
        progress(stop, total, message)
    cancel.check()
