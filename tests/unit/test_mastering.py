"""Mastering measured with pyloudnorm (an independent BS.1770 meter): reference mode lands
near the reference's loudness, chains land on their targets under the true-peak ceiling."""

from __future__ import annotations

import matchering
import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from fx_signals import SR, music

from audiolla_mcp.errors import Cancelled, ToolError
from audiolla_mcp.ops import mastering
from audiolla_mcp.ops.loudness import measure
from audiolla_mcp.ops.resample import resample
from audiolla_mcp.progress import CancelToken


def lufs(audio: np.ndarray, sr: int) -> float:
    return float(pyloudnorm.Meter(sr).integrated_loudness(audio.T.astype(np.float64)))


@pytest.mark.slow
def test_reference_mode_matches_the_reference_loudness():
    target = music(20, peak=0.2, seed=1)
    reference = music(20, peak=0.95, seed=2)
    reference_48k = resample(reference, SR, 48000)  # any rate is accepted
    out = mastering.master_reference(target, SR, reference_48k, 48000)
    assert out.sr == 44100 and out.audio.shape[0] == 2
    assert out.audio.shape[-1] == pytest.approx(target.shape[-1], abs=10)
    assert lufs(out.audio, out.sr) == pytest.approx(lufs(reference, SR), abs=1.0)
    assert out.output_lufs == pytest.approx(lufs(out.audio, out.sr), abs=0.2)
    assert out.reference_lufs == pytest.approx(lufs(reference, SR), abs=0.2)


def test_reference_mode_gives_what_matchering_gives_from_files(tmp_path):
    """Three target pieces and two reference pieces in the level analysis, a reference below full
    scale and peaks over the limiter's threshold: every stage of matchering is at work."""
    target, reference = music(32, peak=0.2, seed=3), music(17, peak=0.9, seed=4)
    for name, audio in (("target", target), ("reference", reference)):
        sf.write(tmp_path / f"{name}.wav", audio.T, SR, subtype="FLOAT")
    matchering.process(target=str(tmp_path / "target.wav"), reference=str(tmp_path / "reference.wav"),
                       results=[matchering.Result(str(tmp_path / "out.wav"), "FLOAT", use_limiter=True)])
    expected, _ = sf.read(tmp_path / "out.wav", dtype="float32", always_2d=True)
    ours = mastering.master_reference(target, SR, reference, SR).audio
    assert ours.shape == expected.T.shape
    assert np.abs(ours - expected.T).max() <= 1e-5
    assert lufs(ours, SR) == pytest.approx(lufs(expected.T, SR), abs=0.01)


def test_reference_mode_reports_progress_and_can_be_cancelled():
    target, reference = music(3, peak=0.2, seed=3), music(3, peak=0.9, seed=4)
    seen: list[tuple[float, float]] = []
    mastering.master_reference(target, SR, reference, SR,
                               progress=lambda done, total, _: seen.append((done, total)))
    assert seen == sorted(seen) and seen[-1][0] == seen[-1][1] and len(seen) >= 4
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        mastering.master_reference(target, SR, reference, SR, cancel=token)


def test_reference_mode_accepts_mono_and_refuses_bad_pairs():
    song = music(3, seed=1)
    mono = mastering.master_reference(song[:1], SR, music(3, seed=2), SR)
    assert mono.audio.shape == (2, song.shape[-1])
    with pytest.raises(ToolError, match="at least 0.1 s"):
        mastering.master_reference(song[:, :3000], SR, song, SR)
    with pytest.raises(ToolError, match="same audio"):
        mastering.master_reference(song, SR, song.copy(), SR)
    long = np.zeros((1, 8000 * 60 * 15 + 8000), np.float32)  # 15 min + 1 s at 8 kHz
    with pytest.raises(ToolError, match="15 min"):
        mastering.master_reference(long, 8000, song, SR)
    with pytest.raises(ToolError, match="mono or stereo"):
        mastering.master_reference(np.zeros((6, SR), np.float32), SR, song, SR)
    with pytest.raises(ToolError, match="target is silent"):
        mastering.master_reference(np.zeros_like(song), SR, song, SR)
    with pytest.raises(ToolError, match="reference is silent"):
        mastering.master_reference(song, SR, song[:1] * np.float32([[1], [-1]]), SR)  # L + R = 0


@pytest.mark.parametrize("chain", list(mastering.CHAINS))
def test_chains_hit_their_target_under_the_ceiling(chain: str):
    out = mastering.master_chain(music(8, peak=0.3, seed=4), SR, chain, ceiling_dbtp=-1.0)
    target = mastering.CHAINS[chain].target_lufs
    assert lufs(out.audio, SR) == pytest.approx(target, abs=0.3)
    assert measure(out.audio, SR).true_peak_dbtp <= -1.0 + 0.05
    assert out.output_lufs == pytest.approx(target, abs=0.1)


def test_chain_target_override_and_quiet_input_drive():
    quiet, loud = music(8, peak=0.05, seed=5), music(8, peak=0.8, seed=5)
    a = mastering.master_chain(quiet, SR, "warm", target_lufs=-12.0, ceiling_dbtp=-2.0)
    b = mastering.master_chain(loud, SR, "warm", target_lufs=-12.0, ceiling_dbtp=-2.0)
    assert a.output_lufs == pytest.approx(-12.0, abs=0.1)
    assert a.output_true_peak_dbtp <= -1.95
    # the chain is fed at the same level whatever the input gain: same master either way
    np.testing.assert_allclose(a.audio, b.audio, atol=2e-3)


def test_silent_input_cannot_be_mastered():
    with pytest.raises(ToolError, match="silent"):
        mastering.master_chain(np.zeros((2, SR), np.float32), SR, "transparent")
