"""Tag round trips per container, cross-checked with ffprobe as an independent reader."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from edit_signals import ffmpeg_convert, tone, write_wav

from audiolla_mcp.errors import ToolError
from audiolla_mcp.ops import tags

FULL = {
    "title": "Ünïcode — title", "artist": "The Artist", "album": "An Album",
    "albumartist": "Various", "date": "2024", "genre": "Jazz", "tracknumber": "3/12",
    "discnumber": "1/2", "comment": "recorded live", "bpm": "120", "key": "Am",
    "isrc": "USRC17607839", "composer": "J. S. Bach",
}
FORMATS = ["wav", "mp3", "flac", "ogg", "opus", "m4a", "aiff"]


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tags")
    wav = write_wav(root / "src.wav", tone(440, 0.5))
    return {ext: wav if ext == "wav" else ffmpeg_convert(wav, root / f"src.{ext}") for ext in FORMATS}


def ffprobe_tags(path: Path) -> dict[str, str]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format_tags:stream_tags", "-of", "json",
         str(path)], capture_output=True, text=True, check=True).stdout
    data = json.loads(out)
    found = {k.lower(): v for k, v in data.get("format", {}).get("tags", {}).items()}
    for stream in data.get("streams", []):
        found.update({k.lower(): v for k, v in stream.get("tags", {}).items()})
    return found


@pytest.mark.parametrize("ext", FORMATS)
def test_round_trip_every_tag(sources, tmp_path, ext):
    src = sources[ext]
    dst = tmp_path / f"tagged.{ext}"
    written = tags.write_tags(src, dst, FULL)
    assert written == FULL
    assert tags.read_tags(dst) == FULL
    assert "title" not in tags.read_tags(src)  # the source is untouched
    seen = ffprobe_tags(dst)
    assert seen["title"] == FULL["title"] and seen["artist"] == FULL["artist"]
    assert seen["album"] == FULL["album"]


@pytest.mark.parametrize("ext", ["mp3", "flac", "m4a"])
def test_update_keeps_other_tags_and_removes_on_empty(sources, tmp_path, ext):
    dst = tmp_path / f"t.{ext}"
    tags.write_tags(sources[ext], dst, {"title": "One", "artist": "A", "comment": "c"})
    after = tags.write_tags(dst, dst, {"title": "Two", "comment": None, "artist": ""})
    assert after == {"title": "Two"}


def test_numbers_are_validated(sources, tmp_path):
    dst = tmp_path / "x.m4a"
    with pytest.raises(ToolError, match="tracknumber"):
        tags.write_tags(sources["m4a"], dst, {"tracknumber": "three"})
    with pytest.raises(ToolError, match="bpm"):
        tags.write_tags(sources["m4a"], dst, {"bpm": "fast"})
    assert not dst.exists()
    written = tags.write_tags(sources["m4a"], dst, {"tracknumber": 7, "bpm": 128.4})
    assert written == {"tracknumber": "7", "bpm": "128"}


def test_errors_name_the_problem(sources, tmp_path):
    with pytest.raises(ToolError, match="unknown tag name"):
        tags.write_tags(sources["flac"], tmp_path / "y.flac", {"mood": "happy"})
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00" * 512)
    with pytest.raises(ToolError, match="tags can be read"):
        tags.read_tags(junk)
    with pytest.raises(ToolError, match="tags can be read"):
        tags.write_tags(junk, tmp_path / "z.bin", {"title": "x"})
    assert not (tmp_path / "z.bin").exists()
