"""Run work off the event loop, with progress and cancellation, inline or as a background job.

Inline calls run in a worker thread while the MCP request waits; cancelling the request sets the
work's `CancelToken` and waits for the worker to stop at its next chunk boundary, so nothing keeps
running and nothing half-written stays behind. Background jobs run in a small thread pool that
outlives the request and the client connection; their records are JSON files in the workspace's
internal folder, so finished results survive a restart and interrupted jobs say so.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import anyio
import anyio.from_thread

from .errors import Cancelled, ToolError
from .progress import CancelToken, ProgressFn

log = logging.getLogger(__name__)
T = TypeVar("T")

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]
FINISHED: tuple[str, ...] = ("succeeded", "failed", "cancelled", "interrupted")
PROGRESS_INTERVAL_S = 0.2
PERSIST_INTERVAL_S = 1.0


async def run_in_worker(
    work: Callable[[ProgressFn, CancelToken], T],
    report: Callable[[float, float, str | None], Awaitable[None]] | None = None,
) -> T:
    """Run `work(progress, cancel)` in a thread; forward its progress to `report` (rate-limited).

    If the awaiting task is cancelled, the token is set and this waits (shielded) for the
    worker to notice, then re-raises the cancellation.
    """
    cancel = CancelToken()
    finished = threading.Event()
    last = [0.0]

    def progress(done: float, total: float, message: str | None = None) -> None:
        now = time.monotonic()
        if report is None or cancel.cancelled or (now - last[0] < PROGRESS_INTERVAL_S and done < total):
            return
        last[0] = now
        try:
            anyio.from_thread.run(report, float(done), float(total), message)
        except Exception:  # a client that went away must not fail the work
            log.debug("progress notification not delivered", exc_info=True)

    def target() -> T:
        try:
            return work(progress, cancel)
        finally:
            finished.set()

    try:
        return await anyio.to_thread.run_sync(target, abandon_on_cancel=True)
    except anyio.get_cancelled_exc_class():
        cancel.cancel()
        with anyio.CancelScope(shield=True):
            while not finished.is_set():
                await anyio.sleep(0.02)
        raise


@dataclass
class JobRecord:
    id: str
    tool: str
    arguments: dict[str, Any]
    status: JobStatus = "queued"
    progress: float | None = None
    message: str | None = None
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    summary: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None

    def public(self) -> dict[str, Any]:
        return asdict(self)


class JobManager:
    """Background jobs: a bounded thread pool plus one JSON record per job."""

    def __init__(self, directory: Path, max_workers: int = 2):
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self._pool = ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="audiolla-job")
        self._lock = threading.Lock()
        self._jobs: dict[str, JobRecord] = {}
        self._tokens: dict[str, CancelToken] = {}
        self._persisted_at: dict[str, float] = {}
        self._on_finish: dict[str, Callable[[JobRecord], None]] = {}
        self._load()

    # -- persistence ------------------------------------------------------------------------

    def _path(self, job_id: str) -> Path:
        return self.directory / f"{job_id}.json"

    def _save(self, record: JobRecord) -> None:
        path = self._path(record.id)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(record.public(), indent=1))
        os.replace(tmp, path)
        self._persisted_at[record.id] = time.monotonic()

    def _load(self) -> None:
        for tmp in self.directory.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
        for path in sorted(self.directory.glob("*.json")):
            try:
                record = JobRecord(**json.loads(path.read_text()))
            except (ValueError, TypeError):
                log.warning("ignoring unreadable job record %s", path.name)
                continue
            if record.status not in FINISHED:
                record.status = "interrupted"
                record.finished_at = time.time()
                record.error = "The server stopped while this job was running; start it again."
                self._save(record)
            self._jobs[record.id] = record

    # -- lifecycle --------------------------------------------------------------------------

    def submit(
        self,
        tool: str,
        arguments: dict[str, Any],
        work: Callable[[ProgressFn, CancelToken], tuple[dict, str]],
        on_finish: Callable[[JobRecord], None] | None = None,
    ) -> JobRecord:
        """Queue `work`; it returns `(structured_result, summary)`. `on_finish(record)` is called
        once the job has succeeded, failed or been cancelled (e.g. to send a webhook)."""
        record = JobRecord(id=uuid.uuid4().hex[:12], tool=tool, arguments=arguments)
        token = CancelToken()
        with self._lock:
            self._jobs[record.id] = record
            self._tokens[record.id] = token
            if on_finish is not None:
                self._on_finish[record.id] = on_finish
            self._save(record)
        self._pool.submit(self._run, record, work, token)
        return record

    def _run(self, record: JobRecord, work: Callable[[ProgressFn, CancelToken], tuple[dict, str]], token: CancelToken) -> None:
        if token.cancelled:
            return
        with self._lock:
            record.status, record.started_at = "running", time.time()
            self._save(record)

        def progress(done: float, total: float, message: str | None = None) -> None:
            record.progress = round(done / total, 4) if total else None
            record.message = message
            if time.monotonic() - self._persisted_at.get(record.id, 0.0) > PERSIST_INTERVAL_S:
                with self._lock:
                    self._save(record)

        try:
            result, summary = work(progress, token)
            record.status, record.result, record.summary, record.progress = "succeeded", result, summary, 1.0
        except Cancelled:
            record.status, record.error = "cancelled", "Cancelled on request."
        except ToolError as exc:
            record.status, record.error = "failed", str(exc)
        except Exception as exc:  # a bug: keep the server alive, record a short reason
            log.exception("job %s (%s) crashed", record.id, record.tool)
            record.status, record.error = "failed", f"Internal error in {record.tool}: {type(exc).__name__}"
        record.finished_at = time.time()
        with self._lock:
            self._tokens.pop(record.id, None)
            self._save(record)
        self._finished(record)

    def _finished(self, record: JobRecord) -> None:
        callback = self._on_finish.pop(record.id, None)
        if callback is None:
            return
        try:
            callback(record)
        except Exception:
            log.exception("on_finish of job %s failed", record.id)

    def get(self, job_id: str) -> JobRecord:
        record = self._jobs.get(job_id)
        if record is None:
            raise ToolError(f"No job {job_id!r}; call job_list to see the known jobs.")
        return record

    def cancel(self, job_id: str) -> JobRecord:
        record = self.get(job_id)
        dropped = False
        with self._lock:
            token = self._tokens.get(job_id)
            if token is not None:
                token.cancel()
                if record.status == "queued":
                    record.status, record.finished_at, record.error = "cancelled", time.time(), "Cancelled before it started."
                    self._tokens.pop(job_id, None)
                    self._save(record)
                    dropped = True
        if dropped:
            self._finished(record)
        return record

    def list(self, status: str | None = None) -> list[JobRecord]:
        records = sorted(self._jobs.values(), key=lambda r: r.created_at, reverse=True)
        return [r for r in records if status is None or r.status == status]

    def wait(self, job_id: str, timeout_s: float) -> JobRecord:
        """Block until the job finishes or `timeout_s` passes (for tests and scripts)."""
        deadline = time.monotonic() + timeout_s
        while self.get(job_id).status not in FINISHED and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.get(job_id)

    def shutdown(self) -> None:
        for token in list(self._tokens.values()):
            token.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
