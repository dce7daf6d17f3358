"""Tempo, beats, downbeats, onsets and click track against rendered ground truth."""

from __future__ import annotations

import json

import mir_eval
import mir_signals as ms
import numpy as np
import pytest

from audiolla_mcp.errors import Cancelled, ToolError
from audiolla_mcp.ops import beats
from audiolla_mcp.ops.mir_features import MusicFeatures
from audiolla_mcp.progress import CancelToken

SR = ms.RENDER_SR


def _tempo_ok(estimate: float | None, truth: float) -> bool:
    return estimate is not None and abs(estimate / truth - 1) <= 0.04


def _f_measure(reference: tuple[float, ...], estimate: list[float]) -> float:
    return mir_eval.beat.f_measure(np.array(reference), np.array(estimate))


@pytest.mark.parametrize(
    "style, bpm",
    [("four_on_floor", 128), ("funk", 96), ("rock", 70), ("four_on_floor", 72)],
)
def test_drum_grooves_give_the_tempo_and_the_beats(style: str, bpm: float) -> None:
    piece = ms.drum_groove(style, bpm, bars=4, bass_root=40)
    result = beats.detect_beats(piece.audio(), SR)
    assert _tempo_ok(result.bpm, bpm), result.bpm
    assert mir_eval.beat.f_measure(np.array(piece.beats), np.array(result.beats)) >= 0.95
    assert result.confidence > 0.6
    assert result.time_signature == "4/4"


def test_a_beat_on_the_first_sample_is_found() -> None:
    piece = ms.drum_groove("rock", 120, bars=4, bass_root=40)
    result = beats.detect_beats(piece.audio(), SR)
    assert 0.0 <= result.beats[0] < 0.05 and result.downbeats[0] < 0.05
    assert _f_measure(piece.beats, result.beats) == 1.0


def test_slow_attacks_keep_the_beat_in_phase() -> None:
    numerals = ["i", "iv", "V7", "i"] * 2
    piece = ms.progression(11, "minor", numerals, bpm=90, program=ms.CHOIR, figuration="pulse", bass_program=ms.BASS)
    result = beats.detect_beats(piece.audio(), SR)
    assert _tempo_ok(result.bpm, 90), result.bpm
    assert _f_measure(piece.beats, result.beats) >= 0.9


@pytest.mark.parametrize("figuration, bpm", [("arpeggio", 120), ("pulse", 100)])
def test_legato_choir_notes_place_the_beats(figuration: str, bpm: float) -> None:
    """A choir fades each note in with no rise in loudness: only its new pitches mark the beat."""
    numerals = ["i", "iio6", "V", "i6", "i7", "iv6", "V", "i"]
    piece = ms.progression(3, "minor", numerals, bpm, 2, ms.CHOIR, figuration)
    result = beats.detect_beats(piece.audio(), SR)
    assert _tempo_ok(result.bpm, bpm), result.bpm
    assert _f_measure(piece.beats, result.beats) >= 0.9


def test_a_choir_arpeggio_is_read_at_its_tempo_or_an_octave_of_it() -> None:
    """Eighth-note choir arpeggios at 128 BPM, chords every two beats: read at 128 or at the
    chord rate (64) on its own, and on the beat given the tempo."""
    numerals = ["i", "III", "iv", "V", "i", "i", "iv", "iv7", "VII", "III", "i", "VI", "iv", "V", "i"]
    piece = ms.progression(5, "minor", numerals, 128, 2, ms.CHOIR, "arpeggio")
    audio = piece.audio()
    assert any(_tempo_ok(beats.detect_beats(audio, SR).bpm, 128 * m) for m in (1, 0.5))
    hinted = beats.detect_beats(audio, SR, start_bpm=128)
    assert _tempo_ok(hinted.bpm, 128), hinted.bpm
    assert _f_measure(piece.beats, hinted.beats) >= 0.95


def test_a_melody_over_soft_chords_gives_its_own_tempo() -> None:
    piece = ms.melody_piece(7, 143, ms.VIOLIN, bars=8)
    result = beats.detect_beats(piece.audio(), SR)
    assert _tempo_ok(result.bpm, 143), result.bpm
    assert _f_measure(piece.beats, result.beats) >= 0.9


def test_an_organ_chorale_keeps_its_quarter_note() -> None:
    piece = ms.chorale(1, 60, ms.ORGAN, max_beats=30)
    result = beats.detect_beats(piece.audio(), SR)
    assert _tempo_ok(result.bpm, 60), result.bpm
    assert _f_measure(piece.beats, result.beats) >= 0.95


def test_without_a_bass_line_the_bar_starts_on_the_first_beat() -> None:
    piece = ms.drum_groove("rock", 100, bars=8)
    result = beats.detect_beats(piece.audio(), SR)
    assert result.time_signature == "4/4"
    assert _f_measure(piece.downbeats, result.downbeats) >= 0.9


def test_downbeats_fall_on_the_accented_first_beat() -> None:
    piece = ms.drum_groove("rock", 110, bars=8, bass_root=40)
    result = beats.detect_beats(piece.audio(), SR)
    assert mir_eval.beat.f_measure(np.array(piece.downbeats), np.array(result.downbeats)) >= 0.9


def test_waltz_reads_as_three_four() -> None:
    piece = ms.drum_groove("waltz", 90, bars=10, bass_root=43)
    result = beats.detect_beats(piece.audio(), SR)
    assert _tempo_ok(result.bpm, 90)
    assert result.time_signature == "3/4"
    assert mir_eval.beat.f_measure(np.array(piece.downbeats), np.array(result.downbeats)) >= 0.9


def test_double_time_grooves_are_at_worst_an_octave_off() -> None:
    piece = ms.drum_groove("breakbeat", 174, bars=8)
    result = beats.detect_beats(piece.audio(), SR)
    assert any(_tempo_ok(result.bpm, 174 * m) for m in (1, 0.5)), result.bpm


def test_start_bpm_hint_resolves_half_time() -> None:
    piece = ms.drum_groove("breakbeat", 174, bars=8)
    result = beats.detect_beats(piece.audio(), SR, start_bpm=170)
    assert _tempo_ok(result.bpm, 174), result.bpm


def test_pitched_music_without_drums_keeps_its_tempo() -> None:
    piece = ms.progression(2, "major", ["I", "vi", "IV", "V7"] * 2, bpm=92, beats_per_chord=2, figuration="pulse")
    result = beats.detect_beats(piece.audio(), SR)
    assert _tempo_ok(result.bpm, 92), result.bpm
    assert mir_eval.beat.f_measure(np.array(piece.beats), np.array(result.beats)) >= 0.9


def test_beat_list_is_capped_and_says_so() -> None:
    piece = ms.drum_groove("funk", 96, bars=4, bass_root=40)
    result = beats.detect_beats(piece.audio(), SR, max_beats=5)
    assert len(result.beats) == 5 and result.beat_count > 5 and result.beats_truncated


def test_onsets_match_the_drum_hits() -> None:
    piece = ms.drum_groove("rock", 100, bars=4)
    result = beats.detect_onsets(piece.audio(), SR)
    hits = np.unique(np.round([n.start for n in piece.notes], 4))
    f_measure = mir_eval.onset.f_measure(hits, np.array(result.onsets), window=0.05)[0]
    assert f_measure >= 0.9
    assert all(0 <= s <= 1 for s in result.strengths)


def test_click_track_puts_a_blip_on_every_beat() -> None:
    sr = 8000
    clicks = beats.click_track([0.5, 1.0, 1.5], [0.5], sr, frames=2 * sr, channels=2)
    assert clicks.shape == (2, 2 * sr)
    energy = np.abs(clicks[0])
    for t in (0.5, 1.0, 1.5):
        start = int(t * sr)
        assert energy[start : start + 80].max() > 0.1
    assert energy[: int(0.49 * sr)].max() == 0.0
    spectrum = np.abs(np.fft.rfft(clicks[0, 4000:4240]))
    assert np.argmax(spectrum) * sr / 240 == pytest.approx(beats.DOWNBEAT_CLICK_HZ, abs=40)


@pytest.mark.parametrize("sr, channels", [(8000, 1), (96000, 6)])
def test_any_rate_and_layout_gives_the_same_tempo(sr: int, channels: int) -> None:
    piece = ms.drum_groove("four_on_floor", 128, bars=4, bass_root=40)
    audio = ms.as_channels(ms.resample_to(piece.audio(), SR, sr), channels)
    assert _tempo_ok(beats.detect_beats(audio, sr).bpm, 128)


@pytest.mark.parametrize(
    "audio",
    [np.zeros((2, SR * 3), np.float32), ms.noise(4.0, SR, 2), ms.tone(440, 0.05, SR)],
    ids=["silence", "noise", "50ms"],
)
def test_unrhythmic_or_tiny_input_gives_a_valid_low_confidence_answer(audio: np.ndarray) -> None:
    result = beats.detect_beats(audio, SR)
    assert result.confidence < 0.5
    json.dumps(result.__dict__, allow_nan=False)


def test_bad_input_is_a_tool_error() -> None:
    with pytest.raises(ToolError, match="NaN"):
        beats.detect_beats(np.full((1, 1000), np.nan, np.float32), SR)
    with pytest.raises(ToolError, match="sample rate"):
        beats.detect_beats(np.zeros((1, 1000), np.float32), 100)


def test_cancellation_stops_the_analysis() -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        beats.detect_beats(ms.drum_groove("rock", 120, bars=2).audio(), SR, cancel=token)


def test_features_are_shared_between_calls() -> None:
    features = MusicFeatures(ms.drum_groove("funk", 96, bars=4, bass_root=40).audio(), SR)
    first = beats.beat_grid(features)
    assert beats.beat_grid(features) is first
