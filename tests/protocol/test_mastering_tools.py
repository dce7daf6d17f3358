"""The master tool through a real in-process MCP client: chains land on their targets,
reference mode matches the reference, bad combinations are refused before any work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def track(seconds: float, peak: float, seed: int, sr: int = 44100) -> np.ndarray:
    """Plucked stereo notes with noisy attacks, two per second."""
    rng = np.random.default_rng(seed)
    n = round(seconds * sr)
    out = np.zeros((2, n))
    for k in range(int(seconds * 2)):
        start, length = round(k * 0.5 * sr), min(n - round(k * 0.5 * sr), round(0.8 * sr))
        t = np.arange(length) / sr
        f = 110 * 2 ** (rng.integers(0, 24) / 12)
        note = sum(np.sin(2 * np.pi * f * h * t) * np.exp(-t * (2 + h)) / h for h in (1, 2, 3, 5))
        note += rng.standard_normal(length) * np.exp(-t * 400) * 0.5
        out[:, start : start + length] += note * np.array([[0.6], [0.4]])
    return (peak * out / np.abs(out).max()).astype(np.float32)


def files(workspace: Path) -> list[str]:
    return sorted(p.relative_to(workspace).as_posix() for p in workspace.rglob("*") if p.is_file() and ".audiolla" not in p.parts)


async def test_master_chain_hits_the_preset_target(call, signals, workspace):
    signals.write("song.wav", track(8, 0.3, 1))
    result = await call("master", {"input": "song.wav", "preset": "podcast"})
    assert not result.is_error, result.content[0].text
    data = result.structured_content
    assert data["mode"] == "chain" and data["preset"] == "podcast" and data["output"]["path"] == "song.master.wav"
    measured = (await call("measure_loudness", {"input": "song.master.wav"})).structured_content
    assert measured["integrated_lufs"] == pytest.approx(-16, abs=0.1)
    assert measured["true_peak_dbtp"] <= -1.0 + 0.05
    louder = await call("master", {"input": "song.wav", "output": "loud.wav", "target_lufs": -11, "ceiling_dbtp": -0.5})
    assert louder.structured_content["output_lufs"] == pytest.approx(-11, abs=0.1)


@pytest.mark.slow
async def test_master_reference_matches_the_reference(call, signals, workspace):
    signals.write("demo.wav", track(12, 0.2, 1))
    signals.write("ref.wav", track(12, 0.95, 2), sr=48000)
    result = await call("master", {"input": "demo.wav", "reference": "ref.wav"})
    assert not result.is_error, result.content[0].text
    data = result.structured_content
    assert data["mode"] == "reference" and data["output"]["sample_rate"] == 44100
    assert data["output_lufs"] == pytest.approx(data["reference_lufs"], abs=1.0)


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"mode": "reference"}, "needs `reference`"),
        ({"mode": "chain", "reference": "song.wav"}, "only with mode=reference"),
        ({"reference": "song.wav"}, "same audio"),
        ({"reference": "../elsewhere.wav"}, "workspace"),
        ({"preset": "vintage"}, ""),
    ],
)
async def test_master_refuses_bad_combinations(call, signals, workspace, arguments, fragment):
    signals.write("song.wav", track(2, 0.3, 1))
    result = await call("master", {"input": "song.wav", **arguments})
    assert result.is_error and fragment in result.content[0].text, result.content[0].text
    assert files(workspace) == ["song.wav"]
