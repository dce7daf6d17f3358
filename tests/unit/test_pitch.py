"""Tempo and pitch measured on sines: durations by sample count, pitches by an interpolated
FFT peak (well under a cent of error on a steady tone)."""

from __future__ import annotations

import numpy as np
import pytest
from fx_signals import SR, cents, melody, midi_hz, peak_hz, tone

from audiolla_mcp.errors import ToolError
from audiolla_mcp.ops import pitch


def middle(x: np.ndarray, start_s: float, stop_s: float) -> np.ndarray:
    return x[0, round(start_s * SR) : round(stop_s * SR)]


@pytest.mark.parametrize("factor", [1.25, 0.8])
def test_time_stretch_duration_within_one_percent_and_pitch_kept(factor: float):
    x = tone(440, 3.0, amp=0.4, channels=2)
    out = pitch.time_stretch(x, SR, tempo_factor=factor)
    assert out.shape[0] == 2
    assert out.shape[-1] / x.shape[-1] == pytest.approx(1 / factor, rel=0.01)
    assert cents(peak_hz(middle(out, 0.5, 2.0)), 440) == pytest.approx(0, abs=5)


@pytest.mark.parametrize("semitones", [3.0, -5.0, 0.5])
def test_pitch_shift_within_five_cents_and_duration_kept(semitones: float):
    x = tone(440, 3.0, amp=0.4)
    out = pitch.time_stretch(x, SR, pitch_semitones=semitones)
    assert out.shape[-1] / x.shape[-1] == pytest.approx(1.0, rel=0.01)
    assert cents(peak_hz(middle(out, 0.5, 2.5)), 440) == pytest.approx(semitones * 100, abs=5)


def test_tempo_and_pitch_together():
    out = pitch.time_stretch(tone(330, 3.0, amp=0.4), SR, tempo_factor=1.5, pitch_semitones=-2)
    assert out.shape[-1] == pytest.approx(2.0 * SR, rel=0.01)
    assert cents(peak_hz(middle(out, 0.3, 1.7)), 330) == pytest.approx(-200, abs=5)


def test_identity_stretch_copies_and_bad_settings_are_refused():
    x = tone(440, 0.5)
    np.testing.assert_array_equal(pitch.time_stretch(x, SR), x)
    with pytest.raises(ToolError, match="tempo factor"):
        pitch.time_stretch(x, SR, tempo_factor=5)
    with pytest.raises(ToolError, match="semitones"):
        pitch.time_stretch(x, SR, pitch_semitones=30)
    with pytest.raises(ToolError, match="empty"):
        pitch.time_stretch(x[:, :0], SR, tempo_factor=2)


def test_bpm_match_stretches_by_the_tempo_ratio():
    x = tone(440, 3.0, amp=0.4)
    out = pitch.bpm_match(x, SR, source_bpm=120, target_bpm=126)
    assert out.tempo_factor == pytest.approx(1.05)
    assert out.audio.shape[-1] / x.shape[-1] == pytest.approx(120 / 126, rel=0.01)
    with pytest.raises(ToolError, match="positive"):
        pitch.bpm_match(x, SR, 0, 120)


@pytest.mark.parametrize(
    ("source", "target", "semitones"),
    [
        ("C major", "D major", 2),
        ("A minor", "E minor", -5),  # up a fifth is the long way round: down a fourth
        ("C major", "A minor", 0),  # same notes
        ("C major", "C minor", 3),  # C minor shares E♭ major's notes
        ("F#", "C", -6),
        ("Bbm", "c#:min", 3),
        ("E", "Fm", 4),  # F minor shares A♭ major's notes
    ],
)
def test_key_shift_is_the_smaller_transposition(source: str, target: str, semitones: int):
    assert pitch.key_shift(pitch.parse_key(source), pitch.parse_key(target)) == semitones


def test_key_parsing():
    assert pitch.parse_key("F# minor") == pitch.Key(6, "minor")
    assert pitch.parse_key("Eb major").name == "D# major"
    assert pitch.parse_key("am") == pitch.Key(9, "minor")
    with pytest.raises(ToolError, match="cannot read the key"):
        pitch.parse_key("H dorian")


def test_key_match_transposes_the_audio():
    out = pitch.key_match(tone(440, 3.0, amp=0.4), SR, "A minor", "C minor")
    assert out.semitones == 3
    assert cents(peak_hz(middle(out.audio, 0.5, 2.5)), 440) == pytest.approx(300, abs=5)


DETUNED = [(69, 35.0), (72, -30.0), (76, 40.0), (67, -38.0), (74, 33.0)]


def note_cents(audio: np.ndarray, index: int, midi: int, note_s: float = 0.5) -> float:
    """Distance of a note's pitch from MIDI `midi`, measured over its steady middle."""
    start = index * note_s
    return cents(peak_hz(middle(audio, start + 0.12, start + note_s - 0.12)), midi_hz(midi))


def test_pitch_correct_lands_detuned_notes_on_the_grid():
    x = melody(DETUNED)
    out = pitch.pitch_correct(x, SR, strength=1.0)
    assert out.notes_found == len(DETUNED)
    assert out.mean_abs_error_cents == pytest.approx(np.mean([abs(c) for _, c in DETUNED]), abs=4)
    for i, (midi, _) in enumerate(DETUNED):
        assert abs(note_cents(out.audio, i, midi)) <= 10
    assert [n["target"] for n in out.notes] == ["A4", "C5", "E5", "G4", "D5"]
    assert out.audio.shape == x.shape


def test_pitch_correct_strength_moves_part_way():
    x = melody(DETUNED[:2])
    out = pitch.pitch_correct(x, SR, strength=0.5)
    for i, (midi, detune) in enumerate(DETUNED[:2]):
        assert note_cents(out.audio, i, midi) == pytest.approx(detune / 2, abs=6)


def test_pitch_correct_respects_the_scale():
    # F#4 + 20 cents is nearest F#4 chromatically, but F# is not in C major: G4 is closer than F4
    x = melody([(66, 20.0), (64, -30.0)])
    out = pitch.pitch_correct(x, SR, key="C major")
    assert [n["target"] for n in out.notes] == ["G4", "E4"]
    assert abs(note_cents(out.audio, 0, 67)) <= 10
    assert pitch.allowed_pitch_classes("A minor", "pentatonic_minor") == frozenset({9, 0, 2, 4, 7})
    with pytest.raises(ToolError, match="needs a key"):
        pitch.pitch_correct(x, SR, scale="major")


def test_pitch_correct_leaves_unpitched_audio_alone():
    x = np.zeros((1, SR), np.float32)
    out = pitch.pitch_correct(x, SR)
    assert out.notes_found == 0 and out.mean_abs_error_cents is None
    np.testing.assert_array_equal(out.audio, x)
