"""basic-pitch transcription on its bundled ONNX model: compose → render → transcribe."""

from __future__ import annotations

import mir_eval
import numpy as np
import pytest
from midi_signals import figured_piece, note, piano_piece, reference_notes

from audiolla_mcp.engines import basic_pitch, fluidsynth
from audiolla_mcp.errors import ToolError
from audiolla_mcp.ops import midi as M


def render(spec: dict, **options) -> fluidsynth.Rendering:
    return fluidsynth.render(M.compose(M.parse_spec(M.CompositionSpec, spec)), **options)


@pytest.fixture(scope="module")
def piece() -> tuple[dict, fluidsynth.Rendering]:
    spec = piano_piece()
    return spec, render(spec)


def estimated(transcription: basic_pitch.Transcription) -> tuple[np.ndarray, np.ndarray]:
    intervals = np.array([[n["start_s"], n["end_s"]] for n in transcription.notes])
    pitches = 440.0 * 2 ** ((np.array([n["pitch"] for n in transcription.notes]) - 69) / 12)
    return intervals, pitches


def onset_scores(spec: dict, transcription: basic_pitch.Transcription) -> tuple[float, ...]:
    """(precision, recall, F-measure) of the transcribed onsets (mir_eval, 50 ms)."""
    ref_intervals, ref_pitches = reference_notes(spec)
    est_intervals, est_pitches = estimated(transcription)
    return mir_eval.transcription.precision_recall_f1_overlap(
        ref_intervals, ref_pitches, est_intervals, est_pitches, onset_tolerance=0.05,
        offset_ratio=None,
    )[:3]  # fmt: skip


@pytest.mark.slow
def test_round_trip_recovers_the_composed_notes(piece, capfd):
    spec, rendering = piece  # on the acoustic grand
    result = basic_pitch.transcribe(rendering.audio, rendering.sample_rate, max_notes=1000)
    precision, recall, f_measure = onset_scores(spec, result)
    assert f_measure >= 0.90, (precision, recall)
    assert capfd.readouterr().out == ""  # nothing on the MCP stdio stream


@pytest.mark.slow
@pytest.mark.parametrize(
    ("seed", "program", "least"),
    [(2, 0, 0.90), (3, 24, 0.83), (2, 73, 0.85)],  # acoustic grand, nylon guitar, flute
)
def test_round_trip_of_other_pieces_and_instruments(seed, program, least):
    spec = figured_piece(seed, program)
    rendering = render(spec)
    result = basic_pitch.transcribe(rendering.audio, rendering.sample_rate, max_notes=1000)
    precision, recall, f_measure = onset_scores(spec, result)
    assert f_measure >= least, (precision, recall)


def test_chord_then_note_exactly():
    spec = {
        "tempo_bpm": 60,
        "tracks": [
            {
                "program": 4,
                "notes": [note("C4", 0, 1), note("E4", 0, 1), note("G4", 0, 1), note("A4", 1.5, 1)],
            }
        ],
    }
    rendering = render(spec)
    result = basic_pitch.transcribe(rendering.audio, rendering.sample_rate)
    assert [(n["name"], round(n["start_s"], 1)) for n in result.notes] == [
        ("C4", 0.0), ("E4", 0.0), ("G4", 0.0), ("A4", 1.5)
    ]  # fmt: skip
    assert (result.note_count, result.pitch_min, result.pitch_max) == (4, 60, 69)
    midi_notes = sorted(
        msg.note for track in result.midi.tracks for msg in track
        if msg.type == "note_on" and msg.velocity
    )  # fmt: skip
    assert midi_notes == [60, 64, 67, 69]


@pytest.fixture(scope="module")
def phrase() -> fluidsynth.Rendering:
    """Three seconds: bass notes under a treble line, at three loudness levels."""
    treble = [note(p, i * 0.5, 0.45, v) for i, (p, v) in enumerate(
        [(76, 110), (79, 40), (81, 110), (79, 40), (77, 110), (76, 20)])]  # fmt: skip
    bass = [note("C3", 0, 1.4, 90), note("G2", 1.5, 1.4, 90)]
    return render({"tempo_bpm": 60, "tracks": [{"program": 4, "notes": treble + bass}]})


def test_frequency_limits_drop_notes_outside_them(phrase):
    sr = phrase.sample_rate
    everything = basic_pitch.transcribe(phrase.audio, sr)
    treble = basic_pitch.transcribe(phrase.audio, sr, minimum_frequency=300.0)
    bass = basic_pitch.transcribe(phrase.audio, sr, maximum_frequency=250.0)
    assert everything.pitch_min <= M.note_number("G2") and everything.pitch_max >= 81
    assert treble.note_count > 0 and treble.pitch_min >= M.note_number("D4")
    assert bass.note_count > 0 and bass.pitch_max <= M.note_number("B3")


def test_thresholds_trade_notes_for_confidence(phrase):
    counts = [
        basic_pitch.transcribe(
            phrase.audio, phrase.sample_rate, onset_threshold=onset, frame_threshold=frame
        ).note_count
        for onset, frame in ((0.3, 0.2), (0.5, 0.3), (0.9, 0.8))
    ]
    assert counts[0] >= counts[1] > counts[2] > 0


def test_summary_is_capped_and_ordered(phrase):
    result = basic_pitch.transcribe(phrase.audio, phrase.sample_rate, max_notes=3, midi_tempo=90)
    assert len(result.notes) == 3 and result.notes_truncated and result.note_count > 3
    starts = [n["start_s"] for n in result.notes]
    assert starts == sorted(starts)
    assert M.inspect(result.midi).tempo_map[0]["bpm"] == 90.0
    assert result.duration_s == pytest.approx(phrase.audio.shape[1] / phrase.sample_rate)


def test_other_sample_rates_and_mono_input():
    spec = {"tempo_bpm": 60, "tracks": [{"program": 4, "notes": [note("D5", 0, 1.5)]}]}
    rendering = render(spec, sample_rate=48000)
    result = basic_pitch.transcribe(rendering.audio[:1], 48000)
    assert [n["name"] for n in result.notes] == ["D5"]


@pytest.mark.parametrize(
    ("audio", "options", "message"),
    [
        (np.zeros((1, 0), np.float32), {}, "empty"),
        (np.zeros((1, 4410), np.float32), {"onset_threshold": 1.5}, "onset_threshold"),
        (np.zeros((1, 4410), np.float32), {"frame_threshold": 0}, "frame_threshold"),
        (
            np.zeros((1, 4410), np.float32),
            {"minimum_frequency": 500.0, "maximum_frequency": 200.0},
            "below maximum_frequency",
        ),
    ],
)
def test_bad_input_is_a_tool_error(audio, options, message):
    with pytest.raises(ToolError, match=message):
        basic_pitch.transcribe(audio, 44100, **options)


def test_silence_gives_no_notes():
    result = basic_pitch.transcribe(np.zeros((2, 44100), np.float32), 44100)
    assert (result.note_count, result.notes, result.pitch_min) == (0, [], None)
