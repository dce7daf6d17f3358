"""Resource limits: per-file size, input duration, workspace quota, inline uploads and running
jobs are enforced with errors that name the limit and what to do, and leave nothing behind."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPError

from .sandbox import SEED_AUDIO, SEED_FOLDER, Sandbox, write_tone
from .sessions import served

TOOLSETS = ["files", "editing", "jobs"]
MB = 1024 * 1024


@pytest.fixture
def box(tmp_path: Path) -> Sandbox:
    return Sandbox.create(tmp_path)


def files(box: Sandbox) -> set[str]:
    return {p.relative_to(box.workspace).as_posix() for p in box.workspace.rglob("*") if p.is_file()
            and not p.relative_to(box.workspace).as_posix().startswith(".audiolla/")}


def seed_base64(box: Sandbox) -> str:
    return base64.b64encode((box.workspace / SEED_AUDIO).read_bytes()).decode()


def test_per_file_cap_refuses_big_results_and_reads(box: Sandbox) -> None:
    before = files(box)
    with served(box, toolsets=TOOLSETS, max_file_mb=0.25) as client:
        big = client.call("convert", {"input": SEED_AUDIO, "format": "wav", "bit_depth": 24, "output": "big.wav"})
        assert big.verdict == "error" and "over the 0.25 MB per-file limit" in big.text, big.text
        upload = client.call("put_file", {"path": "up.bin", "data_base64": base64.b64encode(os.urandom(300_000)).decode()})
        assert upload.verdict == "error" and "per-file limit" in upload.text
        with pytest.raises(MCPError, match="read cap"):
            client.run(client.client.read_resource, f"workspace://{SEED_AUDIO}")
        small = client.call("convert", {"input": SEED_AUDIO, "format": "mp3", "output": "small.mp3"})
        assert small.verdict == "result", small.text
    assert files(box) == before | {"small.mp3"}
    assert box.leftovers() == []


def test_duration_cap_refuses_long_inputs_from_files_and_uploads(box: Sandbox) -> None:
    write_tone(box.workspace / "short.wav", 1.5)
    with served(box, toolsets=TOOLSETS, max_duration_s=2.0) as client:
        for args in ({"input": SEED_AUDIO}, {"input_base64": seed_base64(box), "input_format": "wav"}):
            long = client.call("trim", {**args, "start_s": 0.5})
            assert long.verdict == "error", long.text
            assert "is 3 s long, over this server's limit of 2 s" in long.text and "AUDIOLLA_MAX_DURATION_S" in long.text
        assert client.call("trim", {"input": "short.wav", "start_s": 0.5}).verdict == "result"
    assert not (box.workspace / "seed.trim.wav").exists()


def test_quota_refuses_writes_until_space_is_freed(box: Sandbox) -> None:
    seed_bytes = (box.workspace / SEED_AUDIO).stat().st_size
    with served(box, toolsets=TOOLSETS) as probe:
        used = probe.app.workspace.used_bytes()
    quota_mb = (used + seed_bytes // 2) / MB
    with served(box, toolsets=TOOLSETS, quota_mb=quota_mb) as client:
        full = client.call("convert", {"input": SEED_AUDIO, "format": "wav", "bit_depth": 16, "output": "copy.wav"})
        assert full.verdict == "error" and "quota" in full.text and "delete files first" in full.text, full.text
        assert not (box.workspace / "copy.wav").exists() and box.leftovers() == []
        assert client.call("delete_file", {"path": f"{SEED_FOLDER}/{SEED_AUDIO}"}).verdict == "result"
        again = client.call("convert", {"input": SEED_AUDIO, "format": "wav", "bit_depth": 16, "output": "copy.wav"})
        assert again.verdict == "result", again.text
        assert client.app.workspace.used_bytes() <= quota_mb * MB


def test_inline_upload_cap(box: Sandbox) -> None:
    with served(box, toolsets=TOOLSETS, max_base64_mb=0.1) as client:
        clip = seed_base64(box)
        for tool, args in (("trim", {"input_base64": clip, "start_s": 0.5}), ("put_file", {"path": "x.wav", "data_base64": clip})):
            outcome = client.call(tool, args)
            assert outcome.verdict == "error" and "over the 0.1 MB cap" in outcome.text, outcome.text
    assert not (box.workspace / "x.wav").exists()


def test_running_jobs_never_exceed_max_jobs(box: Sandbox) -> None:
    write_tone(box.workspace / "long.wav", 30.0, channels=1)
    with served(box, toolsets=TOOLSETS, max_jobs=1) as client:
        ids = []
        for n in range(3):
            started = client.call("convert", {"input": "long.wav", "format": "flac", "sample_rate": 48000,
                                              "output": f"job{n}.flac", "background": True})
            assert started.verdict == "result", started.text
            ids.append(started.structured["job_id"])
        most_running, queued_says, deadline = 0, "", time.monotonic() + 180
        while time.monotonic() < deadline:
            replies = [client.call("job_status", {"job_id": i}) for i in ids]
            states = [reply.structured["status"] for reply in replies]
            most_running = max(most_running, states.count("running"))
            queued_says = queued_says or next((r.text for r in replies if r.structured["status"] == "queued"), "")
            if all(s not in ("queued", "running") for s in states):
                break
            time.sleep(0.05)
    assert most_running == 1
    assert "is queued" in queued_says
    assert states == ["succeeded"] * 3
    assert all((box.workspace / f"job{n}.flac").is_file() for n in range(3))
