"""Effects tools through a real in-process MCP client: outputs read back and measured, errors
checked as wire JSON, nothing written on failure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiolla_mcp.ops.beats import detect_beats
from audiolla_mcp.ops.key import detect_key

SR = 44100


def read(workspace: Path, path: str) -> tuple[np.ndarray, int]:
    data, sr = sf.read(str(workspace / path), dtype="float32", always_2d=True)
    return data.T, sr


def files(workspace: Path) -> list[str]:
    return sorted(p.relative_to(workspace).as_posix() for p in workspace.rglob("*") if p.is_file() and ".audiolla" not in p.parts)


def amplitude(x: np.ndarray, freq: float, sr: int, start_s: float, stop_s: float) -> float:
    a, b = round(start_s * sr), round(stop_s * sr)
    t = np.arange(a, b) / sr
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, x[a:b].astype(np.float64), rcond=None)
    return float(np.hypot(*coef))


def peak_hz(x: np.ndarray, sr: int) -> float:
    size = 1 << 20
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size), size))
    k = int(np.argmax(spectrum))
    left, mid, right = np.log(spectrum[k - 1 : k + 2])
    return (k + 0.5 * (left - right) / (left - 2 * mid + right)) * sr / size


def tone(freq: float, seconds: float, amp: float = 0.25, sr: int = SR) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(round(seconds * sr)) / sr)).astype(np.float32)


def assert_error(result, *fragments: str) -> None:
    assert result.is_error, result.content[0].text
    text = result.content[0].text
    for fragment in fragments:
        assert fragment in text, text
    assert "Traceback" not in text


async def test_eq_boost_is_measured_and_clipping_reported(call, signals, workspace):
    signals.sine("a.wav", freq=1000, seconds=1.0, level_db=-12)
    result = await call("eq", {"input": "a.wav", "bands": [{"type": "peak", "freq_hz": 1000, "gain_db": 6, "q": 1}]})
    assert not result.is_error, result.content[0].text
    data = result.structured_content
    assert data["bands"] == 1 and data["output"]["path"] == "a.eq.wav"
    out, sr = read(workspace, data["output"]["path"])
    assert 20 * np.log10(amplitude(out[0], 1000, sr, 0.5, 1.0) / 10 ** (-12 / 20)) == pytest.approx(6, abs=0.5)
    assert data["peak_dbfs"] == pytest.approx(-6, abs=0.3)
    loud = await call("eq", {"input": "a.wav", "output": "hot.wav", "bands": [{"type": "peak", "freq_hz": 1000, "gain_db": 20}]})
    assert loud.structured_content["peak_dbfs"] > 0 and "clipped" in loud.content[0].text


async def test_eq_rejects_unknown_band_types_and_writes_nothing(call, signals, workspace):
    signals.sine("a.wav", seconds=0.5)
    assert_error(await call("eq", {"input": "a.wav", "bands": [{"type": "tilt", "freq_hz": 1000}]}))
    assert_error(await call("eq", {"input": "a.wav", "bands": []}))
    assert_error(await call("eq", {"input": "a.wav", "bands": [{"type": "peak", "freq_hz": 30000}]}))
    assert files(workspace) == ["a.wav"]


async def test_fx_chain_runs_in_order_with_a_workspace_ir(call, signals, workspace):
    signals.write("a.wav", np.stack([tone(440, 0.5), tone(440, 0.5)]))
    ir = np.zeros(512, np.float32)
    ir[0] = 1.0
    signals.write("irs/dirac.wav", ir)
    effects = [{"type": "gain", "gain_db": -6.0206}, {"type": "invert"}, {"type": "convolution", "ir": "irs/dirac.wav"}]
    result = await call("fx_chain", {"input": "a.wav", "effects": effects})
    assert not result.is_error, result.content[0].text
    assert result.structured_content["effects"] == ["gain", "invert", "convolution"]
    out, _ = read(workspace, result.structured_content["output"]["path"])
    np.testing.assert_allclose(out[0], -tone(440, 0.5) / 2, atol=1e-3)


@pytest.mark.parametrize(
    ("effect", "fragment"),
    [
        ({"type": "convolution", "ir": "../outside.wav"}, "workspace"),
        ({"type": "convolution", "ir": "/etc/passwd"}, ""),
        ({"type": "convolution", "ir": "missing.wav"}, ""),
        ({"type": "vst3", "path": "/usr/lib/vst3/x.vst3"}, ""),
        ({"type": "compressor", "ratio": 1000}, ""),
    ],
)
async def test_fx_chain_refuses_paths_outside_and_effects_outside_the_allowlist(call, signals, workspace, effect, fragment):
    signals.sine("a.wav", seconds=0.3)
    assert_error(await call("fx_chain", {"input": "a.wav", "effects": [effect]}), fragment)
    assert files(workspace) == ["a.wav"]


async def test_convolution_reverb_keeps_the_tail(call, signals, workspace):
    signals.write("dry.wav", tone(440, 1.0))
    decay = np.exp(-np.arange(11025) / 1500.0) * np.random.default_rng(0).standard_normal(11025)
    signals.write("room.wav", decay.astype(np.float32), sr=22050)  # 0.5 s IR at another rate
    result = await call("convolution_reverb", {"input": "dry.wav", "ir": "room.wav", "wet": 0.5, "pre_delay_ms": 20})
    assert not result.is_error, result.content[0].text
    data = result.structured_content
    assert data["tail_s"] == pytest.approx(0.52, abs=0.01)
    assert data["output"]["duration_s"] == pytest.approx(1.52, abs=0.01)
    assert_error(await call("convolution_reverb", {"input": "dry.wav", "ir": "nope.wav"}), "nope.wav")


async def test_time_stretch_duration_and_pitch(call, signals, workspace):
    signals.write("a.wav", tone(440, 2.0))
    slow = (await call("time_stretch", {"input": "a.wav", "tempo_factor": 1.25})).structured_content
    assert slow["output"]["duration_s"] == pytest.approx(1.6, rel=0.01)
    up = await call("time_stretch", {"input": "a.wav", "pitch_semitones": 12, "output": "up.wav"})
    out, sr = read(workspace, up.structured_content["output"]["path"])
    assert 1200 * np.log2(peak_hz(out[0, sr // 2 : -sr // 2], sr) / 880) == pytest.approx(0, abs=5)
    assert_error(await call("time_stretch", {"input": "a.wav"}), "Nothing to do")


async def test_pitch_correct_reports_notes(call, signals, workspace):
    notes = [(69, 35), (72, -30), (76, 40)]
    melody = np.concatenate(
        [tone(440 * 2 ** ((m - 69 + c / 100) / 12), 0.5) * np.minimum(1, np.minimum(np.arange(22050), 22050 - np.arange(22050)) / 441)
         for m, c in notes]
    )
    signals.write("voice.wav", melody.astype(np.float32))
    result = await call("pitch_correct", {"input": "voice.wav", "key": "A minor"})
    assert not result.is_error, result.content[0].text
    data = result.structured_content
    assert data["notes_found"] == 3
    assert [n["target"] for n in data["notes"]] == ["A4", "C5", "E5"]
    out, sr = read(workspace, data["output"]["path"])
    for i, (midi, _) in enumerate(notes):
        segment = out[0, int((i * 0.5 + 0.12) * sr) : int((i * 0.5 + 0.38) * sr)]
        assert 1200 * np.log2(peak_hz(segment, sr) / (440 * 2 ** ((midi - 69) / 12))) == pytest.approx(0, abs=10)
    assert_error(await call("pitch_correct", {"input": "voice.wav", "scale": "dorian"}), "needs a key")


def drum_hits(bpm: float, seconds: float, sr: int = 22050) -> np.ndarray:
    """A decaying noise burst on every beat, like a plain kick/snare loop."""
    rng = np.random.default_rng(0)
    x = np.zeros(round(seconds * sr), np.float32)
    decay = np.exp(-np.arange(2205) / sr * 60)
    for k in range(int(seconds * bpm / 60)):
        start = round(k * 60 / bpm * sr)
        hit = 0.8 * rng.standard_normal(2205) * decay
        x[start : start + hit.size] += hit[: x.size - start]
    return x


@pytest.mark.slow
async def test_bpm_match_detects_the_source_and_reaches_the_target(call, signals, workspace):
    signals.write("clicks.wav", drum_hits(120, 8.0), sr=22050)
    result = await call("bpm_match", {"input": "clicks.wav", "target_bpm": 126})
    assert not result.is_error, result.content[0].text
    data = result.structured_content
    assert data["source_measured"] is True and data["source_bpm"] == pytest.approx(120, abs=1)
    assert data["output"]["duration_s"] == pytest.approx(8.0 * data["source_bpm"] / 126, rel=0.01)
    out, sr = read(workspace, data["output"]["path"])
    assert detect_beats(out, sr).bpm == pytest.approx(126, abs=1.5)
    given = await call("bpm_match", {"input": "clicks.wav", "target_bpm": 60, "source_bpm": 120, "output": "half.wav"})
    assert given.structured_content["tempo_factor"] == 0.5
    assert given.structured_content["output"]["duration_s"] == pytest.approx(16.0, rel=0.01)


def triads(progression: list[list[int]], sr: int = 22050) -> np.ndarray:
    t = np.arange(sr) / sr
    parts = []
    for chord in progression:
        x = sum(w * np.sin(2 * np.pi * 440 * 2 ** ((m - 69) / 12) * h * t) for m in chord for h, w in ((1, 1), (2, 0.5), (3, 0.25)))
        parts.append(x * np.minimum(1, np.minimum(t, 1 - t) / 0.02))
    x = np.concatenate(parts)
    return (0.2 * x / np.abs(x).max()).astype(np.float32)


async def test_key_match_detects_and_transposes(call, signals, workspace):
    a_minor = [[57, 60, 64], [50, 57, 62, 65], [52, 56, 59, 64], [45, 57, 60, 64]] * 3  # i iv V i
    signals.write("song.wav", triads(a_minor), sr=22050)
    result = await call("key_match", {"input": "song.wav", "target_key": "C minor"})
    assert not result.is_error, result.content[0].text
    data = result.structured_content
    assert data["source_key"] == "A minor" and data["source_measured"] is True and data["semitones"] == 3
    out, sr = read(workspace, data["output"]["path"])
    assert detect_key(out, sr).key == "C minor"
    assert_error(await call("key_match", {"input": "song.wav", "target_key": "H dorian"}), "cannot read the key")


async def test_repair_declips_and_dehums(call, signals, workspace):
    t = np.arange(2 * SR) / SR
    damaged = np.clip(0.8 * np.sin(2 * np.pi * 440 * t) + 0.05 * np.sin(2 * np.pi * 60 * t), -0.56, 0.56)
    signals.write("old.wav", damaged.astype(np.float32))
    result = await call("repair", {"input": "old.wav"})
    assert not result.is_error, result.content[0].text
    data = result.structured_content
    assert data["clip_runs"] > 800 and data["hum_hz"] == 60 and data["notches_hz"][:2] == [60, 120]
    out, sr = read(workspace, data["output"]["path"])
    assert amplitude(out[0], 60, sr, 1.0, 2.0) < 0.05 * 10 ** (-30 / 20)
    assert_error(await call("repair", {"input": "old.wav", "declip": False, "dehum": False}), "nothing to repair")


async def test_reduce_noise_with_a_noise_excerpt(call, signals, workspace):
    rng = np.random.default_rng(0)
    x = 0.05 * rng.standard_normal(3 * SR)
    x[SR:] += tone(440, 2.0, amp=0.3)
    signals.write("take.wav", x.astype(np.float32))
    result = await call("reduce_noise", {"input": "take.wav", "stationary": True, "noise_start_s": 0, "noise_end_s": 0.9})
    assert not result.is_error, result.content[0].text
    assert result.structured_content["noise_profile_s"] == pytest.approx(0.9)
    out, sr = read(workspace, result.structured_content["output"]["path"])
    assert np.sqrt(np.mean(out[0, : int(0.9 * sr)] ** 2)) < 0.2 * 0.05  # the hiss alone is 14+ dB down
    assert_error(await call("reduce_noise", {"input": "take.wav", "noise_start_s": 0}), "both")
    assert_error(await call("reduce_noise", {"input": "take.wav", "noise_start_s": 2.5, "noise_end_s": 9}), "inside")


async def test_hpss_writes_two_parts_that_sum_back(call, signals, workspace):
    x = np.stack([tone(440, 2.0), tone(440, 2.0)])
    x[:, ::11025] += 0.7
    signals.write("loop.wav", x)
    result = await call("hpss", {"input": "loop.wav"})
    assert not result.is_error, result.content[0].text
    data = result.structured_content
    assert data["harmonic"]["path"] == "hpss/loop.harmonic.wav" and data["percussive"]["path"] == "hpss/loop.percussive.wav"
    harmonic, _ = read(workspace, data["harmonic"]["path"])
    percussive, _ = read(workspace, data["percussive"]["path"])
    np.testing.assert_allclose(harmonic + percussive, x, atol=3e-3)
