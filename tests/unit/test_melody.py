"""Melody tracking scored with mir_eval against rendered melodies with known notes."""

from __future__ import annotations

import io
import json

import mir_eval
import numpy as np
import pretty_midi
import pytest

import mir_signals as ms
from audiolla_mcp.errors import ToolError
from audiolla_mcp.ops import melody

SR = ms.RENDER_SR


def _reference(piece: ms.Piece) -> tuple[np.ndarray, np.ndarray]:
    times = np.arange(0.0, piece.duration, 0.01)
    freqs = np.zeros_like(times)
    for note in piece.melody:
        freqs[(times >= note.start) & (times < note.end)] = 440.0 * 2 ** ((note.pitch - 69) / 12)
    return times, freqs


@pytest.mark.filterwarnings("ignore:Non-uniform timescale")
@pytest.mark.parametrize(
    "program, accompaniment",
    [(ms.FLUTE, True), (ms.TRUMPET, True), (ms.PIANO, False)],
)
def test_melody_pitch_and_notes(program: int, accompaniment: bool) -> None:
    piece = ms.melody_piece(program=program, accompaniment=accompaniment)
    result = melody.track_melody(piece.audio(), SR, points=100000)
    ref_times, ref_freqs = _reference(piece)
    est_times = np.array([p["time"] for p in result.contour])
    est_freqs = np.array([p["frequency_hz"] or 0.0 for p in result.contour])
    scores = mir_eval.melody.evaluate(ref_times, ref_freqs, est_times, est_freqs)
    assert scores["Raw Pitch Accuracy"] >= 0.85, scores
    ref_intervals = np.array([[n.start, n.end] for n in piece.melody])
    ref_pitches = np.array([440.0 * 2 ** ((n.pitch - 69) / 12) for n in piece.melody])
    est_intervals = np.array([[n["start"], n["end"]] for n in result.notes])
    est_pitches = np.array([n["frequency_hz"] for n in result.notes])
    f_measure = mir_eval.transcription.precision_recall_f1_overlap(
        ref_intervals, ref_pitches, est_intervals, est_pitches, offset_ratio=None
    )[2]
    assert f_measure >= 0.75, f_measure


def test_contour_is_decimated_to_the_requested_points() -> None:
    piece = ms.melody_piece(program=ms.FLUTE, accompaniment=False)
    result = melody.track_melody(piece.audio(), SR, points=50, max_notes=5)
    assert len(result.contour) <= 50
    assert len(result.notes) == 5 and result.notes_truncated and result.note_count > 5
    assert result.range["lowest_midi"] <= result.range["highest_midi"]


def test_a_steady_tone_is_one_note_at_its_pitch() -> None:
    result = melody.track_melody(ms.tone(440.0, 2.0, SR), SR)
    assert [n["name"] for n in result.notes] == ["A4"]
    voiced = [p["frequency_hz"] for p in result.contour if p["frequency_hz"]]
    assert np.median(voiced) == pytest.approx(440.0, rel=0.01)


def test_midi_export_holds_the_notes() -> None:
    notes = [{"start": 0.0, "end": 0.5, "pitch": 60, "confidence": 0.9}, {"start": 0.5, "end": 1.0, "pitch": 64, "confidence": 0.5}]
    midi = pretty_midi.PrettyMIDI(io.BytesIO(melody.melody_midi(notes, program=73)))
    played = [(round(n.start, 3), round(n.end, 3), n.pitch) for n in midi.instruments[0].notes]
    assert played == [(0.0, 0.5, 60), (0.5, 1.0, 64)]
    assert midi.instruments[0].program == 73


@pytest.mark.parametrize(
    "audio", [np.zeros((1, SR), np.float32), ms.noise(2.0, SR, 2), ms.tone(440, 0.05, SR)],
    ids=["silence", "noise", "50ms"],
)
def test_no_melody_inputs_give_valid_answers(audio: np.ndarray) -> None:
    result = melody.track_melody(audio, SR)
    json.dumps(result.__dict__, allow_nan=False)


def test_silence_has_no_notes() -> None:
    assert melody.track_melody(np.zeros((2, SR), np.float32), SR).notes == []


def test_bad_caps_are_refused() -> None:
    with pytest.raises(ToolError):
        melody.track_melody(ms.tone(440, 1.0, SR), SR, points=0)
