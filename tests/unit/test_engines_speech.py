"""Silero VAD and DeepFilterNet3 with their real shipped weights, on espeak-ng speech."""

from __future__ import annotations

import numpy as np
import pytest
from model_fixtures import isolated_home
from speech_signals import si_sdr, utterances

from audiolla_mcp.engines import silero
from audiolla_mcp.engines.deepfilter import enhance_speech
from audiolla_mcp.errors import Cancelled, ToolError
from audiolla_mcp.progress import CancelToken

pytestmark = pytest.mark.usefixtures("isolated_home")
assert isolated_home


@pytest.fixture(scope="module")
def two_utterances():
    return utterances(["The quick brown fox jumps over the lazy dog.",
                       "Audio engineers measure loudness in units."], [1.5, 2.0, 1.2])


def test_vad_finds_each_utterance_within_150_ms(two_utterances):
    audio, sr, truth = two_utterances
    found = silero.detect_voice(audio, sr, min_silence_s=0.5, pad_s=0.0)
    assert found.segment_count == 2
    for segment, (start, end) in zip(found.segments, truth):
        assert abs(segment["start_s"] - start) <= 0.15
        assert abs(segment["end_s"] - end) <= 0.15
    true_speech = sum(e - s for s, e in truth)
    assert found.speech_ratio == pytest.approx(true_speech / found.duration_s, abs=0.05)


def test_vad_at_48k_stereo_matches_mono_16k(two_utterances):
    import soxr

    audio, sr, truth = two_utterances
    stereo48 = np.tile(soxr.resample(audio[0], sr, 48000), (2, 1)).astype(np.float32)
    found = silero.detect_voice(stereo48, 48000, min_silence_s=0.5, pad_s=0.0)
    assert [round(s["start_s"], 1) for s in found.segments] == [round(s, 1) for s, _ in truth]


def test_vad_finds_no_speech_in_noise():
    rng = np.random.default_rng(3)
    noise = (0.1 * rng.standard_normal((1, 16000 * 6))).astype(np.float32)
    found = silero.detect_voice(noise, 16000)
    assert found.segment_count == 0 and found.speech_ratio == 0.0


def test_segment_shaping_closes_gaps_drops_blips_and_pads():
    runs = [(1.0, 2.0), (2.05, 3.0), (5.0, 5.1), (7.0, 8.0)]
    shaped = silero.shape_segments(runs, 8.1, min_speech_s=0.25, min_silence_s=0.1, pad_s=0.2,
                                   merge_gap_s=0.0)
    assert shaped == [(0.8, 3.2), (6.8, 8.1)]
    merged = silero.shape_segments(runs, 8.1, min_speech_s=0.25, min_silence_s=0.1, pad_s=0.2,
                                   merge_gap_s=5.0)
    assert merged == [(0.8, 8.1)]


def test_hysteresis_keeps_speech_until_the_exit_level():
    probs = np.array([0.1, 0.6, 0.4, 0.4, 0.2, 0.7, 0.1])
    assert silero.speech_runs(probs, 0.5, 0.35) == [(1, 4), (5, 6)]


def test_vad_rejects_bad_threshold(two_utterances):
    audio, sr, _ = two_utterances
    with pytest.raises(ToolError, match="threshold"):
        silero.detect_voice(audio, sr, threshold=1.5)


def test_vad_cancel_stops_between_chunks(two_utterances):
    audio, sr, _ = two_utterances
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        silero.detect_voice(audio, sr, cancel=token)


@pytest.mark.slow
def test_deepfilternet3_raises_si_sdr_of_speech_in_white_noise_by_5_db(two_utterances):
    audio, sr, _ = two_utterances
    clean = audio[:, : sr * 5]
    rng = np.random.default_rng(7)
    noise = rng.standard_normal(clean.shape).astype(np.float32)
    noise *= np.sqrt((clean**2).mean() / (noise**2).mean())  # 0 dB SNR
    noisy = clean + noise
    seen = []
    enhanced, info = enhance_speech(noisy, sr, model="deepfilternet3-onnx",
                                    progress=lambda d, t, m=None: seen.append((d, t)))
    assert enhanced.shape == noisy.shape and info.model == "deepfilternet3-onnx"
    before, after = si_sdr(clean, noisy), si_sdr(clean, enhanced)
    assert after - before >= 5.0, (before, after)
    assert seen[-1][0] == seen[-1][1]
