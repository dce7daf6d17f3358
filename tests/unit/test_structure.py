"""Section boundaries and labels against rendered songs with known form."""

from __future__ import annotations

import json

import mir_eval
import numpy as np
import pytest

import mir_signals as ms
from audiolla_mcp.errors import ToolError
from audiolla_mcp.ops import structure

SR = ms.RENDER_SR


def _scores(piece: ms.Piece, result: structure.StructureResult) -> tuple[float, float]:
    ref_intervals = np.array([[s, e] for s, e, _ in piece.sections])
    est_intervals = np.array([[s["start"], s["end"]] for s in result.sections])
    est_intervals[-1, 1] = ref_intervals[-1, 1]
    boundary_f = mir_eval.segment.detection(ref_intervals, est_intervals, window=1.0)[2]
    pairwise_f = mir_eval.segment.pairwise(
        ref_intervals, [l for *_, l in piece.sections], est_intervals, [s["label"] for s in result.sections]
    )[2]
    return boundary_f, pairwise_f


def test_sections_and_their_repeats_are_found() -> None:
    form = "ABACAB"
    piece = ms.sectioned_song(form, bpm=120, bars_per_section=4)
    result = structure.segment_structure(piece.audio(), SR)
    boundary_f, pairwise_f = _scores(piece, result)
    assert result.form == form
    assert boundary_f >= 0.8 and pairwise_f >= 0.85, (boundary_f, pairwise_f)


def test_section_count_can_be_fixed() -> None:
    piece = ms.sectioned_song("ABACAB", bpm=120, bars_per_section=4)
    result = structure.segment_structure(piece.audio(), SR, section_types=1)
    assert result.form == "A" and result.sections[0]["end"] == pytest.approx(piece.duration + 1.0, abs=0.1)


def test_short_sections_are_absorbed() -> None:
    starts = np.arange(10.0)
    runs = structure._sections(starts, np.array([0, 0, 0, 0, 1, 0, 0, 0, 2, 2]), 10.0, 2.0)
    assert [r[2] for r in runs] == [0, 2] and runs[0][1] == 8.0


@pytest.mark.parametrize(
    "audio", [np.zeros((1, SR * 3), np.float32), ms.noise(3.0, SR, 1), ms.tone(440, 0.05, SR)],
    ids=["silence", "noise", "50ms"],
)
def test_degenerate_input_gives_one_section(audio: np.ndarray) -> None:
    result = structure.segment_structure(audio, SR)
    assert result.section_count >= 1
    json.dumps(result.__dict__, allow_nan=False)


def test_invalid_arguments_are_refused() -> None:
    with pytest.raises(ToolError):
        structure.segment_structure(ms.tone(440, 1.0, SR), SR, section_types=0)
