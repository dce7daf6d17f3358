"""BS.1770-4 / EBU R128 loudness: EBU test-case tables, layouts, rates, curves, normalisation,
and cross-checks against ffmpeg's ebur128 filter and pyloudnorm."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from loudness_signals import (
    BS1770_TABLE_48K,
    SR,
    TECH_3341,
    TECH_3342,
    Case,
    band_limited_noise,
    drum_pulses,
    faded,
    music_like,
    pink_noise,
    silence,
    sine,
    steps,
)
from scipy.signal import resample_poly, sosfreqz

from audiolla_mcp.errors import Cancelled, ToolError
from audiolla_mcp.ops import loudness
from audiolla_mcp.progress import CancelToken


def _value(case: Case, signal: np.ndarray) -> float | list[float]:
    if case.quantity in ("momentary_constant", "short_term_constant"):
        window = "momentary" if case.quantity == "momentary_constant" else "short_term"
        return loudness.curve(signal, case.sr, window, points=10**6).lufs
    report = loudness.measure(signal, case.sr)
    return {
        "integrated": report.integrated_lufs,
        "loudness_range": report.loudness_range_lu,
        "true_peak": report.true_peak_dbtp,
        "max_momentary": report.max_momentary_lufs,
        "max_short_term": report.max_short_term_lufs,
    }[case.quantity]


@pytest.mark.parametrize("case", TECH_3341 + TECH_3342, ids=lambda c: c.name)
def test_ebu_case(case: Case) -> None:
    value = _value(case, case.signal())
    values = value if isinstance(value, list) else [value]
    assert values and None not in values
    assert case.expected - case.below <= min(values)
    assert max(values) <= case.expected + case.above


def test_k_weighting_is_the_bs1770_table_at_48k() -> None:
    np.testing.assert_allclose(loudness.k_weighting_sos(48000), BS1770_TABLE_48K, rtol=0, atol=1e-12)


@pytest.mark.parametrize("sr", [22050, 44100, 96000, 192000])
def test_k_weighting_response_is_rate_independent(sr: int) -> None:
    freqs = np.array([20, 50, 100, 500, 1000, 2000, 5000, 10000])
    _, reference = sosfreqz(BS1770_TABLE_48K, worN=freqs, fs=48000)
    _, derived = sosfreqz(loudness.k_weighting_sos(sr), worN=freqs, fs=sr)
    gap = 20 * np.log10(np.abs(derived) / np.abs(reference))
    assert np.abs(gap[freqs <= sr / 8]).max() < 0.03


def test_stereo_is_3_db_over_mono() -> None:
    mono = loudness.measure(sine(1000, -20, 5, channels=1), SR)
    stereo = loudness.measure(sine(1000, -20, 5, channels=2), SR)
    assert stereo.integrated_lufs - mono.integrated_lufs == pytest.approx(3.01, abs=0.02)
    assert mono.integrated_lufs == pytest.approx(-23.01, abs=0.05)
    assert stereo.true_peak_dbtp == mono.true_peak_dbtp == pytest.approx(-20.0, abs=0.05)


def _only(channel: int, channels: int = 6) -> np.ndarray:
    signal = np.zeros((channels, 5 * SR), np.float32)
    signal[channel] = sine(1000, -20, 5, channels=1)[0]
    return signal


def test_51_weights_surrounds_up_lfe_out() -> None:
    left = loudness.measure(_only(0), SR).integrated_lufs
    centre = loudness.measure(_only(2), SR).integrated_lufs
    surround = loudness.measure(_only(4), SR).integrated_lufs
    assert centre == pytest.approx(left, abs=0.01)
    assert surround - left == pytest.approx(10 * np.log10(1.41), abs=0.02)
    lfe = loudness.measure(_only(3), SR)
    assert lfe.integrated_lufs is None and lfe.max_momentary_lufs is None
    assert lfe.sample_peak_dbfs == pytest.approx(-20.0, abs=0.01)


def test_other_layouts_weigh_every_channel_once() -> None:
    four = loudness.measure(_only(3, channels=4), SR).integrated_lufs
    assert four == pytest.approx(loudness.measure(_only(0, channels=4), SR).integrated_lufs, abs=0.01)


@pytest.mark.parametrize("sr", [44100, 48000, 96000])
def test_sample_rates_agree(sr: int) -> None:
    report = loudness.measure(sine(997, -23, 10, sr=sr), sr)
    assert report.integrated_lufs == pytest.approx(-23.0, abs=0.05)
    assert report.max_short_term_lufs == pytest.approx(-23.0, abs=0.05)
    assert report.true_peak_dbtp == pytest.approx(-23.0, abs=0.05)
    assert report.duration_s == 10.0


def test_fractional_hop_length_matches_48k() -> None:
    """11025 Hz has 1102.5-sample hops; a 300 Hz tone sits below the band the rate warps."""
    low = loudness.measure(sine(300, -23, 6, sr=11025), 11025)
    reference = loudness.measure(sine(300, -23, 6), SR)
    assert low.integrated_lufs == pytest.approx(reference.integrated_lufs, abs=0.02)
    assert low.max_momentary_lufs == pytest.approx(reference.max_momentary_lufs, abs=0.02)


def test_silence_gives_none_never_infinity() -> None:
    report = loudness.measure(silence(5), SR)
    assert report == loudness.LoudnessReport(None, None, None, None, None, None, 5.0)
    assert loudness.curve(silence(2), SR).lufs == [None] * 17


def test_empty_audio_is_all_none() -> None:
    assert loudness.measure(np.zeros((2, 0), np.float32), SR) == loudness.LoudnessReport(
        None, None, None, None, None, None, 0.0)


def test_too_short_for_blocks_keeps_peaks() -> None:
    report = loudness.measure(sine(1000, -10, 0.3), SR)
    assert report.integrated_lufs is None and report.max_momentary_lufs is None and report.loudness_range_lu is None
    assert report.sample_peak_dbfs == pytest.approx(-10.0, abs=0.01)
    short = loudness.measure(sine(1000, -10, 1.0), SR)
    assert short.integrated_lufs == pytest.approx(-10.0, abs=0.05) and short.max_short_term_lufs is None


def test_quiet_passage_below_gate_is_none_in_curve() -> None:
    signal = steps([(-20, 2.0), (-80, 2.0), (-20, 2.0)])
    result = loudness.curve(signal, SR, "momentary", points=1000)
    assert result.lufs[5] == pytest.approx(-20.0, abs=0.05)
    assert result.lufs[30] is None
    assert result.times_s[0] == pytest.approx(0.4)


def test_curve_decimation_keeps_the_loudest_block() -> None:
    signal = steps([(-30, 5.0), (-14, 0.6), (-30, 5.0)])
    full = loudness.curve(signal, SR, "momentary", points=10**6)
    thin = loudness.curve(signal, SR, "momentary", points=10)
    assert len(full.lufs) == 103 and len(thin.lufs) <= 10
    assert thin.blocks_per_point == 11
    assert max(v for v in thin.lufs if v is not None) == max(v for v in full.lufs if v is not None)
    assert thin.times_s == sorted(thin.times_s)
    peak_time = thin.times_s[int(np.argmax(thin.lufs))]
    assert 5.4 <= peak_time <= 5.6


def test_curve_rejects_bad_arguments() -> None:
    with pytest.raises(ToolError, match="points"):
        loudness.curve(sine(1000, -20, 1), SR, points=0)
    with pytest.raises(ToolError, match="window"):
        loudness.curve(sine(1000, -20, 1), SR, window="integrated")


def test_rejects_flat_arrays_and_nan() -> None:
    with pytest.raises(ToolError, match="channels, frames"):
        loudness.measure(np.zeros(1000, np.float32), SR)
    broken = sine(1000, -20, 1)
    broken[0, 100] = np.nan
    with pytest.raises(ToolError, match="NaN"):
        loudness.measure(broken, SR)


@pytest.mark.parametrize("make", [lambda: pink_noise(20, rms_dbfs=-12, seed=5),
                                  lambda: band_limited_noise(20),
                                  lambda: drum_pulses(20)],
                         ids=["pink", "white", "drums"])
def test_true_peak_equals_full_oversampling(make) -> None:
    signal = make()
    full = 20 * np.log10(np.abs(resample_poly(signal, 4, 1, axis=1)).max())
    report = loudness.measure(signal, SR)
    assert report.true_peak_dbtp == pytest.approx(full, abs=0.05)
    assert report.true_peak_dbtp >= report.sample_peak_dbfs


def _true_peak_by_brute_force(x: np.ndarray) -> float:
    """Every point of the module's own interpolator after every sample, by plain correlation."""
    half = loudness.TAPS_PER_PHASE // 2
    best = float(np.abs(x).max())
    for channel in x.astype(np.float64):
        padded = np.concatenate([np.zeros(half - 1), channel, np.zeros(half)])
        for phase in loudness._interpolator():
            best = max(best, float(np.abs(np.correlate(padded, phase, "valid")).max()))
    return best


def _edges() -> np.ndarray:
    """The true peak between the first two samples (the tile whose filter reaches before the
    signal), a full-scale step at the very end, and a length that is not a whole number of
    tiles."""
    signal = faded(sine(SR / 4, -12, 0.1, phase_deg=45))[:, :4801]
    signal[0, :2] = [0.5, -0.5]
    signal[1, -2:] = [-0.6, 0.6]
    return signal


def _with_burst(signal: np.ndarray, peak_dbfs: float, channel: int) -> np.ndarray:
    """`signal` with an fs/4 burst at 45° laid over its second second: a true peak above every
    sample, in a tile whose own samples (3 dB under) stay under the signal's sample peak."""
    out = signal.copy()
    burst = faded(sine(SR / 4, peak_dbfs, 0.05, channels=1, phase_deg=45), seconds=0.005)[0]
    out[channel, SR : SR + burst.size] = burst
    return out


@pytest.mark.parametrize("make", [
    lambda: _with_burst(np.random.default_rng(2).normal(0, 0.1, (2, 3 * SR)).astype(np.float32), -5.0, 1),
    lambda: _with_burst(pink_noise(3, rms_dbfs=-18), -3.0, 0),
    lambda: music_like(3),
    lambda: _with_burst(np.concatenate([pink_noise(3, rms_dbfs=-26), silence(3, channels=1)]), -11.0, 2),
    lambda: np.random.default_rng(4).uniform(-1, 1, (1, 100)).astype(np.float32),
    _edges,
], ids=["white", "pink", "music", "three-channels", "100-frames", "edges"])
def test_pruned_true_peak_search_finds_the_largest_point(make) -> None:
    """The pruned search returns exactly the largest of all interpolated points."""
    signal = make()
    sample_peak, true_peak = loudness._peaks(signal)
    assert sample_peak == np.abs(signal).max()
    assert true_peak == pytest.approx(_true_peak_by_brute_force(signal), rel=1e-6)


def test_three_channels_sum_their_powers() -> None:
    """An odd channel count (the K-weighting runs channels in pairs) weighs each channel once."""
    levels = [-20.0, -26.0, -32.0]
    signal = np.concatenate([sine(1000, level, 5, channels=1) for level in levels])
    mono = [loudness.measure(sine(1000, level, 5, channels=1), SR).integrated_lufs for level in levels]
    expected = 10 * np.log10(sum(10 ** (lufs / 10) for lufs in mono))
    assert loudness.measure(signal, SR).integrated_lufs == pytest.approx(expected, abs=0.02)


def test_any_memory_layout_measures_alike() -> None:
    signal = pink_noise(3, rms_dbfs=-18)
    fortran = np.asfortranarray(signal)
    strided = np.repeat(signal, 2, axis=1)[:, ::2]
    reference = loudness.measure(signal, SR)
    assert loudness.measure(fortran, SR) == reference
    assert loudness.measure(strided, SR) == reference
    assert loudness.measure(signal.astype(np.float64), SR) == reference


def test_progress_and_cancel() -> None:
    calls: list[tuple[float, float]] = []
    loudness.measure(sine(1000, -20, 25), SR, progress=lambda done, total, message=None: calls.append((done, total)))
    assert calls[-1] == (250, 250) and [d for d, _ in calls] == sorted(d for d, _ in calls)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        loudness.measure(sine(1000, -20, 5), SR, cancel=token)


@pytest.mark.parametrize("case", [c for c in TECH_3341 if c.name.startswith(("3341-3", "3341-5", "3341-7"))]
                         + [TECH_3342[3]], ids=lambda c: c.name)
def test_agrees_with_pyloudnorm(case: Case) -> None:
    signal = case.signal()
    meter = pyloudnorm.Meter(case.sr)
    report = loudness.measure(signal, case.sr)
    if case.quantity == "integrated":
        assert report.integrated_lufs == pytest.approx(meter.integrated_loudness(signal.T), abs=0.1)
    else:
        assert report.loudness_range_lu == pytest.approx(meter.loudness_range(signal.T), abs=0.5)


def _ffmpeg_ebur128(signal: np.ndarray, sr: int, path) -> dict[str, float]:
    sf.write(path, signal.T, sr, subtype="FLOAT")
    run = subprocess.run(["ffmpeg", "-nostats", "-hide_banner", "-i", str(path), "-filter_complex",
                          "ebur128=peak=true", "-f", "null", "-"], capture_output=True, text=True, check=True)
    summary = run.stderr[run.stderr.rindex("Summary:"):]
    number = r"\s+(-?[\d.]+|-inf)"
    return {key: float(re.search(label + number, summary).group(1))
            for key, label in [("integrated", "I:"), ("lra", "LRA:"), ("true_peak", "Peak:")]}


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
@pytest.mark.parametrize("make", [pytest.param(TECH_3341[3].signal, marks=pytest.mark.slow), TECH_3342[0].signal,
                                  lambda: pink_noise(15, rms_dbfs=-14), TECH_3341[20].signal],
                         ids=["3341-4", "3342-1", "pink", "3341-21"])
def test_agrees_with_ffmpeg_ebur128(make, tmp_path) -> None:
    signal = make()
    ours = loudness.measure(signal, SR)
    theirs = _ffmpeg_ebur128(signal, SR, tmp_path / "case.wav")
    assert ours.integrated_lufs == pytest.approx(theirs["integrated"], abs=0.1)
    assert (ours.loudness_range_lu or 0.0) == pytest.approx(theirs["lra"], abs=0.5)
    assert ours.true_peak_dbtp == pytest.approx(theirs["true_peak"], abs=0.3)


@pytest.mark.parametrize("make, target, ceiling, limited", [
    (lambda: sine(440, -40, 10), -16.0, -1.0, False),
    (lambda: drum_pulses(20), -14.0, -1.0, True),
    (lambda: pink_noise(20, rms_dbfs=-30), -9.0, -1.0, True),
    (lambda: pink_noise(20, rms_dbfs=-30), -23.0, -2.0, False),
    (lambda: music_like(20), -7.0, -1.0, True),
], ids=["quiet-sine", "drums", "pink-loud", "pink-broadcast", "music-12-dB-over"])
def test_normalize_lands_on_target_under_ceiling(make, target, ceiling, limited) -> None:
    signal = make()
    out, report = loudness.normalize(signal, SR, target, ceiling)
    check = loudness.measure(out, SR)
    assert out.shape == signal.shape and out.dtype == np.float32
    assert check.integrated_lufs == pytest.approx(target, abs=0.1)
    assert check.true_peak_dbtp <= ceiling + 0.05
    assert report.output_lufs == check.integrated_lufs and report.output_true_peak_dbtp == check.true_peak_dbtp
    assert report.on_target
    assert (report.limiter_max_reduction_db > 0.5) is limited
    if not limited:
        np.testing.assert_allclose(out, signal * np.float32(10 ** (report.gain_db / 20)), rtol=2e-3, atol=1e-7)


@pytest.mark.parametrize("target, limited", [(-7.0, True), (-24.0, False)], ids=["limited", "gain-only"])
def test_normalize_lands_in_one_exact_pass(target, limited) -> None:
    """The gain under limiting is found on predicted loudness, so one measure of the output
    confirms it; and the limiter takes off exactly what the loudest peak needs."""
    passes: list[float] = []
    _, report = loudness.normalize(music_like(20), SR, target, -1.0,
                                   progress=lambda done, total, message=None: passes.append(done))
    assert passes == [1]
    assert report.on_target and (report.limiter_max_reduction_db > 10) is limited
    if limited:
        needed = report.input_true_peak_dbtp + report.gain_db - report.true_peak_ceiling_dbtp
        assert report.limiter_max_reduction_db == pytest.approx(needed, abs=0.05)


def test_target_out_of_reach_stops_at_the_most_limiting() -> None:
    """No gain can bring this music to −2 LUFS under −1 dBTP: the limiter stops at its most,
    the ceiling still holds, and the report says it is off target."""
    passes: list[float] = []
    out, report = loudness.normalize(music_like(10), SR, -2.0, -1.0,
                                     progress=lambda done, total, message=None: passes.append(done))
    check = loudness.measure(out, SR)
    assert not report.on_target and check.integrated_lufs < -2.5
    assert check.true_peak_dbtp <= -1.0 + 0.05
    assert report.limiter_max_reduction_db == pytest.approx(loudness.LIMITER_MAX_REDUCTION_DB, abs=0.1)
    assert len(passes) <= 2


def test_warm_compiles_without_error() -> None:
    assert loudness.warm() is None


def test_limiter_gain_is_smooth() -> None:
    signal = drum_pulses(10)
    out, report = loudness.normalize(signal, SR, -14.0, -1.0)
    gain_db = 20 * np.log10(out[0] / np.where(np.abs(signal[0]) > 1e-3, signal[0], np.nan))
    step_db = np.abs(np.diff(gain_db))
    attack = loudness.LIMITER_ATTACK_S * SR
    assert report.limiter_max_reduction_db > 3
    assert np.nanmax(step_db) <= report.limiter_max_reduction_db / attack * 1.05 + 1e-3


def test_normalize_refuses_silence() -> None:
    with pytest.raises(ToolError, match="−70 LUFS"):
        loudness.normalize(silence(3), SR, -14.0, -1.0)
