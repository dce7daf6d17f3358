"""analyze, dj_prep, clipping, stereo field, loop points and A/B comparison on signals with
known answers."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest

import mir_signals as ms
from audiolla_mcp.errors import ToolError
from audiolla_mcp.ops import analysis, loudness

SR = ms.RENDER_SR


def _stereo_sine(freq: float, seconds: float, amplitude: float, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    wave = (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([wave, wave])


@pytest.fixture(scope="module")
def song() -> tuple[ms.Piece, np.ndarray]:
    piece = ms.progression(9, "minor", ["i", "iv", "V7", "i", "VI", "iio6", "V", "i"], bpm=100, figuration="pulse")
    return piece, piece.audio()


def test_analyze_reports_tempo_key_loudness_and_dynamics(song) -> None:
    piece, audio = song
    result = analysis.analyze(audio, SR)
    assert result.bpm == pytest.approx(100, rel=0.04)
    assert result.key == "A minor" and result.camelot == "8A"
    assert result.integrated_lufs == loudness.measure(audio, SR).integrated_lufs
    assert result.dynamics.crest_factor_db == pytest.approx(result.dynamics.peak_dbfs - result.dynamics.rms_dbfs, abs=0.02)
    assert result.duration_s == pytest.approx(audio.shape[1] / SR, abs=1e-3)
    json.dumps(asdict(result), allow_nan=False)


def test_spectral_and_dynamic_figures_of_a_sine() -> None:
    result = analysis.analyze(_stereo_sine(1000.0, 3.0, 0.5), SR, ["spectral", "dynamics"])
    assert result.bpm is None and result.key is None and result.integrated_lufs is None
    assert result.spectral.centroid_hz == pytest.approx(1000, rel=0.02)
    assert result.spectral.rolloff_hz == pytest.approx(1000, rel=0.03)
    assert result.spectral.flatness < 0.01
    assert result.dynamics.crest_factor_db == pytest.approx(3.01, abs=0.05)
    assert result.dynamics.peak_dbfs == pytest.approx(-6.02, abs=0.01)


def test_noise_is_spectrally_flat_and_bright() -> None:
    result = analysis.analyze(ms.noise(2.0, SR, 1), SR, ["spectral"])
    assert result.spectral.flatness > 0.4
    assert result.spectral.centroid_hz == pytest.approx(SR / 4, rel=0.05)


def test_unknown_section_is_refused() -> None:
    with pytest.raises(ToolError, match="unknown analysis sections"):
        analysis.analyze(ms.tone(440, 1.0), SR, ["tempo", "mood"])


def test_dj_prep(song) -> None:
    _, audio = song
    result = analysis.dj_prep(audio, SR)
    assert result.camelot == "8A" and result.open_key == "1m"
    assert result.gain_to_reference_db == pytest.approx(-14.0 - result.integrated_lufs, abs=0.01)
    assert result.first_downbeat_s is not None and result.first_downbeat_s < 3.0


@pytest.mark.parametrize("gain_after", [1.0, 0.5])
def test_clipping_is_found_even_when_turned_down_afterwards(gain_after: float) -> None:
    t = np.arange(SR) / SR
    driven = 2.0 * np.sin(2 * np.pi * 100 * t)
    clipped = (np.clip(driven, -1.0, 1.0) * gain_after).astype(np.float32)[None, :]
    result = analysis.detect_clipping(clipped, SR)
    assert result.clipped
    assert result.clipped_samples == int(np.sum(np.abs(driven) >= 1.0))
    assert result.event_count == 200  # two flat tops per cycle of a 100 Hz sine
    assert result.clip_level_dbfs == pytest.approx(20 * np.log10(gain_after), abs=0.01)


@pytest.mark.parametrize("sr, bits", [(96000, None), (44100, 16)])
def test_a_clean_sine_near_full_scale_is_not_clipped(sr: int, bits: int | None) -> None:
    sine = _stereo_sine(20.0, 1.0, 0.99, sr)
    if bits:
        sine = np.round(sine * 2 ** (bits - 1)) / 2 ** (bits - 1)
    result = analysis.detect_clipping(sine.astype(np.float32), sr)
    assert not result.clipped and result.events == []


@pytest.mark.parametrize(
    "left, right, correlation, width",
    [(1.0, 1.0, 1.0, 0.0), (1.0, -1.0, -1.0, 1.0)],
    ids=["mono", "anti-phase"],
)
def test_stereo_field_extremes(left: float, right: float, correlation: float, width: float) -> None:
    wave = ms.noise(2.0, SR, 1)[0]
    result = analysis.stereo_field(np.stack([left * wave, right * wave]), SR)
    assert result.correlation == pytest.approx(correlation, abs=1e-3)
    assert result.width == pytest.approx(width, abs=1e-3)
    assert result.phase_problem == (correlation < 0)
    assert result.is_mono == (correlation == 1.0)


def test_uncorrelated_channels_are_wide_and_balance_shows_level_offset() -> None:
    left, right = ms.noise(2.0, SR, 1, seed=1)[0], ms.noise(2.0, SR, 1, seed=2)[0] * 0.5
    result = analysis.stereo_field(np.stack([left, right]), SR)
    assert abs(result.correlation) < 0.02
    assert result.balance_db == pytest.approx(6.02, abs=0.1)
    assert [b["low_hz"] for b in result.band_correlation] == [20.0, 200.0, 4000.0]


def test_mono_input_has_no_stereo_field() -> None:
    assert analysis.stereo_field(ms.tone(440, 1.0), SR).is_mono


def test_loop_point_of_a_repeated_pattern_is_whole_bars() -> None:
    bar = ms.drum_groove("funk", 120, bars=2, bass_root=40).audio()[:, : 4 * SR]
    audio = np.tile(bar, 4)
    result = analysis.find_loop_point(audio, SR, min_length_s=1.0, max_length_s=8.0)
    assert result.bars in (1, 2, 4) and result.bpm == pytest.approx(120, rel=0.02)
    assert (result.length_s / 2.0) == pytest.approx(round(result.length_s / 2.0), abs=0.002)
    assert result.score > 0.9 and result.seam_error_db < -30


def test_loop_point_needs_enough_audio() -> None:
    with pytest.raises(ToolError, match="too short"):
        analysis.find_loop_point(ms.tone(440, 1.0), SR, min_length_s=1.0)


def test_compare_identical() -> None:
    audio = ms.drum_groove("rock", 120, bars=2).audio()
    result = analysis.compare_audio(audio, SR, audio.copy(), SR)
    assert result.identical and result.offset_s == 0.0
    assert all(v == 0.0 for v in result.loudness_delta.values() if v is not None)


def test_compare_finds_offset_and_gain() -> None:
    a = ms.drum_groove("rock", 120, bars=2).audio()
    delay = int(0.01 * SR)
    b = np.pad(a, ((0, 0), (delay, 0)))[:, : a.shape[1]] * 0.5
    result = analysis.compare_audio(a, SR, b, SR)
    assert result.offset_s == pytest.approx(0.01, abs=1e-4)
    assert result.gain_b_to_a_db == pytest.approx(6.02, abs=0.05)
    assert result.loudness_delta["integrated_lufs"] == pytest.approx(-6.02, abs=0.05)
    assert result.matched_null_residual_db < -40 and not result.identical
    assert all(b["difference_db"] == pytest.approx(-6.02, abs=0.3) for b in result.band_difference_db if b["difference_db"] is not None and b["centre_hz"] >= 63)


def test_compare_across_sample_rates_and_the_plot() -> None:
    a = ms.drum_groove("rock", 120, bars=2).audio()
    b = ms.resample_to(a, SR, 48000)
    result = analysis.compare_audio(a, SR, b, 48000)
    assert result.sample_rate == SR and result.correlation > 0.99
    png = analysis.comparison_png(result)
    assert png.startswith(b"\x89PNG")


@pytest.mark.parametrize("audio", [np.zeros((2, SR), np.float32), ms.tone(440, 0.05, SR)], ids=["silence", "50ms"])
def test_summary_ops_accept_degenerate_input(audio: np.ndarray) -> None:
    for result in (analysis.analyze(audio, SR), analysis.dj_prep(audio, SR), analysis.detect_clipping(audio, SR),
                   analysis.stereo_field(audio, SR)):
        json.dumps(asdict(result), allow_nan=False)
