"""Editing ops checked against signals whose every sample is known."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pytest
from edit_signals import SR, chord, noise, ramp, sections, silence, tone

from audiolla_mcp.errors import ToolError
from audiolla_mcp.ops import edit


def dominant_hz(x: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(x[0] * np.hanning(x.shape[-1])))
    return float(np.argmax(spectrum) * sr / x.shape[-1])


# --- trim / reverse / loop -------------------------------------------------------------------


def test_trim_is_sample_exact():
    x = ramp(1000, channels=2)
    out = edit.trim(x, 100, 1.234, 5.678)  # sr 100: frames round(123.4)=123 .. round(567.8)=568
    assert out.shape == (2, 445)
    assert out[0, 0] == 123 and out[0, -1] == 567 and out[1, 0] == 1123


def test_trim_to_end_and_adjacent_trims_share_no_sample():
    x = ramp(44100)
    a = edit.trim(x, SR, 0.0, 0.5)
    b = edit.trim(x, SR, 0.5)
    assert a.shape[-1] + b.shape[-1] == 44100
    assert a[0, -1] + 1 == b[0, 0]


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [(0.5, 0.5, "empty"), (0.6, 0.5, "empty"), (1.0, None, "past the end"),
     (0.0, 1.5, "past the end"), (-0.1, None, ">= 0")],
)
def test_trim_rejects_empty_and_out_of_range(start, end, message):
    with pytest.raises(ToolError, match=message):
        edit.trim(ramp(SR), SR, start, end)


def test_reverse_and_loop():
    x = ramp(5, channels=2)
    assert edit.reverse(x, SR)[1].tolist() == [1004, 1003, 1002, 1001, 1000]
    looped = edit.loop(x, SR, 3)
    assert looped.shape == (2, 15)
    assert looped[0].tolist() == [0, 1, 2, 3, 4] * 3
    with pytest.raises(ToolError, match="at least 1"):
        edit.loop(x, SR, 0)
    with pytest.raises(ToolError, match="limit"):
        edit.loop(np.zeros((1, SR * 3600), np.float32), SR, 5)


# --- fades -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("curve", "mid", "quarter"),
    [
        ("linear", 0.5, 0.25),
        ("exponential", (math.sqrt(1000) - 1) / 999, (1000**0.25 - 1) / 999),
        ("logarithmic", math.log(500.5) / math.log(1000), math.log(250.75) / math.log(1000)),
        ("equal_power", math.sqrt(0.5), math.sin(math.pi / 8)),
        ("s_curve", 0.5, (1 - math.cos(math.pi / 4)) / 2),
    ],
)
def test_fade_curves_at_known_points(curve, mid, quarter):
    ones = np.ones((2, 1000), np.float32)
    out = edit.fade(ones, 1000, in_s=0.4, out_s=0.2, curve=curve)  # 400 in, 200 out
    assert out[0, 0] == 0.0 and out[1, 0] == 0.0
    assert out[0, 200] == pytest.approx(mid, abs=1e-6)
    assert out[0, 100] == pytest.approx(quarter, abs=1e-6)
    assert out[0, 400:800].tolist() == [1.0] * 400
    # the fade-out mirrors the fade-in: its midpoint is 100 samples before the end
    assert out[0, 1000 - 1 - 100] == pytest.approx(mid, abs=1e-6)
    assert out[0, -1] == 0.0
    assert np.all(np.diff(out[0, :400]) > 0)


def test_fade_curves_are_monotonic_and_end_at_one():
    t = np.linspace(0, 1, 101)
    for curve in edit.FADE_CURVES:
        g = edit.fade_gain(t, curve)
        assert g[0] == pytest.approx(0.0, abs=1e-12) and g[-1] == pytest.approx(1.0)
        assert np.all(np.diff(g) > 0)


def test_equal_power_crossfade_keeps_power():
    t = np.linspace(0, 1, 11)
    g_in = edit.fade_gain(t, "equal_power")
    g_out = edit.fade_gain(1 - t, "equal_power")
    np.testing.assert_allclose(g_in**2 + g_out**2, 1.0, atol=1e-12)


def test_fade_errors():
    x = np.ones((1, 1000), np.float32)
    with pytest.raises(ToolError, match="longer than the clip"):
        edit.fade(x, 1000, in_s=0.6, out_s=0.5)
    with pytest.raises(ToolError, match="longer than the clip"):
        edit.fade(x, 1000, in_s=2.0)
    with pytest.raises(ToolError, match="unknown fade curve"):
        edit.fade(x, 1000, in_s=0.1, curve="cubic")


# --- channels, pan, width, mid/side ----------------------------------------------------------


def test_pan_constant_power_law():
    mono = tone(1000, 0.1)
    centre = edit.pan(mono, SR, 0.0)
    for ch in range(2):
        ratio_db = 20 * math.log10(np.max(np.abs(centre[ch])) / np.max(np.abs(mono)))
        assert ratio_db == pytest.approx(-3.0103, abs=1e-3)
    hard_left = edit.pan(mono, SR, -1.0)
    assert np.max(np.abs(hard_left[1])) < 1e-7
    np.testing.assert_allclose(hard_left[0], mono[0], atol=1e-7)
    for p in (-0.7, -0.2, 0.3, 0.9):
        left, right = edit.pan_gains(p)
        assert left**2 + right**2 == pytest.approx(1.0)
    assert edit.pan_gains(0.5)[1] > edit.pan_gains(0.5)[0]


def test_pan_stereo_is_a_balance_with_unity_centre():
    st = tone(440, 0.1, channels=2)
    np.testing.assert_allclose(edit.pan(st, SR, 0.0), st, atol=1e-6)
    right = edit.pan(st, SR, 0.5)
    np.testing.assert_allclose(right[1], st[1])  # the side it moves toward stays untouched
    assert np.max(np.abs(right[0])) == pytest.approx(
        0.5 * math.sqrt(2) * math.cos(0.75 * math.pi / 2), rel=1e-3
    )
    with pytest.raises(ToolError, match=r"\[-1, 1\]"):
        edit.pan(st, SR, 1.5)


def test_mid_side_round_trip_and_values():
    x = noise(0.5, channels=2, seed=3)
    ms = edit.mid_side(x, SR, "encode")
    np.testing.assert_allclose(ms[0], (x[0] + x[1]) / 2, atol=1e-7)
    np.testing.assert_allclose(ms[1], (x[0] - x[1]) / 2, atol=1e-7)
    back = edit.mid_side(ms, SR, "decode")
    assert np.max(np.abs(back - x)) <= 2 * np.finfo(np.float32).eps
    with pytest.raises(ToolError, match="stereo"):
        edit.mid_side(x[:1], SR, "encode")


def test_stereo_width():
    x = noise(0.5, channels=2, seed=4)
    mono = edit.stereo_width(x, SR, 0.0)
    np.testing.assert_allclose(mono[0], mono[1], atol=1e-7)
    np.testing.assert_allclose(mono[0], x.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(edit.stereo_width(x, SR, 1.0), x, atol=1e-6)
    wide = edit.mid_side(edit.stereo_width(x, SR, 2.0), SR, "encode")
    ms = edit.mid_side(x, SR, "encode")
    np.testing.assert_allclose(wide[1], 2 * ms[1], atol=1e-6)
    np.testing.assert_allclose(wide[0], ms[0], atol=1e-6)
    with pytest.raises(ToolError, match=r"\[0, 2\]"):
        edit.stereo_width(x, SR, 2.5)


# --- concat and mix --------------------------------------------------------------------------


def test_concat_resamples_and_matches_channels():
    a = tone(440, 1.0, sr=44100, channels=2)
    b = tone(1000, 0.5, sr=22050, channels=1)
    out, sr = edit.concat([(a, 44100), (b, 22050)])
    assert sr == 44100 and out.shape[0] == 2
    assert out.shape[-1] == pytest.approx(44100 * 1.5, abs=2)
    tail = out[:, 44100 + 2000 : 44100 + 20000]
    np.testing.assert_array_equal(tail[0], tail[1])  # mono duplicated
    assert dominant_hz(tail, 44100) == pytest.approx(1000, abs=3)
    assert np.max(np.abs(tail)) == pytest.approx(0.5, abs=0.01)


def test_concat_to_a_chosen_rate_and_downmix():
    st = np.stack([np.full(480, 0.2, np.float32), np.full(480, 0.6, np.float32)])
    mono = np.full((1, 480), 0.1, np.float32)
    out, sr = edit.concat([(mono, 48000), (st, 48000)], target_sr=48000)
    assert sr == 48000 and out.shape == (1, 960)
    assert out[0, 700] == pytest.approx(0.4)  # stereo averaged


def test_concat_crossfade_is_equal_power_and_shortens():
    a = np.ones((1, 1000), np.float32)
    b = np.ones((1, 1000), np.float32)
    out, _ = edit.concat([(a, 1000), (b, 1000)], crossfade_s=0.2)
    assert out.shape[-1] == 1800
    joint = out[0, 800:1000]
    assert joint[100] == pytest.approx(math.sqrt(2), abs=1e-5)  # two coherent halves at √½ each
    assert out[0, 799] == 1.0 and out[0, 1000] == 1.0


def test_concat_errors():
    with pytest.raises(ToolError, match="no inputs"):
        edit.concat([])
    with pytest.raises(ToolError, match="longer than the shortest"):
        edit.concat([(np.ones((1, 100), np.float32), 1000)] * 2, crossfade_s=0.5)
    with pytest.raises(ToolError, match="4 channels"):
        edit.concat([(np.ones((2, 10), np.float32), 1000), (np.ones((4, 10), np.float32), 1000)])


def test_mix_gain_pan_offset():
    a = tone(440, 1.0, amp=0.25)
    b = tone(440, 1.0, amp=0.25)
    out, sr, report = edit.mix([edit.MixTrack(a, SR, -6.0206, None, 0.0), (b, SR, 0.0, None, 0.5)])
    assert sr == SR and out.shape == (1, SR + SR // 2)
    assert np.max(np.abs(out[0, : SR // 2])) == pytest.approx(0.125, abs=1e-3)
    assert np.max(np.abs(out[0, SR:])) == pytest.approx(0.25, abs=1e-3)
    assert report.action == "none" and report.gain_db == 0.0
    panned, _, _ = edit.mix([(a, SR, 0.0, -1.0, 0.0), (b, SR, 0.0, 1.0, 0.0)])
    assert panned.shape[0] == 2
    np.testing.assert_allclose(panned[0], a[0], atol=1e-6)
    np.testing.assert_allclose(panned[1], b[0], atol=1e-6)


def test_mix_prevents_clipping_and_normalizes():
    loud = tone(100, 0.5, amp=0.9)
    out, _, report = edit.mix([(loud, SR, 0.0, None, 0.0)] * 2)  # sums to 1.8
    assert report.action == "reduced_to_avoid_clipping"
    assert report.peak_before_db == pytest.approx(20 * math.log10(1.8), abs=0.01)
    assert report.peak_db == pytest.approx(-1.0, abs=0.01)
    assert 20 * math.log10(np.max(np.abs(out))) == pytest.approx(-1.0, abs=0.01)
    quiet = tone(100, 0.5, amp=0.1)
    out, _, report = edit.mix([(quiet, SR, 0.0, None, 0.0)], normalize=True, ceiling_db=-3.0)
    assert report.action == "normalized" and report.gain_db == pytest.approx(17.0, abs=0.01)
    assert np.max(np.abs(out)) == pytest.approx(10 ** (-3 / 20), rel=1e-3)


def test_mix_resamples_to_first_track_rate():
    a = tone(440, 1.0, sr=48000)
    b = tone(1000, 1.0, sr=22050)
    out, sr, _ = edit.mix([(a, 48000, 0, None, 0), (b, 22050, -120, None, 0)])
    assert sr == 48000 and out.shape[-1] == pytest.approx(48000, abs=2)


def test_mix_errors():
    with pytest.raises(ToolError, match="at least one track"):
        edit.mix([])
    with pytest.raises(ToolError, match="offset_s"):
        edit.mix([(tone(440, 0.1), SR, 0, None, -1.0)])


# --- speed -----------------------------------------------------------------------------------


@pytest.mark.parametrize("factor", [0.5, 0.8, 1.25, 2.0, 3.3])
def test_change_speed_duration_and_pitch(factor):
    x = tone(440, 2.0, channels=2)
    out = edit.change_speed(x, SR, factor)
    assert abs(out.shape[-1] / SR - 2.0 / factor) <= 0.001
    middle = out[:, out.shape[-1] // 4 : 3 * out.shape[-1] // 4]
    assert dominant_hz(middle, SR) == pytest.approx(440 * factor, rel=0.005)


def test_change_speed_range():
    with pytest.raises(ToolError, match="between 0.25 and 4"):
        edit.change_speed(tone(440, 0.1), SR, 5.0)


# --- silence, split, strip -------------------------------------------------------------------


def _gappy() -> np.ndarray:
    """0.5 s silence, 1 s tone, 1 s silence, 1 s tone, 0.2 s silence, 0.5 s tone, 0.5 s silence."""
    return sections([silence(0.5), tone(440, 1.0), silence(1.0), tone(660, 1.0), silence(0.2),
                     tone(880, 0.5), silence(0.5)])


def test_detect_silence_finds_known_gaps():
    spans = edit.detect_silence(_gappy(), SR, -50.0, 0.3)
    got = [(s.start_s, s.end_s) for s in spans]
    expected = [(0.0, 0.5), (1.5, 2.5), (4.2, 4.7)]
    assert len(got) == 3
    for (a, b), (ea, eb) in zip(got, expected, strict=True):
        assert a == pytest.approx(ea, abs=0.011) and b == pytest.approx(eb, abs=0.011)
    assert spans[-1].end_frame == _gappy().shape[-1]


def test_detect_silence_threshold_matters():
    quiet = sections([tone(440, 1.0, amp=0.001), tone(440, 1.0, amp=0.5)])  # -60 dBFS, then -6
    assert edit.detect_silence(quiet, SR, -50.0, 0.5)[0].end_s == pytest.approx(1.0, abs=0.011)
    assert edit.detect_silence(quiet, SR, -70.0, 0.5) == []


def test_split_equal_parts():
    spans = edit.split(ramp(1001), 1000, "equal", parts=4)
    assert [s.frames for s in spans] == [250, 250, 251, 250]
    assert spans[0].start_frame == 0 and spans[-1].end_frame == 1001
    assert all(a.end_frame == b.start_frame for a, b in pairwise(spans))


def test_split_on_silence_with_padding():
    spans = edit.split(_gappy(), SR, "silence", threshold_db=-50, min_silence_s=0.5, pad_s=0.1)
    # the 0.2 s gap is shorter than min_silence_s, so tones 2 and 3 stay together
    assert len(spans) == 2
    assert spans[0].start_s == pytest.approx(0.4, abs=0.011)
    assert spans[0].end_s == pytest.approx(1.6, abs=0.011)
    assert spans[1].start_s == pytest.approx(2.4, abs=0.011)
    assert spans[1].end_s == pytest.approx(4.3, abs=0.011)
    with pytest.raises(ToolError, match="silent"):
        edit.split(silence(1.0), SR, "silence")


def test_strip_silence_edges_and_all():
    x = _gappy()
    edges = edit.strip_silence(x, SR, "edges", -50.0, pad_s=0.0)
    assert edges.shape[-1] / SR == pytest.approx(3.7, abs=0.02)  # 0.5 .. 4.2 s kept
    everything = edit.strip_silence(x, SR, "all", -50.0, min_silence_s=0.5, pad_s=0.05)
    # 1 s + (1 s gap → 0.1 s) + 1 s + 0.2 s + 0.5 s, plus 0.05 s pads at both ends
    assert everything.shape[-1] / SR == pytest.approx(2.9, abs=0.025)
    with pytest.raises(ToolError, match="silent"):
        edit.strip_silence(silence(1.0), SR)


def test_slice_points_at_beats():
    spans = edit.slice_points_at_beats([0.5, 1.0, 1.5, 2.0, 2.5, 3.0], 1000, 3200)
    assert [(s.start_frame, s.end_frame) for s in spans][:3] == [(0, 500), (500, 1000),
                                                                 (1000, 1500)]
    assert spans[-1].end_frame == 3200 and len(spans) == 7
    bars = edit.slice_points_at_beats([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0], 1000, 3200, 4)
    assert [(s.start_frame, s.end_frame) for s in bars] == [(0, 2000), (2000, 3200)]
    with pytest.raises(ToolError, match="no beats"):
        edit.slice_points_at_beats([5.0], 1000, 3200)


# --- thumbnail -------------------------------------------------------------------------------


def test_thumbnail_finds_the_recurring_section():
    sr = 22050
    chorus = sections([chord([261.6, 329.6, 392.0], 2.0, sr), chord([349.2, 440.0, 523.3], 2.0, sr),
                       chord([392.0, 493.9, 587.3], 2.0, sr)])
    verses = [chord(notes, 6.0, sr) for notes in ([220.0, 277.2, 329.6], [146.8, 185.0, 220.0],
                                                   [164.8, 207.7, 246.9])]
    bridge = noise(6.0, sr, amp=0.05, seed=9)
    # verse, chorus (6 s), verse, chorus (18 s), bridge, verse, chorus (36 s)
    track = sections([verses[0], chorus, verses[1], chorus, bridge, verses[2], chorus])
    span = edit.thumbnail(track, sr, 6.0)
    assert span.end_s - span.start_s == pytest.approx(6.0, abs=1e-3)
    assert min(abs(span.start_s - c) for c in (6.0, 18.0, 36.0)) < 0.5
    whole = edit.thumbnail(track, sr, 100.0)
    assert (whole.start_frame, whole.end_frame) == (0, track.shape[-1])


def test_off_band_row_sums_leave_out_the_diagonal_band():
    rng = np.random.default_rng(5)
    m = rng.uniform(size=(40, 40))
    i = np.arange(40)
    expected = np.where(np.abs(i[:, None] - i[None, :]) >= 7, m, 0.0).sum(axis=1)
    np.testing.assert_allclose(edit._off_band_row_sums(m, 7), expected)
