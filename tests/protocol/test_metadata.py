"""Tag and fingerprint tools over a real in-process MCP client."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest


def wire(result) -> dict:
    return result.model_dump(by_alias=True, mode="json", exclude_none=True)


def ok(result) -> dict:
    data = wire(result)
    assert not data.get("isError"), data["content"][0]["text"]
    return data["structuredContent"]


def error_text(result) -> str:
    data = wire(result)
    assert data["isError"] is True
    return data["content"][0]["text"]


def encode(workspace, src: str, dst: str, *args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(workspace / src), *args,
                    str(workspace / dst)], check=True, timeout=60)


async def test_write_then_read_tags_on_a_copy_and_in_place(call, signals, workspace):
    signals.sine("a.wav", seconds=0.5)
    encode(workspace, "a.wav", "a.mp3")
    written = ok(await call("write_tags", {"input": "a.mp3", "tags": {"title": "Song", "bpm": "120", "key": "Am"}}))
    assert written["file"]["path"] == "a.tagged.mp3"
    assert written["tags"] == {"title": "Song", "bpm": "120", "key": "Am"}
    assert ok(await call("read_tags", {"input": "a.tagged.mp3"}))["tags"] == written["tags"]
    assert ok(await call("read_tags", {"input": "a.mp3"}))["tags"] == {}
    again = ok(await call("write_tags", {"input": "a.tagged.mp3", "in_place": True,
                                         "tags": {"title": "", "artist": "Me"}}))
    assert again["file"]["path"] == "a.tagged.mp3"
    assert ok(await call("read_tags", {"input": "a.tagged.mp3"}))["tags"] == {"bpm": "120", "key": "Am",
                                                                              "artist": "Me"}


async def test_tag_errors_write_nothing(call, signals, workspace):
    signals.sine("a.wav", seconds=0.5)
    before = sorted(p.name for p in workspace.iterdir())
    assert "mood" in error_text(await call("write_tags", {"input": "a.wav", "tags": {"mood": "happy"}}))
    assert "No tags" in error_text(await call("write_tags", {"input": "a.wav", "tags": {}}))
    assert "extension" in error_text(await call("write_tags", {"input": "a.wav", "output": "b.mp3",
                                                               "tags": {"title": "x"}}))
    assert "leaves the workspace" in error_text(await call("read_tags", {"input": "../../etc/passwd"}))
    (workspace / "notes.txt").write_text("hello")
    assert "tags can be read" in error_text(await call("read_tags", {"input": "notes.txt"}))
    assert sorted(p.name for p in workspace.iterdir()) == sorted([*before, "notes.txt"])


async def test_fingerprint_and_compare(call, signals, workspace):
    sr = 44100
    t = np.arange(12 * sr) / sr
    notes = 220 * 2 ** (np.floor(t * 2) % 12 / 12)
    music = (0.3 * np.sin(2 * np.pi * np.cumsum(notes) / sr)).astype(np.float32)
    signals.write("m.wav", music[None])
    encode(workspace, "m.wav", "m.mp3", "-b:a", "192k")
    result = ok(await call("fingerprint", {"input": "m.wav", "compare_with": "m.mp3"}))
    assert result["duration_s"] == pytest.approx(12.0, abs=0.01)
    assert result["fingerprint"].startswith("AQAA")
    assert result["similarity"] > 0.9 and result["same_recording"] is True
    alone = ok(await call("fingerprint", {"input": "m.wav"}))
    assert alone["similarity"] is None and alone["fingerprint"] == result["fingerprint"]
    signals.write("blip.wav", music[None, : sr // 2])
    assert "at least about 3 seconds" in error_text(await call("fingerprint", {"input": "blip.wav"}))
