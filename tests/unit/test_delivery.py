"""Delivery checks: criteria against specs, verdicts, and fixes verified by simulation."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest

from audiolla_mcp.errors import ToolError
from audiolla_mcp.ops import delivery

SR = 44100


def _programme(lufs: float, seconds: float = 6.0, sr: int = SR) -> np.ndarray:
    """Stereo 1 kHz tone at a known BS.1770 loudness (0 dBFS stereo sine = 0 LUFS at 1 kHz,
    within 0.1 dB), with a 4 Hz tremolo so it is not a single block."""
    t = np.arange(int(seconds * sr)) / sr
    wave = np.sin(2 * np.pi * 1000 * t) * (1 + 0.2 * np.sin(2 * np.pi * 4 * t)) / np.sqrt(1.02)
    return np.tile((10 ** (lufs / 20) * wave).astype(np.float32), (2, 1))


def _criterion(report: delivery.DeliveryReport, name: str) -> delivery.Criterion:
    return next(c for c in report.criteria if c.name == name)


def test_quiet_master_for_spotify_gets_a_verified_normalisation() -> None:
    report = delivery.check_delivery(_programme(-30.0), SR, "spotify")
    assert _criterion(report, "integrated_loudness_lufs").measured == pytest.approx(-30.0, abs=0.2)
    assert report.verdict == "pass_with_warnings"
    assert [(f.tool, f.arguments) for f in report.fixes] == [("normalize_loudness", {"target_lufs": -14.0, "true_peak_db": -1.0})]
    assert report.fixes[0].verified and report.verdict_after_fixes == "pass"


def test_hot_master_fails_on_true_peak() -> None:
    report = delivery.check_delivery(_programme(-2.0), SR, "amazon_music")
    assert _criterion(report, "true_peak_dbtp").passed is False
    assert report.verdict == "fail"
    assert report.fixes[0].arguments == {"target_lufs": -14.0, "true_peak_db": -2.0}
    assert report.verdict_after_fixes == "pass"


def test_broadcast_tolerance_and_live_programmes() -> None:
    audio = _programme(-22.2)
    assert delivery.check_delivery(audio, SR, "ebu_r128").verdict == "fail"
    assert delivery.check_delivery(audio, SR, "ebu_r128", live=True).verdict == "pass"
    assert delivery.check_delivery(audio, SR, "atsc_a85").verdict == "pass"


def test_a_master_on_target_passes_without_fixes() -> None:
    report = delivery.check_delivery(_programme(-16.0), SR, "apple_podcasts")
    assert report.verdict == "pass" and report.fixes == [] and report.verdict_after_fixes is None


def _chapter(sr: int = SR, rms_db: float = -20.0, noise_db: float = -75.0) -> np.ndarray:
    """Room tone, 4 s of 'speech' (a tone with syllable-like bursts) at a known RMS, room tone."""
    rng = np.random.default_rng(0)
    head, body, tail = int(0.7 * sr), int(4 * sr), int(2 * sr)
    t = np.arange(body) / sr
    speech = np.sin(2 * np.pi * 180 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    x = np.concatenate([np.zeros(head), speech, np.zeros(tail)])
    x += 10 ** (noise_db / 20) * rng.standard_normal(len(x))
    x *= 10 ** (rms_db / 20) / np.sqrt(np.mean(x**2))
    return x[None, :].astype(np.float32)


def test_acx_chapter_that_meets_the_rules() -> None:
    report = delivery.check_delivery(_chapter(), SR, "acx")
    assert report.verdict == "pass", [(c.name, c.measured) for c in report.criteria if c.passed is False]
    assert _criterion(report, "rms_dbfs").measured == pytest.approx(-20.0, abs=0.01)
    assert 0.5 <= _criterion(report, "head_room_tone_s").measured <= 1.0


def test_acx_wrong_rate_low_level_and_low_bitrate() -> None:
    report = delivery.check_delivery(_chapter(48000, rms_db=-26.0), 48000, "acx", file_format="mp3", bitrate_kbps=128)
    failing = {c.name for c in report.criteria if c.passed is False}
    assert {"sample_rate_hz", "rms_dbfs", "mp3_bitrate_kbps"} <= failing
    tools = [(f.tool, f.verified) for f in report.fixes]
    assert tools == [("convert", True), ("normalize_loudness", True), ("convert", None)]
    assert report.fixes[0].arguments == {"sample_rate": 44100}
    assert report.verdict_after_fixes == "pass"


def test_unknown_spec_is_refused() -> None:
    with pytest.raises(ToolError, match="unknown delivery spec"):
        delivery.check_delivery(_programme(-14.0), SR, "vinyl")


def test_silence_cannot_be_measured_but_answers() -> None:
    report = delivery.check_delivery(np.zeros((2, SR), np.float32), SR, "spotify")
    assert _criterion(report, "integrated_loudness_lufs").passed is None
    json.dumps(asdict(report), allow_nan=False)
