"""Durability: `kill -9` the real server process during a background job and during a file
write, start it again on the same workspace, and check what a client then sees: the job reads
`interrupted`, no partial or temp file exists, and the listing, the resources and the disk agree.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import soundfile as sf
from e2e.conftest import HttpServer, start_http, stop

from .sandbox import write_tone
from .sessions import Session, http_session

TOOLSETS = ("--toolsets", "files,editing,jobs")


def restart(workspace: Path) -> HttpServer:
    return start_http(workspace, *TOOLSETS)


def kill9(server: HttpServer) -> None:
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=30)
    assert server.process.returncode == -signal.SIGKILL


def wait_until(condition: Callable[[], bool], timeout_s: float = 120.0, step_s: float = 0.005) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step_s)
    return False


def temp_files(workspace: Path) -> list[Path]:
    return [p for p in workspace.rglob(".tmp-*") if ".audiolla" not in p.parts]


def assert_consistent(client: Session, workspace: Path) -> list[str]:
    """list_files, resources/list and the disk name the same files; no temp file anywhere."""
    listed = sorted(f["path"] for f in client.call("list_files", {}).structured["files"])
    resources = sorted(str(r.uri).removeprefix("workspace://") for r in client.run(client.client.list_resources).resources
                       if str(r.uri).startswith("workspace://"))
    on_disk = sorted(p.relative_to(workspace).as_posix() for p in workspace.rglob("*")
                     if p.is_file() and not any(part.startswith(".") for part in p.relative_to(workspace).parts))
    assert listed == resources == on_disk
    assert temp_files(workspace) == []
    return listed


@pytest.mark.slow
def test_kill_during_a_background_job_and_during_a_write(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    write_tone(workspace / "long.wav", 600.0)
    server = restart(workspace)
    try:
        # 1. A background job is running when the process dies.
        with http_session(server.url, mode="legacy") as client:
            started = client.call("convert", {"input": "long.wav", "format": "flac", "sample_rate": 48000,
                                              "output": "job.flac", "background": True})
            job_id = started.structured["job_id"]
            assert wait_until(lambda: client.call("job_status", {"job_id": job_id}).structured["status"] == "running",
                              step_s=0.05)
        kill9(server)
        server = restart(workspace)
        with http_session(server.url, mode="legacy") as client:
            status = client.call("job_status", {"job_id": job_id})
            assert status.structured["status"] == "interrupted", status.text
            assert "stopped while this job was running" in status.text
            assert assert_consistent(client, workspace) == ["long.wav"]

            # 2. An inline call is writing its output when the process dies.
            call = client.portal.start_task_soon(client.outcome, "convert", {"input": "long.wav", "format": "flac",
                                                                              "output": "inline.flac"}, 300.0)
            assert wait_until(lambda: any(p.stat().st_size > 0 for p in temp_files(workspace) if p.exists()))
            written_pid = int(temp_files(workspace)[0].name.split("-")[1])
            kill9(server)
            assert written_pid == server.process.pid
            assert call.result(timeout=60).verdict in ("crash", "protocol", "hang")
        server = restart(workspace)
        with http_session(server.url, mode="legacy") as client:
            listed = assert_consistent(client, workspace)
            assert client.call("job_list", {}).structured["jobs"][0]["status"] == "interrupted"
        assert listed in (["long.wav"], ["inline.flac", "long.wav"])
        if "inline.flac" in listed:  # the rename won the race with the kill: the file must be whole
            assert sf.info(str(workspace / "inline.flac")).duration == pytest.approx(600.0)
    finally:
        stop(server.process)


def test_orphaned_temp_files_are_removed_at_start_and_live_ones_kept(tmp_path: Path) -> None:
    from audiolla_mcp.workspace import Workspace

    root = tmp_path / "workspace"
    (root / "sub").mkdir(parents=True)
    dead = root / "sub" / f".tmp-{2**22 + 12345}-abcd.wav"  # above Linux's pid_max: no such process
    live = root / f".tmp-{os.getpid()}-efgh.wav"
    unnamed = root / ".tmp-k2j3h4.wav"  # no writer recorded: cannot be anyone's live write
    for path in (dead, live, unnamed):
        path.write_bytes(b"partial")
    workspace = Workspace(root)
    assert not dead.exists() and not unnamed.exists() and live.exists()
    assert workspace.used_bytes() == len(b"partial")
    dead.write_bytes(b"partial")
    assert workspace.remove_orphaned_temp_files() == ["sub/" + dead.name]
