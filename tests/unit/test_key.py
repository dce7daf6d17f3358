"""Key detection against cadential progressions and a chorale with known keys."""

from __future__ import annotations

import json

import mir_eval
import numpy as np
import pytest

import mir_signals as ms
from audiolla_mcp.ops import key

SR = ms.RENDER_SR

CASES = [
    (2, "major", ("I", "IV", "V7", "I", "vi", "ii", "V", "I"), ms.PIANO, "pulse"),
    (9, "minor", ("i", "iv", "V7", "i", "VI", "iio6", "V", "i"), ms.STRINGS, "block"),
    (10, "major", ("I", "vi", "IV", "V", "I", "ii7", "V7", "I"), ms.ORGAN, "arpeggio"),
    (4, "minor", ("i", "iv", "i64", "V7", "i", "III", "iv", "V", "i"), ms.EPIANO, "chorale"),
]


@pytest.mark.parametrize("tonic, mode, numerals, program, figuration", CASES)
def test_cadential_progressions_give_their_key(tonic, mode, numerals, program, figuration) -> None:
    piece = ms.progression(tonic, mode, numerals, bpm=100, beats_per_chord=2, program=program, figuration=figuration)
    result = key.detect_key(piece.audio(), SR)
    assert mir_eval.key.weighted_score(piece.key, result.key) == 1.0, (piece.key, result.key)
    assert result.confidence >= 0.3
    assert result.camelot == key.camelot(ms.PITCH_NAMES.index(piece.key.split()[0]), mode)


def test_minor_key_is_not_taken_for_its_relative_major() -> None:
    piece = ms.progression(4, "minor", ["i", "III", "VI", "iv", "V7", "i"], bpm=90, program=ms.PIANO)
    result = key.detect_key(piece.audio(), SR)
    assert result.key == "E minor"
    assert any(alt["key"] == "G major" for alt in result.alternatives)


@pytest.mark.slow
def test_chorale_in_a_minor_with_its_phrygian_ending() -> None:
    piece = ms.chorale(3, 84)
    assert key.detect_key(piece.audio(), SR).key == "A minor"


def test_transposition_moves_the_key() -> None:
    numerals = ["I", "IV", "V7", "I"]
    found = {key.detect_key(ms.progression(t, "major", numerals, bpm=120).audio(), SR).key for t in (0, 7)}
    assert found == {"C major", "G major"}


@pytest.mark.parametrize(
    "tonic, mode, code, open_code",
    [(0, "major", "8B", "1d"), (9, "minor", "8A", "1m"), (7, "major", "9B", "2d"), (4, "major", "12B", "5d"),
     (1, "minor", "12A", "5m"), (5, "major", "7B", "12d")],
)
def test_camelot_and_open_key_codes(tonic, mode, code, open_code) -> None:
    assert key.camelot(tonic, mode) == code
    assert key.open_key(tonic, mode) == open_code


def test_alternatives_are_ranked_and_capped() -> None:
    piece = ms.progression(7, "major", ["I", "IV", "V", "I"], bpm=110)
    result = key.detect_key(piece.audio(), SR, max_alternatives=3)
    scores = [alt["score"] for alt in result.alternatives]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True)
    assert result.key not in {alt["key"] for alt in result.alternatives}


@pytest.mark.parametrize(
    "audio",
    [np.zeros((2, SR * 2), np.float32), ms.noise(3.0, SR, 1), ms.tone(440, 0.05, SR)],
    ids=["silence", "noise", "50ms"],
)
def test_no_tonal_content_means_no_key_or_low_confidence(audio: np.ndarray) -> None:
    result = key.detect_key(audio, SR)
    assert result.key is None or result.confidence < 0.5
    json.dumps(result.__dict__, allow_nan=False)


def test_sample_rate_and_layout_do_not_change_the_key() -> None:
    piece = ms.progression(2, "major", ["I", "IV", "V7", "I"], bpm=100)
    for sr, channels in ((8000, 1), (96000, 6)):
        audio = ms.as_channels(ms.resample_to(piece.audio(), SR, sr), channels)
        assert key.detect_key(audio, sr).key == "D major"
