"""Repair ops against damage made on purpose: clipped sines, mains hum, white noise, and a
tone mixed with clicks."""

from __future__ import annotations

import librosa
import noisereduce
import numpy as np
import pytest
from fx_signals import SR, amplitude, db, gain_db, snr_db, syllables, tone, white
from scipy.ndimage import median_filter

from audiolla_mcp.errors import ToolError
from audiolla_mcp.ops import restore, stft


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


@pytest.mark.parametrize("threshold", [None, 0.69])
def test_declip_rebuilds_sine_peaks(threshold: float | None):
    clean = tone(440, 1.0, amp=1.0, channels=2)
    clipped = np.clip(clean, -0.7, 0.7)
    out = restore.declip(clipped, threshold=threshold)
    assert np.abs(out.audio[:, 100:-100]).max() > 0.9
    assert rms(out.audio - clean) < 0.1 * rms(clipped - clean)
    assert out.runs >= 2 * 2 * 440 * 0.99  # two flat tops per cycle, both channels
    assert out.clipped_samples > 0.4 * clipped.size


def test_declip_keeps_clean_audio_and_stays_under_full_scale():
    clean = tone(1000, 0.5, amp=0.5)
    out = restore.declip(clean)
    assert out.runs == 0
    np.testing.assert_array_equal(out.audio, clean)
    hot = np.clip(tone(440, 0.5, amp=1.4), -1.0, 1.0)  # clipped at full scale
    out = restore.declip(hot)
    assert np.abs(out.audio).max() <= 10 ** (-0.1 / 20) + 1e-6
    assert out.gain_db < -2  # the rebuilt peaks (~1.4) were brought back under full scale


def hum(base: float, seconds: float = 3.0, harmonics: int = 5) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    wave = sum(0.1 / k * np.sin(2 * np.pi * base * k * t + k) for k in range(1, harmonics + 1))
    return wave[None].astype(np.float32)


@pytest.mark.parametrize("base", [50, 60])
def test_dehum_notches_30_db_and_keeps_a_1_khz_tone(base: int):
    music = tone(1000, 3.0, amp=0.3)
    x = music + hum(base)
    out = restore.dehum(x, SR, hum_hz="auto", harmonics=8)
    assert out.hum_hz == base
    assert out.notches_hz == [base * k for k in range(1, 9)]
    for k in range(1, 6):
        assert gain_db(x[0], out.audio[0], base * k, 1.5, 3.0) <= -30
    assert gain_db(music[0], out.audio[0], 1000, 1.5, 3.0) == pytest.approx(0, abs=0.5)


def test_dehum_auto_without_hum_changes_nothing():
    x = tone(1000, 2.0, amp=0.3) + white(2.0, amp=0.01)
    out = restore.dehum(x, SR, hum_hz="auto")
    assert out.hum_hz is None and out.notches_hz == []
    np.testing.assert_array_equal(out.audio, x)
    with pytest.raises(ToolError, match="harmonics"):
        restore.dehum(x, SR, hum_hz=50, harmonics=0)


def bursts(seconds: float = 6.0) -> np.ndarray:
    """440 Hz syllables: 150 ms on, 350 ms off, peak 0.3."""
    gate = np.zeros(round(seconds * SR), np.float32)
    for k in range(int(seconds * 2)):
        gate[round((0.3 + k * 0.5) * SR) : round((0.45 + k * 0.5) * SR)] = 1
    return tone(440, seconds, amp=0.3) * gate


def burst_snr_db(x: np.ndarray) -> float:
    """Level of the 440 Hz syllable at 3.3 s over the RMS of the gap after it."""
    return db(amplitude(x[0], 440, 3.32, 3.43) / rms(x[0, round(3.5 * SR) : round(3.75 * SR)]))


def test_reduce_noise_non_stationary_gains_snr():
    x = bursts() + white(6.0, amp=0.1, seed=1)
    out = restore.reduce_noise(x, SR, stationary=False, strength=0.9)
    assert out.shape == x.shape and out.dtype == np.float32
    assert burst_snr_db(out) - burst_snr_db(x) >= 8


def test_reduce_noise_stationary_with_a_noise_sample_gains_snr_on_a_steady_tone():
    x = tone(440, 6.0, amp=0.3, channels=2) + white(6.0, amp=0.1, channels=2, seed=1)
    noise_only = white(1.0, amp=0.1, seed=7)
    out = restore.reduce_noise(x, SR, stationary=True, strength=0.9, noise=noise_only)
    for c in range(2):
        assert snr_db(out[c], 440, 2.0, 5.0) - snr_db(x[c], 440, 2.0, 5.0) >= 8


def test_reduce_noise_strength_zero_is_transparent_and_short_input_refused():
    x = bursts(2.0) + white(2.0, amp=0.05)
    np.testing.assert_allclose(restore.reduce_noise(x, SR, strength=0.0), x, atol=1e-4)
    with pytest.raises(ToolError, match="too short"):
        restore.reduce_noise(x[:, :1000], SR)


@pytest.mark.parametrize(("n_fft", "hop", "frames"), [(1024, 256, 5000), (2048, 512, 2048), (64, 16, 100)])
def test_stft_frames_as_librosa_and_inverts(n_fft: int, hop: int, frames: int):
    x = white(frames / SR, amp=0.3, channels=2, seed=2)
    spectrum = stft.stft(x, n_fft, hop)
    expected = librosa.stft(x, n_fft=n_fft, hop_length=hop)  # (channels, bins, frames)
    np.testing.assert_allclose(spectrum, expected.transpose(0, 2, 1), atol=1e-4)
    np.testing.assert_allclose(stft.istft(spectrum, n_fft, hop, frames), x, atol=1e-5)


def improvement_db(clean: np.ndarray, noisy: np.ndarray, out: np.ndarray) -> float:
    """How much closer to the clean signal the output is than the input, in dB of SNR."""
    def snr(x: np.ndarray) -> float:
        return 20 * np.log10(rms(clean) / rms(x - clean))
    return snr(out) - snr(noisy)


@pytest.mark.parametrize("stationary", [False, True])
def test_reduce_noise_does_as_well_as_noisereduce_on_speech_in_white_noise(stationary: bool):
    clean = syllables(6.0, peak=0.3)
    noisy = clean + white(6.0, amp=0.1, seed=1)  # −3.5 dB SNR
    noise = white(1.0, amp=0.1, seed=7) if stationary else None
    ours = restore.reduce_noise(noisy, SR, stationary=stationary, strength=0.9, noise=noise)
    theirs = noisereduce.reduce_noise(y=noisy[0], sr=SR, stationary=stationary, prop_decrease=0.9,
                                      y_noise=None if noise is None else noise[0])[None]
    # noisereduce leaves the last frames' samples (under one hop) at zero: compare before them
    kept = slice(0, noisy.shape[-1] - 256)
    gain = improvement_db(clean[:, kept], noisy[:, kept], ours[:, kept])
    assert gain >= 6
    assert gain >= improvement_db(clean[:, kept], noisy[:, kept], theirs[:, kept]) - 1


def test_reduce_noise_passes_clean_tones_over_a_quiet_noise_floor():
    x = tone(440, 3.0, amp=0.3, channels=2) + tone(1500, 3.0, amp=0.1, channels=2)
    out = restore.reduce_noise(x, SR, stationary=True, strength=0.9, noise=white(1.0, amp=1e-4, seed=7))
    assert db(rms(out - x) / rms(x)) < -50


def clicks(seconds: float, every_s: float = 0.25) -> np.ndarray:
    x = np.zeros((1, round(seconds * SR)), np.float32)
    x[0, round(0.1 * SR) :: round(every_s * SR)] = 0.8
    return x


def test_hpss_separates_tone_from_clicks_and_sums_back():
    steady, hits = tone(440, 3.0, amp=0.3, channels=2), np.repeat(clicks(3.0), 2, axis=0)
    x = steady + hits
    out = restore.hpss(x, SR, margin=1.0)
    assert out.harmonic.shape == x.shape == out.percussive.shape
    np.testing.assert_allclose(out.harmonic + out.percussive, x, atol=2e-3)
    # the tone lives in the harmonic part, the clicks' energy in the percussive part
    assert gain_db(steady[0], out.harmonic[0], 440, 0.5, 2.5) == pytest.approx(0, abs=1)
    assert gain_db(steady[0], out.percussive[0], 440, 0.5, 2.5) < -15
    click = slice(round(1.1 * SR) - 200, round(1.1 * SR) + 200)
    assert rms(out.percussive[0, click]) > 3 * rms(out.harmonic[0, click] - steady[0, click])


def test_hpss_margin_leaves_a_residual():
    x = tone(440, 2.0, amp=0.3) + clicks(2.0)
    out = restore.hpss(x, SR, margin=3.0)
    assert rms(out.harmonic + out.percussive) < rms(x)
    with pytest.raises(ToolError, match="margin"):
        restore.hpss(x, SR, margin=0.5)


def test_running_median_matches_scipy():
    grid = np.abs(np.random.default_rng(0).standard_normal((40, 90))).astype(np.float32)
    for axis, size in ((1, (1, 31)), (0, (31, 1))):
        np.testing.assert_array_equal(restore.median_filter(grid, 31, axis), median_filter(grid, size=size, mode="reflect"))


@pytest.mark.parametrize("margin", [1.0, 2.0])
def test_hpss_matches_librosa_on_mono(margin: float):
    x = tone(330, 1.5, amp=0.3) + clicks(1.5, every_s=0.2) + white(1.5, amp=0.02)
    out = restore.hpss(x, SR, margin=margin)
    harmonic, percussive = librosa.effects.hpss(x[0], margin=margin)
    np.testing.assert_allclose(out.harmonic[0], harmonic, atol=1e-4)
    np.testing.assert_allclose(out.percussive[0], percussive, atol=1e-4)
