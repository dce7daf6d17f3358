"""Workspace path safety, atomic writes and naming."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from audiolla_mcp.errors import ToolError
from audiolla_mcp.workspace import Workspace, mime_type


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "song.wav").write_bytes(b"RIFF")
    (root / "stems").mkdir()
    (root / "stems" / "a.wav").write_bytes(b"RIFF")
    (tmp_path / "secret.txt").write_text("outside")
    os.symlink(tmp_path / "secret.txt", root / "link_out.txt")
    os.symlink(tmp_path, root / "dir_out")
    os.symlink(root / "song.wav", root / "link_in.wav")
    os.link(tmp_path / "secret.txt", root / "hard.txt")
    return Workspace(root)


ESCAPES = [
    "../secret.txt",
    "../../etc/passwd",
    "stems/../../secret.txt",
    "/etc/passwd",
    "//etc/passwd",
    "~/secret.txt",
    "C:/Windows/win.ini",
    "c:secret.txt",
    "..\\secret.txt",
    "stems\\..\\..\\secret.txt",
    "song.wav\x00.png",
    "workspace://../secret.txt",
    "workspace:///etc/passwd",
    "workspace://%2e%2e/secret.txt",
    "workspace://stems/%2e%2e/%2e%2e/secret.txt",
    "WORKSPACE://../secret.txt",
    "workspace://%2Fetc%2Fpasswd",
    "workspace://..%5Csecret.txt",
    "file:///etc/passwd",
    "https://example.com/a.wav",
    "\uff0e\uff0e/secret.txt",  # fullwidth dots fold to '..'
    "stems/\u2025/secret.txt",  # two-dot leader
    ".audiolla/jobs/x.json",
    ".hidden.wav",
    "link_out.txt",
    "dir_out/secret.txt",
    "hard.txt",
    "/dev/zero",
    "a/" * 600 + "b.wav",
    "x" * 300 + ".wav",
    "",
    "   ",
    ".",
    "stems/./..",
    "song.wav\n",
]


@pytest.mark.parametrize("path", ESCAPES)
def test_escape_attempts_are_refused(ws: Workspace, path: str) -> None:
    with pytest.raises(ToolError):
        ws.file(path)


@pytest.mark.parametrize("path", ["../out.wav", "/tmp/out.wav", "dir_out/new.wav", "workspace://%2e%2e/x.wav"])
def test_outputs_cannot_escape(ws: Workspace, path: str) -> None:
    with pytest.raises(ToolError):
        ws.output_path(path, default="x.wav")


def test_device_file_is_refused(ws: Workspace) -> None:
    os.symlink("/dev/null", ws.root / "null.wav")
    with pytest.raises(ToolError):
        ws.file("null.wav")


def test_valid_paths_resolve_inside(ws: Workspace) -> None:
    assert ws.file("song.wav") == ws.root / "song.wav"
    assert ws.file("workspace://stems/a.wav") == ws.root / "stems" / "a.wav"
    assert ws.file("./stems//a.wav") == ws.root / "stems" / "a.wav"
    assert ws.file("link_in.wav") == ws.root / "song.wav"  # a link that stays inside is fine
    assert ws.uri(ws.root / "stems" / "a.wav") == "workspace://stems/a.wav"


def test_missing_file_error_says_what_to_do(ws: Workspace) -> None:
    with pytest.raises(ToolError, match="list_files"):
        ws.file("nope.wav")


def test_derived_output_never_overwrites(ws: Workspace) -> None:
    assert ws.output_path(None, default="song.wav").name == "song-2.wav"
    with pytest.raises(ToolError, match="overwrite"):
        ws.output_path("song.wav", default="x.wav")
    assert ws.output_path("song.wav", default="x.wav", overwrite=True) == ws.root / "song.wav"


def test_atomic_write_leaves_nothing_on_failure(ws: Workspace) -> None:
    target = ws.root / "out" / "new.wav"
    with pytest.raises(RuntimeError):
        with ws.atomic(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("encoder died")
    assert not target.exists()
    assert [p.name for p in (ws.root / "out").iterdir()] == []


def test_atomic_write_renames_into_place(ws: Workspace) -> None:
    target = ws.root / "new.bin"
    ws.write_bytes(target, b"abc")
    assert target.read_bytes() == b"abc"
    assert not [p for p in ws.root.iterdir() if p.name.startswith(".tmp-")]


def test_size_cap_and_quota(tmp_path: Path) -> None:
    capped = Workspace(tmp_path / "a", max_file_bytes=10)
    with pytest.raises(ToolError, match="per-file limit"):
        capped.write_bytes(capped.root / "big.bin", b"x" * 11)
    assert not (capped.root / "big.bin").exists()
    quota = Workspace(tmp_path / "b", quota_bytes=15)
    quota.write_bytes(quota.root / "one.bin", b"x" * 10)
    with pytest.raises(ToolError, match="quota"):
        quota.write_bytes(quota.root / "two.bin", b"x" * 10)


def test_listing_hides_internal_and_temp_files(ws: Workspace) -> None:
    (ws.internal_dir / "jobs").mkdir()
    (ws.internal_dir / "jobs" / "j.json").write_text("{}")
    (ws.root / ".tmp-123.wav").write_bytes(b"")
    listed = [e.path for e in ws.list()]
    assert "song.wav" in listed and "stems/a.wav" in listed
    assert not any(p.startswith(".") for p in listed)
    assert "link_out.txt" not in listed
    assert [e.path for e in ws.list(pattern="*.wav", prefix="stems")] == ["stems/a.wav"]


def test_move_and_delete(ws: Workspace) -> None:
    assert ws.move("stems/a.wav", "moved/b.wav") == ("stems/a.wav", "moved/b.wav")
    assert (ws.root / "moved" / "b.wav").exists()
    with pytest.raises(ToolError):
        ws.move("song.wav", "moved/b.wav")
    assert ws.delete("moved/b.wav") == "moved/b.wav"
    with pytest.raises(ToolError):
        ws.delete("stems")


@pytest.mark.parametrize(
    ("name", "mime"),
    [("a.wav", "audio/wav"), ("a.mp3", "audio/mpeg"), ("a.flac", "audio/flac"), ("a.mid", "audio/midi"), ("a.png", "image/png"), ("a.unknownext", "application/octet-stream")],
)
def test_mime_types(name: str, mime: str) -> None:
    assert mime_type(name) == mime
