"""Dynamics measured on tones whose levels are known: reductions follow the static curve,
bypassed processing gives back the input, ducking follows its time constants."""

from __future__ import annotations

import numpy as np
import pytest
from fx_signals import SR, db, gain_db, gated, tone, white
from scipy.signal import sosfreqz

from audiolla_mcp.errors import ToolError
from audiolla_mcp.ops import dsp, dynamics
from audiolla_mcp.ops.effect_specs import BandCompressor

BYPASS = BandCompressor(ratio=1, makeup_db=0)


def rel_error_db(actual: np.ndarray, expected: np.ndarray) -> float:
    return db(np.sqrt(np.mean((actual - expected) ** 2)) / np.sqrt(np.mean(expected**2)))


@pytest.mark.parametrize("freqs", [[500.0], [150.0, 3000.0], [100.0, 800.0, 5000.0]])
def test_multiband_bypass_equals_the_crossover_allpass(freqs: list[float]):
    x = white(1.0, amp=0.2, channels=2)
    out = dynamics.multiband_compress(x, SR, freqs, [BYPASS] * (len(freqs) + 1))
    assert rel_error_db(out.audio, dsp.crossover_allpass(x, SR, freqs)) < -60
    assert all(band["max_reduction_db"] == 0 for band in out.bands)


def test_multiband_compresses_only_the_loud_band():
    # 100 Hz at -6 dBFS in the low band, 5 kHz at -30 dBFS in the high band
    x = tone(100, 3.0, amp=0.5) + tone(5000, 3.0, amp=10 ** (-30 / 20))
    low = BandCompressor(threshold_db=-20, ratio=4, knee_db=0)
    high = BandCompressor(threshold_db=-20, ratio=4, makeup_db=3)
    out = dynamics.multiband_compress(x, SR, [1000], [low, high])
    expected = -(-6.02 + 20) * (1 - 1 / 4)  # static curve: 14 dB over, 3/4 of it removed
    assert gain_db(x[0], out.audio[0], 100, 2.0, 3.0) == pytest.approx(expected, abs=0.5)
    assert gain_db(x[0], out.audio[0], 5000, 2.0, 3.0) == pytest.approx(3.0, abs=0.1)  # makeup only
    assert out.bands[0]["max_reduction_db"] == pytest.approx(-expected, abs=0.5)
    assert out.bands[1]["max_reduction_db"] == 0
    assert [out.bands[0]["high_hz"], out.bands[1]["low_hz"]] == [1000, 1000]


def test_multiband_band_count_is_checked():
    with pytest.raises(ToolError, match="2-4 bands"):
        dynamics.multiband_compress(white(0.1), SR, [100, 200, 400, 800], [BYPASS] * 5)
    with pytest.raises(ToolError, match="crossover"):
        dynamics.multiband_compress(white(0.1), SR, [100], [BYPASS] * 3)


def test_compressor_soft_knee_at_the_threshold():
    x = tone(200, 2.0, amp=10 ** (-20 / 20))  # peaks exactly at the threshold
    out = np.zeros_like(x)
    reduction = dynamics.compress(x, x, SR, -20, 4, 5, 200, out, knee_db=12)
    # Giannoulis soft knee at the threshold: (1 - 1/R)·(W/2)²/(2W) = 0.75 · 12/8 dB
    assert reduction.max_db == pytest.approx(0.75 * 12 / 8, abs=0.1)
    assert gain_db(x[0], out[0], 200, 1.0, 2.0) == pytest.approx(-0.75 * 12 / 8, abs=0.1)
    out = np.zeros_like(x)
    assert dynamics.compress(x, x, SR, -20, 4, 5, 200, out, knee_db=0).max_db == 0
    np.testing.assert_array_equal(out, x)


def test_compress_adds_into_the_output_with_makeup():
    x, bed = tone(300, 1.0, amp=0.1), tone(1000, 1.0, amp=0.2)
    out = bed.copy()
    dynamics.compress(x, x, SR, -6, 4, 5, 100, out, makeup_db=6.0206)  # under threshold: makeup only
    np.testing.assert_allclose(out, bed + 2 * x, atol=1e-6)


def transient_gain(x: np.ndarray, y: np.ndarray, start_s: float, stop_s: float) -> np.ndarray:
    """Per-sample gain in dB where the input is clearly non-zero."""
    a, b = round(start_s * SR), round(stop_s * SR)
    keep = np.abs(x[0, a:b]) > 0.05
    return 20 * np.log10(np.abs(y[0, a:b][keep]) / np.abs(x[0, a:b][keep]))


def test_transient_shaper_lifts_attacks_and_lowers_sustain():
    x = gated(tone(220, 3.0), 1.0, 1.5)  # a note out of silence at 1.0 s
    y = dynamics.transient_shaper(x, SR, attack_gain_db=6, sustain_gain_db=-6)
    assert transient_gain(x, y, 1.0, 1.003).max() == pytest.approx(6, abs=0.5)
    body = transient_gain(x, y, 1.2, 1.49)
    assert body.min() == pytest.approx(-6, abs=0.3) and body.max() == pytest.approx(-6, abs=0.3)


def test_transient_shaper_at_zero_gains_is_identity():
    x = white(0.5, channels=2)
    np.testing.assert_allclose(dynamics.transient_shaper(x, SR, 0, 0), x, rtol=1e-6)


def test_deess_reduces_sibilance_by_the_static_curve_and_leaves_the_rest():
    voice = tone(300, 3.0, amp=10 ** (-12 / 20))
    ess = gated(tone(10000, 3.0, amp=10 ** (-10 / 20)), 1.0, 2.0)
    x = voice + ess
    out = dynamics.deess(x, SR, freq_hz=5000, threshold_db=-30, ratio=4, attack_ms=1, release_ms=60)
    # the band split is zero phase: a sibilant scaled by g comes out at |LP|² + g·|HP|²
    _, response = sosfreqz(dsp.biquad("high_pass", 5000, SR), [10000], fs=SR)
    share = float(np.abs(response[0]) ** 2)
    g = 10 ** (-(20 - 0) * (1 - 1 / 4) / 20)  # -10 dBFS is 20 dB over: 15 dB of reduction
    expected = db((1 - share) + share * g)
    assert gain_db(ess[0], out.audio[0], 10000, 1.5, 1.95) == pytest.approx(expected, abs=0.6)
    assert gain_db(voice[0], out.audio[0], 300, 1.2, 1.9) == pytest.approx(0, abs=0.05)
    assert out.reduction.max_db == pytest.approx(15, abs=0.6)
    # after the release, no sibilance crosses the threshold: the input comes back exactly
    np.testing.assert_allclose(out.audio[0, int(2.5 * SR) :], x[0, int(2.5 * SR) :], atol=1e-6)


def test_sidechain_duck_reaches_depth_and_recovers():
    music = np.full((2, 3 * SR), 0.25, np.float32)
    trigger = gated(tone(100, 3.0), 1.0, 2.0)  # -6 dBFS voice-like key from 1 s to 2 s
    out = dynamics.sidechain_duck(music, trigger, SR, threshold_db=-30, depth_db=12, attack_ms=10, release_ms=100)
    gain = 20 * np.log10(out.audio[0] / 0.25)
    assert gain[: SR - 10] == pytest.approx(0, abs=1e-6)  # untouched before the trigger
    assert gain[int(1.1 * SR) : 2 * SR] == pytest.approx(-12, abs=0.05)  # 10 attack constants in
    # release: the held detector needs (−6 − (−30)) dB / 8.69 dB per 20 ms ≈ 55 ms to fall under
    # the threshold, then the reduction decays with the 100 ms release constant
    recovery = 2.0 + 0.056
    for after_s in (0.1, 0.3, 0.5):
        expected = -12 * np.exp(-after_s / 0.1)
        assert gain[int((recovery + after_s) * SR)] == pytest.approx(expected, abs=0.25)
    assert out.active_s == pytest.approx(1.056, abs=0.01)
    assert out.reduction.max_db == pytest.approx(12, abs=0.01)
    np.testing.assert_array_equal(out.audio[0], out.audio[1])


def test_sidechain_trigger_is_cut_or_padded_to_the_input():
    music = np.full((1, SR), 0.5, np.float32)
    short = gated(tone(100, 0.5), 0.0, 0.5)
    out = dynamics.sidechain_duck(music, short, SR, depth_db=6, release_ms=50)
    assert out.audio.shape == music.shape
    assert out.audio[0, -1] == pytest.approx(0.5, rel=1e-3)
    with pytest.raises(ToolError, match="empty"):
        dynamics.sidechain_duck(music[:, :0], short, SR)
