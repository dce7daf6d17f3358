"""Decode/encode round trips per format, and clear errors for files that are not usable audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audiolla_mcp import audio_io
from audiolla_mcp.errors import ToolError

SR = 44100


def tone(seconds: float = 1.0, sr: int = SR, freq: float = 441.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    left = 0.5 * np.sin(2 * np.pi * freq * t)
    right = 0.25 * np.sin(2 * np.pi * freq * 2 * t)
    return np.stack([left, right]).astype(np.float32)


def dominant_hz(x: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * sr / len(x))


@pytest.mark.parametrize(
    ("fmt", "depth", "tolerance"),
    [("wav", 16, 1 / 2**15), ("wav", 24, 1 / 2**23), ("wav", 32, 1e-7), ("flac", 16, 1 / 2**15), ("flac", 24, 1 / 2**23), ("aiff", 24, 1 / 2**23)],
)
def test_lossless_round_trip(tmp_path: Path, fmt: str, depth: int, tolerance: float) -> None:
    x = tone()
    path = tmp_path / f"t.{fmt}"
    audio_io.encode(x, SR, path, fmt, bit_depth=depth)
    audio = audio_io.decode(path)
    assert audio.sr == SR and audio.samples.shape == x.shape
    assert np.max(np.abs(audio.samples - x)) <= tolerance
    info = audio_io.probe(path)
    assert info.bit_depth == depth and info.channels == 2 and info.frames == x.shape[1]


@pytest.mark.parametrize(("fmt", "kbps"), [("mp3", 192), ("ogg", None), ("opus", 128), ("m4a", 192)])
def test_lossy_round_trip_keeps_pitch_and_length(tmp_path: Path, fmt: str, kbps: int | None) -> None:
    x = tone(2.0)
    path = tmp_path / f"t.{fmt}"
    audio_io.encode(x, SR, path, fmt, bitrate_kbps=kbps)
    audio = audio_io.decode(path)
    assert audio.channels == 2
    assert abs(audio.duration_s - 2.0) < 0.08  # encoder padding at most a few frames
    mid = audio.samples[:, audio.sr // 2 : audio.sr // 2 + 32768]
    assert dominant_hz(mid[0], audio.sr) == pytest.approx(441.0, abs=2.0)
    assert dominant_hz(mid[1], audio.sr) == pytest.approx(882.0, abs=2.0)
    assert np.sqrt(np.mean(mid[0] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)
    info = audio_io.probe(path)
    assert info.channels == 2 and info.duration_s == pytest.approx(2.0, abs=0.08)


def test_bytes_round_trip() -> None:
    x = tone(0.5)
    data = audio_io.encode_bytes(x, SR, "flac", bit_depth=16)
    audio = audio_io.decode_bytes(data, "flac")
    assert audio.samples.shape == x.shape


def test_format_from_extension_and_unknown_format(tmp_path: Path) -> None:
    assert audio_io.format_for(tmp_path / "a.AIF") == "aiff"
    assert audio_io.format_for(tmp_path / "a.wav", "mp3") == "mp3"
    with pytest.raises(ToolError, match="choose one of"):
        audio_io.format_for(tmp_path / "a.xyz")


def test_flac_cannot_hold_float(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="24-bit"):
        audio_io.encode(tone(0.1), SR, tmp_path / "a.flac", "flac", bit_depth=32)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"this is not audio at all, just text" * 10, "not an audio file"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "not an audio file"),
    ],
)
def test_bad_files_give_clear_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(ToolError, match=message):
        audio_io.decode(path)


def test_truncated_wav_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "t.wav"
    audio_io.encode(tone(1.0), SR, path, "wav", bit_depth=16)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ToolError, match="truncated"):
        audio_io.decode(path)


def test_duration_limit(tmp_path: Path) -> None:
    path = tmp_path / "t.wav"
    audio_io.encode(tone(1.0), SR, path, "wav")
    with pytest.raises(ToolError, match="limit"):
        audio_io.decode(path, max_duration_s=0.5)


def test_ffmpeg_fallback_decodes_m4a_channels(tmp_path: Path) -> None:
    mono = tone(1.0)[:1]
    path = tmp_path / "m.m4a"
    audio_io.encode(mono, 48000, path, "m4a")
    audio = audio_io.decode(path)
    assert audio.channels == 1 and audio.sr == 48000
