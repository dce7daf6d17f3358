"""Chromaprint fingerprints: a recording matches its MP3, a different piece does not."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from edit_signals import SR, chord, ffmpeg_convert, music_track, write_wav

from audiolla_mcp.errors import ToolError
from audiolla_mcp.ops import fingerprint as fp


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fp")
    song = music_track(20.0, seed=1)
    other_chords = [[293.7, 370.0, 440.0], [246.9, 293.7, 370.0], [329.6, 415.3, 493.9],
                    [220.0, 277.2, 329.6]]
    other = np.concatenate([chord(other_chords[i % 4], 1.5) for i in range(13)], axis=1)
    wav = write_wav(root / "song.wav", song)
    return {
        "wav": wav,
        "mp3": ffmpeg_convert(wav, root / "song.mp3", "-b:a", "192k"),
        "late": write_wav(root / "late.wav", np.roll(song, SR, axis=1)),
        "other": write_wav(root / "other.wav", other),
    }


def test_fingerprint_and_duration(files):
    result = fp.fingerprint(files["wav"])
    assert result.duration_s == pytest.approx(20.0, abs=0.01)
    assert result.fingerprint.startswith("AQAA") and len(result.fingerprint) > 100
    assert fp.fingerprint(files["wav"]) == result  # deterministic


def fpcalc_raw(path: Path) -> list[int]:
    """fpcalc's own uncompressed fingerprint: the ground truth for the decoder."""
    out = subprocess.run(["fpcalc", "-json", "-raw", str(path)], capture_output=True, text=True, check=False)
    return json.loads(out.stdout)["fingerprint"]


@pytest.mark.parametrize("name", ["wav", "mp3", "other"])
def test_decoding_matches_fpcalc_raw(files, name):
    decoded = fp.decode_fingerprint(fp.fingerprint(files[name]).fingerprint)
    raw = fpcalc_raw(files[name])
    assert decoded.tolist() == raw
    assert len(raw) == pytest.approx(files_duration(name) / fp.ITEM_S, abs=25)  # less the filters' edges


def files_duration(name: str) -> float:
    return {"wav": 20.0, "mp3": 20.0, "other": 19.5}[name]


def test_wav_and_its_mp3_match(files):
    a = fp.fingerprint(files["wav"]).fingerprint
    assert fp.compare_fingerprints(a, a) == 1.0
    assert fp.compare_fingerprints(a, fp.fingerprint(files["mp3"]).fingerprint) > 0.9
    # a one-second shift (about 8 items) is found by the offset search
    late = fp.fingerprint(files["late"]).fingerprint
    assert fp.compare_fingerprints(a, late) > 0.9
    assert fp.compare_fingerprints(a, late, max_offset=0) < 0.8


def test_different_music_does_not_match(files):
    a = fp.fingerprint(files["wav"]).fingerprint
    assert fp.compare_fingerprints(a, fp.fingerprint(files["other"]).fingerprint) < 0.6


def test_corrupt_fingerprints_are_refused():
    with pytest.raises(ToolError, match="base64"):
        fp.decode_fingerprint("@@@")
    with pytest.raises(ToolError, match="truncated"):
        fp.decode_fingerprint("AQAAjEmSREqSxMkE")


def test_unfingerprintable_input(files, tmp_path):
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF nonsense")
    with pytest.raises(ToolError, match="cannot fingerprint"):
        fp.fingerprint(junk)
    with pytest.raises(ToolError, match="length_s"):
        fp.fingerprint(files["wav"], length_s=-1)
