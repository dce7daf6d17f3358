"""Analysis tools over the wire: rendered music with known tempo, key, chords and melody."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
from wire import assert_tool_error, workspace_files

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
import mir_signals as ms  # noqa: E402

SR = ms.RENDER_SR


@pytest.fixture
def song(signals) -> ms.Piece:
    """A minor, 100 BPM, pulsed piano chords, written as song.wav."""
    piece = ms.progression(9, "minor", ["i", "iv", "V7", "i", "VI", "iio6", "V", "i"], bpm=100, figuration="pulse")
    signals.write("song.wav", piece.audio(), SR)
    return piece


async def test_analyze_gives_the_overview(call, song):
    result = await call("analyze", {"input": "song.wav"})
    assert not result.is_error, result.content[0].text
    data = result.structured_content
    assert data["bpm"] == pytest.approx(100, rel=0.04)
    assert data["key"] == "A minor" and data["camelot"] == "8A"
    assert data["integrated_lufs"] < -10 and data["spectral"]["centroid_hz"] > 0
    assert "A minor" in result.content[0].text


async def test_analyze_subset(call, song):
    data = (await call("analyze", {"input": "song.wav", "features": ["key"]})).structured_content
    assert data["key"] == "A minor" and data["bpm"] is None and data["integrated_lufs"] is None


async def test_beats_with_click_track(call, song, workspace):
    result = await call("detect_beats", {"input": "song.wav", "click_track": True, "max_beats": 4})
    assert not result.is_error, result.content[0].text
    data = result.structured_content
    assert data["bpm"] == pytest.approx(100, rel=0.04)
    assert len(data["beats"]) == 4 and data["beats_truncated"]
    assert data["click_track"]["path"] == "song.clicks.wav"
    assert "song.clicks.wav" in workspace_files(workspace)


async def test_key_and_chords(call, song):
    key = (await call("detect_key", {"input": "song.wav", "max_alternatives": 2})).structured_content
    assert key["key"] == "A minor" and len(key["alternatives"]) == 2
    chords = (await call("detect_chords", {"input": "song.wav"})).structured_content
    names = [s["name"] for s in chords["segments"] if s["name"] != "N"]
    assert names[:3] == ["Am", "Dm", "E7"] and chords["key"] == "A minor"


async def test_onsets(call, song):
    data = (await call("detect_onsets", {"input": "song.wav", "max_onsets": 3})).structured_content
    assert len(data["onsets"]) == 3 and data["truncated"] and data["onset_count"] >= 16
    early = (await call("detect_onsets", {"input": "song.wav", "backtrack": True})).structured_content
    assert early["onset_count"] == data["onset_count"]
    assert all(before <= after for before, after in zip(early["onsets"], data["onsets"]))


async def test_melody_to_midi(call, signals, workspace):
    piece = ms.melody_piece(program=ms.TRUMPET)
    signals.write("tune.wav", piece.audio(), SR)
    result = await call("track_melody", {"input": "tune.wav", "as_midi": True, "points": 50})
    assert not result.is_error, result.content[0].text
    data = result.structured_content
    assert len(data["contour"]) <= 50 and data["midi_file"]["path"] == "tune.melody.mid"
    midi = pretty_midi.PrettyMIDI(io.BytesIO((workspace / "tune.melody.mid").read_bytes()))
    found = [n.pitch for n in midi.instruments[0].notes]
    assert sum(p in {n.pitch for n in piece.melody} for p in found) >= 0.8 * len(found)


async def test_structure(call, signals):
    signals.write("form.wav", ms.sectioned_song("ABACAB", bpm=120, bars_per_section=4).audio(), SR)
    data = (await call("segment_structure", {"input": "form.wav"})).structured_content
    assert data["form"] == "ABACAB"


async def test_silence_clipping_and_stereo(call, signals):
    t = np.arange(SR) / SR
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    gapped = np.concatenate([tone, np.zeros(SR), tone])
    signals.write("gap.wav", np.stack([gapped, -gapped]), SR)
    silence = (await call("detect_silence", {"input": "gap.wav", "threshold_db": -60})).structured_content
    assert silence["region_count"] == 1
    assert silence["regions"][0]["start_s"] == pytest.approx(1.0, abs=0.02)
    stereo = (await call("stereo_field", {"input": "gap.wav"})).structured_content
    assert stereo["correlation"] == pytest.approx(-1.0, abs=1e-3) and stereo["phase_problem"]
    signals.write("hot.wav", np.clip(4 * tone, -1, 1)[None, :], SR)
    clipping = (await call("detect_clipping", {"input": "hot.wav"})).structured_content
    assert clipping["clipped"] and clipping["event_count"] == 880


async def test_dj_prep_and_loudness_curve(call, song):
    prep = (await call("dj_prep", {"input": "song.wav"})).structured_content
    assert prep["camelot"] == "8A" and prep["bpm"] == pytest.approx(100, rel=0.04)
    curve = (await call("loudness_curve", {"input": "song.wav", "points": 20})).structured_content
    assert len(curve["lufs"]) <= 20 and curve["block_s"] == 3.0


async def test_loop_point(call, signals):
    bar = ms.drum_groove("rock", 120, bars=1, bass_root=40).audio()[:, : 2 * SR]
    signals.write("loop.wav", np.tile(bar, 4), SR)
    data = (await call("find_loop_point", {"input": "loop.wav", "max_length_s": 4})).structured_content
    assert data["length_s"] / 2.0 == pytest.approx(round(data["length_s"] / 2.0), abs=0.002)


async def test_compare_with_plot(call, signals, workspace):
    audio = ms.drum_groove("rock", 120, bars=2).audio()
    signals.write("a.wav", audio, SR)
    signals.write("b.wav", audio * 0.5, SR)
    result = await call("compare_audio", {"a": "a.wav", "b": "b.wav", "plot": True})
    assert not result.is_error, result.content[0].text
    data = result.structured_content
    assert data["loudness_delta"]["integrated_lufs"] == pytest.approx(-6.02, abs=0.05)
    assert data["plot"]["path"] == "a.compare.png" and "a.compare.png" in workspace_files(workspace)
    assert any(block.type == "image" for block in result.content)


async def test_check_delivery_with_fix(call, signals):
    signals.sine("quiet.wav", freq=1000, seconds=5, channels=2, level_db=-30)
    result = await call("check_delivery", {"input": "quiet.wav", "spec": "spotify"})
    data = result.structured_content
    assert data["verdict"] == "pass_with_warnings"
    assert data["fixes"][0]["tool"] == "normalize_loudness" and data["fixes"][0]["verified"]
    assert data["verdict_after_fixes"] == "pass"


async def test_errors_are_clean(call, signals, workspace):
    assert_tool_error(await call("detect_key", {"input": "missing.wav"}), "missing.wav")
    assert_tool_error(await call("check_delivery", {"input": "song.wav", "spec": "vinyl"}))
    signals.write("blip.wav", ms.tone(440, 0.05, SR), SR)
    beats = await call("detect_beats", {"input": "blip.wav"})
    assert not beats.is_error and beats.structured_content["bpm"] is None
    assert_tool_error(await call("find_loop_point", {"input": "blip.wav"}), "too short")
    assert workspace_files(workspace) == ["blip.wav"]
