"""File, job, trim and convert tools through a real in-process MCP client, checked as wire JSON."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from wire import assert_tool_error, wire, workspace_files


async def test_list_files(call, signals):
    signals.sine("a.wav", seconds=0.5)
    signals.sine("stems/b.wav", seconds=0.5)
    data = wire(await call("list_files", {"pattern": "*.wav"}))
    assert data["structuredContent"]["count"] == 2
    assert [f["uri"] for f in data["structuredContent"]["files"]] == ["workspace://a.wav", "workspace://stems/b.wav"]
    only = wire(await call("list_files", {"prefix": "stems"}))
    assert only["structuredContent"]["files"][0]["path"] == "stems/b.wav"
    assert_tool_error(await call("list_files", {"prefix": "../"}), "leaves the workspace")


async def test_put_get_move_delete_round_trip(call, workspace):
    payload = b"\x00\x01binary\xff" * 100
    put = wire(await call("put_file", {"path": "up/data.bin", "data_base64": base64.b64encode(payload).decode()}))
    assert put["structuredContent"]["bytes"] == len(payload)
    assert_tool_error(
        await call("put_file", {"path": "up/data.bin", "data_base64": base64.b64encode(b"x").decode()}), "overwrite"
    )
    got = wire(await call("get_file", {"path": "workspace://up/data.bin"}))
    assert base64.b64decode(got["structuredContent"]["data_base64"]) == payload
    moved = wire(await call("move_file", {"source": "up/data.bin", "destination": "kept/data.bin"}))
    assert moved["structuredContent"]["destination"]["path"] == "kept/data.bin"
    assert workspace_files(workspace) == ["kept/data.bin"]
    assert wire(await call("delete_file", {"path": "kept/data.bin"}))["structuredContent"]["deleted"] == "kept/data.bin"
    assert workspace_files(workspace) == []
    assert_tool_error(await call("delete_file", {"path": "kept/data.bin"}), "No file", "list_files")


async def test_put_file_refuses_bad_base64_and_escapes(call, workspace):
    assert_tool_error(await call("put_file", {"path": "a.bin", "data_base64": "not base64!!"}), "not valid base64")
    assert_tool_error(await call("put_file", {"path": "/etc/x", "data_base64": "AAAA"}), "absolute")
    assert_tool_error(await call("put_file", {"path": "../x", "data_base64": "AAAA"}), "leaves the workspace")
    assert workspace_files(workspace) == []


async def test_audio_info(call, signals):
    signals.sine("a.wav", seconds=1.5, sr=48000, channels=1)
    data = wire(await call("audio_info", {"input": "a.wav"}))
    info = data["structuredContent"]
    assert (info["duration_s"], info["sample_rate"], info["channels"], info["frames"]) == (1.5, 48000, 1, 72000)
    assert info["bit_depth"] == 32
    assert "1.50 s" in data["content"][0]["text"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"", "empty"), (b"hello, I am text" * 50, "not an audio file"), (b"RIFF\x10\x00\x00\x00WAVEfmt ", "not an audio file")],
)
async def test_bad_audio_is_a_clear_error_and_server_keeps_serving(call, workspace, content, fragment):
    (workspace / "bad.wav").write_bytes(content)
    assert_tool_error(await call("audio_info", {"input": "bad.wav"}), fragment)
    assert_tool_error(await call("trim", {"input": "bad.wav", "start_s": 0.1}), fragment)
    assert workspace_files(workspace) == ["bad.wav"]
    assert not wire(await call("list_files", {})).get("isError")


async def test_schema_rejects_wrong_types_and_ranges(call, signals, workspace):
    signals.sine("a.wav", seconds=0.5)
    assert_tool_error(await call("trim", {"input": "a.wav", "start_s": "soon"}))
    assert_tool_error(await call("trim", {"input": "a.wav", "start_s": -1}))
    assert_tool_error(await call("convert", {"input": "a.wav", "format": "xyz"}))
    assert_tool_error(await call("normalize_loudness", {"input": "a.wav", "target_lufs": 10}))
    assert_tool_error(await call("no_such_tool", {}), "no_such_tool")
    assert workspace_files(workspace) == ["a.wav"]


async def test_trim_is_sample_exact(call, signals, workspace):
    signals.ramp("r.wav", seconds=1.0, sr=48000)
    result = wire(await call("trim", {"input": "r.wav", "start_s": 0.25, "end_s": 0.5}))
    out = result["structuredContent"]["output"]
    assert out["path"] == "r.trim.wav" and out["uri"] == "workspace://r.trim.wav"
    data, _ = sf.read(workspace / out["path"], dtype="float32")
    original, _ = sf.read(workspace / "r.wav", dtype="float32")
    assert len(data) == 12000
    np.testing.assert_allclose(data, original[12000:24000], atol=2 / 2**23)
    assert result["structuredContent"]["start_s"] == 0.25 and result["structuredContent"]["end_s"] == 0.5


async def test_trim_never_overwrites_and_bad_ranges_write_nothing(call, signals, workspace):
    signals.ramp("r.wav", seconds=1.0)
    first = wire(await call("trim", {"input": "r.wav", "end_s": 0.5}))
    second = wire(await call("trim", {"input": "r.wav", "end_s": 0.5}))
    assert (first["structuredContent"]["output"]["path"], second["structuredContent"]["output"]["path"]) == (
        "r.trim.wav",
        "r.trim-2.wav",
    )
    assert_tool_error(await call("trim", {"input": "r.wav", "output": "r.trim.wav", "end_s": 0.5}), "overwrite")
    assert_tool_error(await call("trim", {"input": "r.wav", "start_s": 5.0}))
    assert_tool_error(await call("trim", {"input": "r.wav", "start_s": 0.6, "end_s": 0.5}))
    assert_tool_error(await call("trim", {"input": "r.wav", "start_s": 1e308}), "past the end")
    assert_tool_error(await call("trim", {"input": "r.wav", "end_s": 1e308}), "past the end")
    assert workspace_files(workspace) == ["r.trim-2.wav", "r.trim.wav", "r.wav"]


async def test_convert_formats_rates_and_channels(call, signals, workspace):
    signals.sine("a.wav", seconds=1.0, sr=44100, channels=2)
    for fmt, extra in [("flac", {"bit_depth": 16}), ("mp3", {"bitrate_kbps": 128}), ("opus", {}), ("m4a", {}), ("ogg", {})]:
        result = wire(await call("convert", {"input": "a.wav", "format": fmt, **extra}))
        out = result["structuredContent"]["output"]
        assert out["format"] == fmt and out["path"] == f"a.{fmt}"
        assert (workspace / out["path"]).stat().st_size == out["bytes"]
    mono = wire(await call("convert", {"input": "a.wav", "format": "wav", "sample_rate": 16000, "channels": 1, "bit_depth": 16}))
    out = mono["structuredContent"]["output"]
    assert (out["sample_rate"], out["channels"], out["duration_s"]) == (16000, 1, 1.0)
    info = sf.info(str(workspace / out["path"]))
    assert (info.samplerate, info.channels, info.subtype, info.frames) == (16000, 1, "PCM_16", 16000)


async def test_inline_audio_and_base64_input(call, workspace):
    t = np.arange(22050) / 22050
    buffer = io.BytesIO()
    sf.write(buffer, 0.2 * np.sin(2 * np.pi * 440 * t), 22050, format="WAV")
    encoded = base64.b64encode(buffer.getvalue()).decode()
    result = wire(await call("trim", {"input_base64": encoded, "input_format": "wav", "end_s": 0.5, "inline": True}))
    kinds = [c["type"] for c in result["content"]]
    assert kinds == ["text", "audio"] and result["content"][1]["mimeType"] == "audio/wav"
    assert result["structuredContent"]["output"]["path"] == "upload.trim.wav"
    assert_tool_error(await call("trim", {"input_base64": "@@@", "end_s": 0.5}), "base64")
    assert_tool_error(await call("trim", {"input": "x.wav", "input_base64": encoded}), "not both")
    assert_tool_error(await call("trim", {"end_s": 0.5}), "No input")


async def test_base64_cap(workspace, tmp_path):
    from mcp import Client

    from audiolla_mcp.config import Settings
    from audiolla_mcp.server import build_server

    server = build_server(Settings.from_env(workspace=workspace, toolsets=["all"], max_base64_mb=0.001))
    async with Client(server) as client:
        big = base64.b64encode(b"\0" * 5000).decode()
        assert_tool_error(
            await client.call_tool("put_file", {"path": "a.bin", "data_base64": big}), "cap", "workspace folder"
        )
    assert workspace_files(workspace) == []


async def test_jobs_run_in_background(call, client, signals, workspace, app):
    signals.sine("a.wav", seconds=2.0)
    started = wire(await call("convert", {"input": "a.wav", "format": "flac", "background": True}))
    job_id = started["structuredContent"]["job_id"]
    assert started["structuredContent"].get("output") is None and job_id in started["content"][0]["text"]
    app.jobs.wait(job_id, 30)
    status = wire(await call("job_status", {"job_id": job_id}))["structuredContent"]
    assert status["status"] == "succeeded" and status["progress"] == 1.0
    result = wire(await call("job_result", {"job_id": job_id}))["structuredContent"]
    assert result["result"]["output"]["path"] == "a.flac"
    listed = wire(await call("job_list", {"status": "succeeded"}))["structuredContent"]["jobs"]
    assert [j["job_id"] for j in listed] == [job_id]
    record = await client.read_resource(f"audiolla://jobs/{job_id}")
    assert '"succeeded"' in record.contents[0].text
    assert_tool_error(await call("job_status", {"job_id": "nope"}), "job_list")
    assert_tool_error(await call("trim", {"input": "a.wav", "background": True}))


async def test_failed_background_job_keeps_its_reason(call, workspace, app):
    (workspace / "bad.wav").write_bytes(b"junk" * 100)
    job_id = wire(await call("convert", {"input": "bad.wav", "format": "flac", "background": True}))["structuredContent"]["job_id"]
    app.jobs.wait(job_id, 30)
    result = wire(await call("job_result", {"job_id": job_id}))["structuredContent"]
    assert result["status"] == "failed" and "not an audio file" in result["error"]
    assert workspace_files(workspace) == ["bad.wav"]
