"""The real `audiolla-mcp` process over stdio and streamable HTTP, on both protocol eras."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import httpx
import numpy as np
import pytest
import soundfile as sf

from .conftest import ERAS, EXPECTED_VERSION, TOKEN, HttpServer, start_http, stdio_client, stop

pytestmark = pytest.mark.slow


def write_tone(path: Path, seconds: float, sr: int = 44100, channels: int = 2) -> None:
    t = np.arange(int(seconds * sr), dtype=np.float32) / sr
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    sf.write(str(path), np.tile(tone, (channels, 1)).T, sr, subtype="PCM_16")


async def exercise(client, workspace: Path, era: str) -> None:
    """The same checks on every transport and era."""
    assert client.protocol_version == EXPECTED_VERSION[era]
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert {"audio_info", "measure_loudness", "job_status", "list_files"} <= set(tools)
    assert client.instructions and "workspace" in client.instructions
    info = await client.call_tool("audio_info", {"input": "tone.wav"})
    assert not info.is_error, info.content[0].text
    assert info.structured_content["duration_s"] == pytest.approx(1.0)
    bad = await client.call_tool("audio_info", {"input": "../../etc/passwd"})
    assert bad.is_error and "leaves the workspace" in bad.content[0].text
    wrong_type = await client.call_tool("trim", {"input": "tone.wav", "start_s": "soon"})
    assert wrong_type.is_error
    resource = await client.read_resource("workspace://tone.wav")
    assert resource.contents[0].mime_type == "audio/wav"
    listed = await client.list_resources()
    assert "workspace://tone.wav" in [str(r.uri) for r in listed.resources]
    again = await client.call_tool("list_files", {})
    assert not again.is_error  # the server is still serving after the errors


@pytest.mark.parametrize("era", ERAS)
async def test_stdio(workspace: Path, era: str) -> None:
    write_tone(workspace / "tone.wav", 1.0)
    async with stdio_client(workspace, era) as client:
        await exercise(client, workspace, era)


@pytest.mark.parametrize("era", ERAS)
async def test_http_with_token(http_server: HttpServer, workspace: Path, era: str) -> None:
    write_tone(workspace / "tone.wav", 1.0)
    async with http_server.client(era) as client:
        await exercise(client, workspace, era)


def test_http_refuses_missing_or_wrong_token_and_foreign_hosts(http_server: HttpServer) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    assert httpx.post(http_server.url, json=body, headers=headers).status_code == 401
    wrong = {**headers, "Authorization": "Bearer not-the-token"}
    assert httpx.post(http_server.url, json=body, headers=wrong).status_code == 401
    assert httpx.get(http_server.base + "/healthz").json()["status"] == "ok"
    foreign = {**headers, "Authorization": f"Bearer {TOKEN}", "Host": "evil.example:80"}
    assert httpx.post(http_server.url, json=body, headers=foreign).status_code in (400, 403, 421)


def test_http_allowed_hosts_and_body_cap(workspace: Path) -> None:
    server = start_http(workspace, "--allowed-hosts", "studio.lan:*", "--max-request-mb", "0.01")
    try:
        init = {
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
        }
        headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json", "Host": "studio.lan:8765"}
        assert httpx.post(server.url, json=init, headers=headers).status_code == 200
        huge = {**init, "params": {**init["params"], "padding": "x" * 20000}}
        assert httpx.post(server.url, json=huge, headers=headers).status_code == 413
    finally:
        stop(server.process)


@pytest.mark.parametrize("era", ERAS)
async def test_progress_notifications_arrive(workspace: Path, era: str) -> None:
    write_tone(workspace / "long.wav", 600.0, channels=1)
    updates: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append(progress / (total or 1))

    async with stdio_client(workspace, era) as client:
        result = await client.call_tool(
            "convert", {"input": "long.wav", "format": "flac", "sample_rate": 48000}, progress_callback=on_progress
        )
    assert not result.is_error, result.content[0].text
    assert len(updates) >= 2
    assert updates == sorted(updates)


async def test_cancel_stops_work_and_leaves_no_partial_file(workspace: Path) -> None:
    write_tone(workspace / "long.wav", 1800.0, channels=1)
    started = anyio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        started.set()

    async with stdio_client(workspace, "legacy") as client:
        async with anyio.create_task_group() as tg:

            async def convert() -> None:
                await client.call_tool(
                    "convert", {"input": "long.wav", "format": "wav", "sample_rate": 96000, "output": "up.wav"},
                    progress_callback=on_progress,
                )

            tg.start_soon(convert)
            with anyio.fail_after(60):
                await started.wait()
            tg.cancel_scope.cancel()
        cancelled_at = time.monotonic()
        # The server stays responsive, and the file never appears.
        listed = await client.call_tool("list_files", {})
        assert [f["path"] for f in listed.structured_content["files"]] == ["long.wav"]
        await anyio.sleep(2.0)
    assert time.monotonic() - cancelled_at < 30
    assert sorted(p.name for p in workspace.iterdir() if p.is_file()) == ["long.wav"]


async def test_background_job_survives_disconnect(http_server: HttpServer, workspace: Path) -> None:
    write_tone(workspace / "song.wav", 120.0)
    async with http_server.client("legacy") as client:
        started = await client.call_tool(
            "convert", {"input": "song.wav", "format": "flac", "sample_rate": 48000, "background": True}
        )
        assert not started.is_error, started.content[0].text
        job_id = started.structured_content["job_id"]
    # First client is gone; a new one finds the job and its result.
    async with http_server.client("auto") as client:
        with anyio.fail_after(120):
            while True:
                status = await client.call_tool("job_status", {"job_id": job_id})
                if status.structured_content["status"] not in ("queued", "running"):
                    break
                await anyio.sleep(0.2)
        result = await client.call_tool("job_result", {"job_id": job_id})
    assert result.structured_content["status"] == "succeeded"
    output = result.structured_content["result"]["output"]
    assert output["sample_rate"] == 48000 and (workspace / output["path"]).exists()


async def test_interrupted_job_is_reported_after_restart(workspace: Path) -> None:
    write_tone(workspace / "long.wav", 1800.0, channels=1)
    server = start_http(workspace, "--token", TOKEN)
    try:
        async with server.client("legacy") as client:
            started = await client.call_tool(
                "convert", {"input": "long.wav", "format": "wav", "sample_rate": 96000, "background": True}
            )
            job_id = started.structured_content["job_id"]
            with anyio.fail_after(30):
                while (await client.call_tool("job_status", {"job_id": job_id})).structured_content["status"] != "running":
                    await anyio.sleep(0.1)
    finally:
        server.process.kill()
        server.process.wait()
    async with stdio_client(workspace, "legacy") as client:
        status = await client.call_tool("job_status", {"job_id": job_id})
        listed = await client.call_tool("list_files", {})
    assert status.structured_content["status"] == "interrupted"
    assert [f["path"] for f in listed.structured_content["files"]] == ["long.wav"]
    assert not [p for p in workspace.iterdir() if p.name.startswith(".tmp-")]
