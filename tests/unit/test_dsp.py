"""EQ and crossovers measured with steady sines: the gain a band promises is the gain a tone
at its centre gets."""

from __future__ import annotations

import numpy as np
import pytest
from fx_signals import SR, gain_db, tone, white
from scipy.signal import sosfreqz

from audiolla_mcp.errors import ToolError
from audiolla_mcp.ops import dsp
from audiolla_mcp.ops.effect_specs import EqBand


def measured_gain(bands: list[EqBand], freq: float, sr: int = SR) -> float:
    """Steady-state gain of a sine at `freq` through the EQ (first 0.5 s skipped)."""
    x = tone(freq, 1.0, sr=sr)
    return gain_db(x[0], dsp.eq(x, sr, bands)[0], freq, 0.5, 1.0, sr)


@pytest.mark.parametrize(
    ("band", "expected_db"),
    [
        (EqBand(type="peak", freq_hz=1000, gain_db=6, q=1), 6.0),
        (EqBand(type="peak", freq_hz=300, gain_db=-9, q=4), -9.0),
        (EqBand(type="low_shelf", freq_hz=200, gain_db=6), 3.0),  # shelf midpoint at its corner
        (EqBand(type="high_shelf", freq_hz=4000, gain_db=-8), -4.0),
        (EqBand(type="high_pass", freq_hz=100), -3.01),  # |H(f0)| = Q
        (EqBand(type="low_pass", freq_hz=2000, q=2), 6.02),
        (EqBand(type="band_pass", freq_hz=1500, q=3), 0.0),
    ],
)
def test_gain_at_band_centre(band: EqBand, expected_db: float):
    assert measured_gain([band], band.freq_hz) == pytest.approx(expected_db, abs=0.5)


def test_shelves_and_passes_away_from_the_corner():
    assert measured_gain([EqBand(type="low_shelf", freq_hz=200, gain_db=6)], 25) == pytest.approx(6, abs=0.5)
    assert measured_gain([EqBand(type="low_shelf", freq_hz=200, gain_db=6)], 5000) == pytest.approx(0, abs=0.1)
    # 12 dB/octave: two octaves under the corner is 24 dB down
    assert measured_gain([EqBand(type="high_pass", freq_hz=400)], 100) == pytest.approx(-24.1, abs=0.5)
    assert measured_gain([EqBand(type="high_pass", freq_hz=100)], 3000) == pytest.approx(0, abs=0.1)


def test_notch_removes_its_frequency_and_spares_the_octave():
    notch = [EqBand(type="notch", freq_hz=1000, q=10)]
    assert measured_gain(notch, 1000) < -40
    assert measured_gain(notch, 500) == pytest.approx(0, abs=0.5)


def test_bands_combine_in_series():
    bands = [EqBand(type="peak", freq_hz=200, gain_db=5, q=2), EqBand(type="peak", freq_hz=5000, gain_db=-7, q=2)]
    assert measured_gain(bands, 200) == pytest.approx(5, abs=0.5)
    assert measured_gain(bands, 5000) == pytest.approx(-7, abs=0.5)


def test_stereo_channels_are_filtered_alike_and_stay_float32():
    x = tone(1000, 0.5, channels=2)
    out = dsp.eq(x, SR, [EqBand(type="peak", freq_hz=1000, gain_db=6)])
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_array_equal(out[0], out[1])


def test_no_bands_returns_the_input():
    x = white(0.1)
    np.testing.assert_array_equal(dsp.eq(x, SR, []), x)


def test_frequency_above_nyquist_is_refused():
    with pytest.raises(ToolError, match="Nyquist"):
        dsp.eq(tone(100, 0.1, sr=16000), 16000, [EqBand(type="peak", freq_hz=9000, gain_db=3)])


@pytest.mark.parametrize("freqs", [[800.0], [200.0, 2000.0], [120.0, 1000.0, 6000.0]])
def test_crossover_bands_sum_to_the_allpassed_input(freqs: list[float]):
    x = white(1.0, channels=2)
    bands = dsp.crossover_bands(x, SR, freqs)
    assert len(bands) == len(freqs) + 1
    reference = dsp.crossover_allpass(x, SR, freqs)
    error = np.sqrt(np.mean((sum(bands) - reference) ** 2)) / np.sqrt(np.mean(reference**2))
    assert 20 * np.log10(error) < -60
    # the allpass keeps every frequency's level
    for f in (60.0, 700.0, 9000.0):
        assert gain_db(tone(f, 1.0)[0], dsp.crossover_allpass(tone(f, 1.0), SR, freqs)[0], f, 0.5, 1.0) == pytest.approx(0, abs=0.05)


def test_lr4_bands_are_6_db_down_at_the_crossover_and_steep_beyond():
    x = tone(1000, 1.0)
    low, high = dsp.crossover_bands(x, SR, [1000])
    assert gain_db(x[0], low[0], 1000, 0.5, 1.0) == pytest.approx(-6.02, abs=0.1)
    assert gain_db(x[0], high[0], 1000, 0.5, 1.0) == pytest.approx(-6.02, abs=0.1)
    x = tone(4000, 1.0)
    low, _ = dsp.crossover_bands(x, SR, [1000])
    assert gain_db(x[0], low[0], 4000, 0.5, 1.0) < -45  # 24 dB/octave


def test_crossovers_must_increase():
    with pytest.raises(ToolError, match="increasing"):
        dsp.crossover_bands(white(0.1), SR, [2000, 500])


def test_complementary_split_is_exact_and_zero_phase():
    x = white(0.5, channels=2)
    low, high = dsp.complementary_split(x, SR, 5000)
    np.testing.assert_allclose(low + high, x, atol=1e-6)
    t = tone(10000, 1.0)
    _, high = dsp.complementary_split(t, SR, 5000)
    _, response = sosfreqz(dsp.biquad("high_pass", 5000, SR), [10000], fs=SR)
    # zero phase: the high band is the input scaled by |HP|², with no phase error
    middle = slice(SR // 4, -SR // 4)
    assert np.abs(high[0, middle] - t[0, middle] * np.abs(response[0]) ** 2).max() < 1e-3
