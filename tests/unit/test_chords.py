"""Chord recognition scored with mir_eval against rendered progressions with exact labels."""

from __future__ import annotations

import json

import mir_eval
import numpy as np
import pytest

import mir_signals as ms
from audiolla_mcp.ops import chords

SR = ms.RENDER_SR


def _score(piece: ms.Piece, result: chords.ChordsResult) -> dict[str, float]:
    ref_intervals = np.array([[s, e] for s, e, _ in piece.chords])
    ref_labels = [c for _, _, c in piece.chords]
    est_intervals = np.array([[s["start"], s["end"]] for s in result.segments])
    est_intervals, est_labels = mir_eval.util.adjust_intervals(
        est_intervals, [s["chord"] for s in result.segments], ref_intervals.min(), ref_intervals.max(), "N", "N"
    )
    merged, ref, est = mir_eval.util.merge_labeled_intervals(ref_intervals, ref_labels, est_intervals, est_labels)
    durations = mir_eval.util.intervals_to_durations(merged)
    return {
        "majmin": mir_eval.chord.weighted_accuracy(mir_eval.chord.majmin(ref, est), durations),
        "sevenths": mir_eval.chord.weighted_accuracy(mir_eval.chord.sevenths(ref, est), durations),
    }


@pytest.mark.parametrize(
    "tonic, mode, numerals, program, figuration",
    [
        (0, "major", ("I", "vi", "IV", "V7", "I", "ii7", "V", "Imaj7"), ms.PIANO, "pulse"),
        (9, "minor", ("i", "iv7", "V7", "i", "VI", "iio6", "V", "i"), ms.STRINGS, "chorale"),
        (3, "major", ("I", "IV", "ii", "V", "vi", "IV", "V7", "I"), ms.GUITAR, "pulse"),
    ],
)
def test_progressions_are_recognised(tonic, mode, numerals, program, figuration) -> None:
    piece = ms.progression(tonic, mode, numerals, bpm=96, beats_per_chord=2, program=program, figuration=figuration)
    scores = _score(piece, chords.detect_chords(piece.audio(), SR))
    assert scores["majmin"] >= 0.85, scores
    assert scores["sevenths"] >= 0.7, scores


def test_seventh_and_suspended_qualities_are_named() -> None:
    piece = ms.progression(7, "major", ["I", "Imaj7", "V7", "Vsus4", "ii7", "I"], bpm=90, beats_per_chord=2,
                           program=ms.EPIANO, figuration="pulse")
    result = chords.detect_chords(piece.audio(), SR)
    found = {s["chord"] for s in result.segments}
    for label in ("G:maj", "G:maj7", "D:7", "D:sus4", "A:min7"):
        assert label in found, found
    assert result.key == "G major"
    assert {"Gmaj7", "D7", "Dsus4", "Am7"} <= set(result.unique_chords)


@pytest.mark.slow
def test_chorale_excerpt_majmin() -> None:
    piece = ms.chorale(1, 60, max_beats=30)
    assert _score(piece, chords.detect_chords(piece.audio(), SR))["majmin"] >= 0.8


def test_segments_tile_the_track_and_are_capped() -> None:
    piece = ms.progression(5, "major", ["I", "IV", "V", "I"] * 2, bpm=120, figuration="pulse")
    result = chords.detect_chords(piece.audio(), SR)
    starts = [s["start"] for s in result.segments]
    assert starts[0] == 0.0 and starts == sorted(starts)
    assert all(a["end"] == b["start"] for a, b in zip(result.segments, result.segments[1:]))
    assert all(0.0 <= s["confidence"] <= 1.0 for s in result.segments)
    capped = chords.detect_chords(piece.audio(), SR, max_segments=2)
    assert len(capped.segments) == 2 and capped.truncated


def test_flat_keys_use_flat_names() -> None:
    piece = ms.progression(10, "major", ["I", "IV", "V7", "I"], bpm=100, program=ms.EPIANO, figuration="pulse")
    result = chords.detect_chords(piece.audio(), SR)
    assert result.key == "Bb major"
    assert {"Bb", "Eb", "F7"} <= set(result.unique_chords)


def test_silence_is_no_chord() -> None:
    result = chords.detect_chords(np.zeros((1, SR * 2), np.float32), SR)
    assert {s["chord"] for s in result.segments} == {"N"}
    assert result.key is None
    json.dumps(result.__dict__, allow_nan=False)


def test_a_50ms_clip_gives_a_valid_answer() -> None:
    result = chords.detect_chords(ms.tone(440, 0.05, SR), SR)
    json.dumps(result.__dict__, allow_nan=False)


def test_viterbi_prefers_staying_unless_the_evidence_is_strong() -> None:
    evidence = np.log(np.array([[0.9, 0.45, 0.9, 0.1], [0.1, 0.55, 0.1, 0.9]]))
    assert chords.viterbi(evidence, np.full(4, 1.0)).tolist() == [0, 0, 0, 1]
    assert chords.viterbi(evidence, np.zeros(4)).tolist() == [0, 1, 0, 1]
