"""MIDI tools through a real in-process MCP client, checked as wire JSON."""

from __future__ import annotations

import sys
from pathlib import Path

import mido
import pytest
import soundfile as sf
from wire import assert_tool_error, wire, workspace_files

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from midi_signals import note

SPEC = {
    "title": "Little Tune",
    "tempo_bpm": 120,
    "tracks": [
        {
            "name": "Keys",
            "program": 4,
            "notes": [note("C4", 0, 1), note("E4", 1, 1), note("G4", 2, 2)],
        },
        {"name": "Drums", "drums": True, "notes": [note("C2", 0, 0.5), note("D2", 1, 0.5)]},
    ],
}


def channels_and_notes(path: Path) -> list[tuple[int, int]]:
    return [
        (msg.channel, msg.note)
        for track in mido.MidiFile(path).tracks
        for msg in track
        if msg.type == "note_on" and msg.velocity
    ]


async def test_compose_inspect_transform_round_trip(call, workspace):
    composed = wire(await call("midi_compose", {"spec": SPEC}))["structuredContent"]
    assert composed["output"]["path"] == "little-tune.mid"
    assert composed["info"]["note_count"] == 5
    assert sorted(channels_and_notes(workspace / "little-tune.mid")) == [
        (0, 60), (0, 64), (0, 67), (9, 36), (9, 38)
    ]  # fmt: skip
    inspected = wire(await call("midi_inspect", {"input": "little-tune.mid"}))
    info = inspected["structuredContent"]["info"]
    assert (info["length_beats"], info["length_s"], info["pitch_min"], info["pitch_max"]) == (
        4.0, 2.0, 60, 67
    )  # fmt: skip
    assert "5 notes on 2 track(s)" in inspected["content"][0]["text"]

    changed = wire(
        await call("midi_transform", {"input": "little-tune.mid", "transpose": 2, "tempo_bpm": 60})
    )["structuredContent"]
    assert changed["output"]["path"] == "little-tune.transformed.mid"
    assert (changed["info"]["pitch_min"], changed["info"]["pitch_max"]) == (62, 69)
    assert changed["info"]["tempo_map"] == [{"beat": 0.0, "bpm": 60.0, "time_s": 0.0}]
    assert changed["info"]["length_s"] == 4.0
    drums = [n for c, n in channels_and_notes(workspace / "little-tune.transformed.mid") if c == 9]
    assert drums == [36, 38]


async def test_compose_reports_the_bad_note_by_path(call, workspace):
    spec = {**SPEC, "tracks": [SPEC["tracks"][0], {"notes": [note(60, 0, 1), note(130, 1, 1)]}]}
    assert_tool_error(await call("midi_compose", {"spec": spec}), "tracks.1.notes.1.pitch", "130")
    spec = {**SPEC, "tracks": [{"channel": 16, "notes": [note(60, 0, -1)]}]}
    assert_tool_error(await call("midi_compose", {"spec": spec}), "channel", "duration")
    assert_tool_error(await call("midi_compose", {"spec": {"tracks": [{"notes": []}]}}), "notes")
    spec = {**SPEC, "tracks": [{"notes": [note(60, 1e307, 1e307)]}]}
    assert_tool_error(await call("midi_compose", {"spec": spec}), "tracks.0.notes.0.start", "tracks.0.notes.0.duration")
    assert workspace_files(workspace) == []


async def test_humanize_with_a_seed_is_repeatable(call, workspace):
    await call("midi_compose", {"spec": SPEC, "output": "a.mid"})
    args = {"input": "a.mid", "timing_ms": 15, "velocity_pct": 20, "seed": 5}
    await call("midi_humanize", {**args, "output": "h1.mid"})
    await call("midi_humanize", {**args, "output": "h2.mid"})
    await call("midi_humanize", {**args, "seed": 6, "output": "h3.mid"})
    first, second = (workspace / "h1.mid").read_bytes(), (workspace / "h2.mid").read_bytes()
    assert first == second != (workspace / "h3.mid").read_bytes()
    assert_tool_error(await call("midi_humanize", {**args, "seed": -1}), "seed")


async def test_non_midi_input_is_a_clear_error(call, signals):
    signals.sine("tone.wav", seconds=0.2)
    assert_tool_error(await call("midi_inspect", {"input": "tone.wav"}), "not a Standard MIDI File")
    assert_tool_error(await call("render_midi", {"input": "missing.mid"}), "No file")


async def test_drum_pattern_is_on_channel_9(call, workspace):
    spec = {
        "tempo_bpm": 90,
        "voices": [
            {"voice": "kick", "pattern": "x...x...x...x..."},
            {"voice": "closed_hat", "pattern": "x.x.x.x.x.x.x.X."},
        ],
    }
    result = wire(await call("drum_pattern", {"spec": spec}))["structuredContent"]
    assert result["output"]["path"] == "drums.mid"
    found = channels_and_notes(workspace / "drums.mid")
    assert {c for c, _ in found} == {9} and len(found) == 12
    bad = {"voices": [{"voice": "gong", "pattern": "x..."}]}
    assert_tool_error(await call("drum_pattern", {"spec": bad}), "gong")


async def test_chords_from_a_progression(call, workspace):
    result = wire(
        await call(
            "chords_to_midi",
            {"progression": "C Am | F G7", "beats_per_chord": 2, "voicing": "close"},
        )
    )["structuredContent"]
    assert [c["symbol"] for c in result["chords"]] == ["C", "Am", "F", "G7"]
    assert result["chords"][3] == {
        "start_beat": 6.0, "beats": 2.0, "symbol": "G7", "notes": ["G4", "B4", "D5", "F5"]
    }  # fmt: skip
    assert result["info"]["length_beats"] == 8.0
    assert_tool_error(await call("chords_to_midi", {"progression": "C Xm"}), "not a chord symbol")
    assert_tool_error(await call("chords_to_midi", {}), "progression")


@pytest.mark.slow
async def test_chords_from_audio(call, workspace):
    await call(
        "chords_to_midi",
        {"progression": "C F G C", "beats_per_chord": 4, "tempo_bpm": 120, "output": "p.mid"},
    )
    await call("render_midi", {"input": "p.mid", "output": "p.wav"})
    result = wire(await call("chords_to_midi", {"input": "p.wav", "tempo_bpm": 120}))
    heard = result["structuredContent"]
    assert heard["output"]["path"] == "p.chords.mid"
    assert [c["symbol"] for c in heard["chords"]][:4] == ["C", "F", "G", "C"]
    assert heard["chords"][1]["start_beat"] == pytest.approx(4.0, abs=0.5)


async def test_render_then_transcribe(call, workspace):
    await call("midi_compose", {"spec": SPEC, "output": "tune.mid"})
    rendered = wire(await call("render_midi", {"input": "tune.mid", "reverb": False}))
    out = rendered["structuredContent"]
    assert out["output"]["path"] == "tune.wav" and out["soundfont"] == "FluidR3_GM.sf2"
    assert 2.0 < out["output"]["duration_s"] <= 7.0 and out["output"]["channels"] == 2
    assert out["limited_db"] == 0.0
    audio, sr = sf.read(workspace / "tune.wav")
    assert sr == 44100 and abs(audio).max() > 0.01

    notes = wire(await call("audio_to_midi", {"input": "tune.wav", "minimum_frequency": 200}))
    heard = notes["structuredContent"]
    assert heard["output"]["path"] == "tune.notes.mid"
    assert [n["name"] for n in heard["notes"]][:3] == ["C4", "E4", "G4"]


async def test_render_soundfont_errors(call, workspace):
    await call("midi_compose", {"spec": SPEC, "output": "tune.mid"})
    (workspace / "broken.sf2").write_bytes(b"RIFF\x00\x00\x00\x00sfbk" + b"\x00" * 64)
    assert_tool_error(
        await call("render_midi", {"input": "tune.mid", "soundfont": "broken.sf2"}),
        "damaged or not an SF2/SF3",
    )
    assert_tool_error(
        await call(
            "render_midi", {"input": "tune.mid", "soundfont": "/usr/share/sounds/sf2/x.sf2"}
        ),
        "absolute",
    )
    assert workspace_files(workspace) == ["broken.sf2", "tune.mid"]


async def test_generate_music_writes_midi_and_normalized_audio(call, workspace):
    result = wire(await call("generate_music", {"spec": SPEC, "target_lufs": -16}))
    data = result["structuredContent"]
    assert data["midi"]["path"] == "little-tune.mid" and data["output"]["path"] == "little-tune.wav"
    assert data["output_lufs"] == pytest.approx(-16, abs=0.2)
    assert data["info"]["note_count"] == 5
    assert workspace_files(workspace) == ["little-tune.mid", "little-tune.wav"]
    taken = await call("generate_music", {"spec": SPEC, "output": "little-tune.wav"})
    assert_tool_error(taken, "already exists")
    assert workspace_files(workspace) == ["little-tune.mid", "little-tune.wav"]  # no stray .mid
