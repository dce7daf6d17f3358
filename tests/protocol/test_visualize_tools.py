"""Visual tools over a real in-process MCP client: PNGs inline and in the workspace, videos."""

from __future__ import annotations

import base64
import io
import subprocess

import pytest
from PIL import Image


def wire(result) -> dict:
    return result.model_dump(by_alias=True, mode="json", exclude_none=True)


def ok(result) -> dict:
    data = wire(result)
    assert not data.get("isError"), data["content"][0]["text"]
    return data


def stream_types(path) -> list[str]:
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0",
                            str(path)], capture_output=True, text=True, check=True)
    return sorted(probe.stdout.split())


@pytest.mark.parametrize(("tool", "args"), [
    ("spectrogram", {"width": 640, "height": 360, "scale": "mel"}),
    ("waveform", {"width": 640, "height": 360, "scale": "db"}),
    ("plot_loudness", {"width": 640, "height": 360, "target_lufs": -14}),
])
async def test_images_come_back_inline_and_as_files(call, signals, workspace, tool, args):
    signals.sine("tone.wav", seconds=5.0)
    data = ok(await call(tool, {"input": "tone.wav", **args}))
    image = data["structuredContent"]["image"]
    assert image["mime_type"] == "image/png" and image["path"].endswith(".png")
    inline = [c for c in data["content"] if c["type"] == "image"]
    assert len(inline) == 1 and inline[0]["mimeType"] == "image/png"
    png = base64.b64decode(inline[0]["data"])
    assert png == (workspace / image["path"]).read_bytes()
    assert Image.open(io.BytesIO(png)).size == (640, 360)
    assert data["structuredContent"]["duration_s"] == pytest.approx(5.0)


async def test_image_errors(call, signals, workspace):
    signals.sine("tone.wav", seconds=1.0, sr=22050)
    data = wire(await call("spectrogram", {"input": "tone.wav", "fmax": 20000}))
    assert data["isError"] and "fmax" in data["content"][0]["text"]
    data = wire(await call("waveform", {"input": "../outside.wav"}))
    assert data["isError"] and "Traceback" not in data["content"][0]["text"]
    assert not list(workspace.glob("*.png"))


async def test_visualize_video(call, signals, workspace):
    signals.noise("n.wav", seconds=2.0)
    data = ok(await call("visualize_video", {"input": "n.wav", "mode": "vectorscope", "width": 320,
                                             "height": 240, "fps": 10}))
    video = data["structuredContent"]["video"]
    assert video["path"] == "n.vectorscope.mp4" and video["mime_type"] == "video/mp4"
    assert stream_types(workspace / video["path"]) == ["audio", "video"]
    (workspace / "fake.wav").write_bytes(b"RIFF....WAVEnot really")
    bad = wire(await call("visualize_video", {"input": "fake.wav"}))
    assert bad["isError"] and "not audio" in bad["content"][0]["text"]
    assert not (workspace / "fake.spectrum.mp4").exists()
