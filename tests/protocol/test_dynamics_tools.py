"""Dynamics tools through a real in-process MCP client, outputs read back and measured."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SR = 44100


def read(workspace: Path, path: str) -> np.ndarray:
    data, _ = sf.read(str(workspace / path), dtype="float32", always_2d=True)
    return data.T


def tone(freq: float, seconds: float, amp: float, sr: int = SR) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(round(seconds * sr)) / sr)).astype(np.float32)


def assert_error(result, fragment: str = "") -> None:
    assert result.is_error, result.content[0].text
    assert fragment in result.content[0].text and "Traceback" not in result.content[0].text


async def test_multiband_defaults_and_custom_bands(call, signals, workspace):
    signals.write("mix.wav", np.stack([tone(100, 2.0, 0.5) + tone(5000, 2.0, 0.03)] * 2))
    plain = await call("multiband_compress", {"input": "mix.wav"})
    assert not plain.is_error, plain.content[0].text
    assert [b["high_hz"] for b in plain.structured_content["bands"]] == [200, 3000, 22050]
    custom = await call("multiband_compress", {
        "input": "mix.wav", "output": "custom.wav", "crossovers_hz": [1000],
        "bands": [{"threshold_db": -20, "ratio": 4, "knee_db": 0}, {"ratio": 1}],
    })
    bands = custom.structured_content["bands"]
    assert bands[0]["max_reduction_db"] == pytest.approx(14 * 0.75, abs=0.5) and bands[1]["max_reduction_db"] == 0
    assert_error(await call("multiband_compress", {"input": "mix.wav", "crossovers_hz": [1000], "bands": [{}, {}, {}]}),
                 "crossover")
    assert_error(await call("multiband_compress", {"input": "mix.wav", "crossovers_hz": [3000, 1000]}), "increasing")


async def test_transient_shaper_and_nothing_to_do(call, signals, workspace):
    x = np.zeros(2 * SR, np.float32)
    x[SR // 2 : SR] = tone(220, 0.5, 0.5)
    signals.write("hit.wav", x)
    result = await call("transient_shaper", {"input": "hit.wav", "attack_db": 6, "sustain_db": -6})
    assert not result.is_error, result.content[0].text
    out = read(workspace, result.structured_content["output"]["path"])[0]
    body = slice(int(0.8 * SR), int(0.95 * SR))
    assert 20 * np.log10(np.abs(out[body]).max() / 0.5) == pytest.approx(-6, abs=0.3)
    assert_error(await call("transient_shaper", {"input": "hit.wav", "attack_db": 0, "sustain_db": 0}), "Nothing to do")


async def test_deess_reports_the_reduction(call, signals, workspace):
    x = tone(300, 2.0, 0.25)
    x[SR // 2 : SR] += tone(9000, 0.5, 0.3)
    signals.write("voice.wav", x)
    result = await call("deess", {"input": "voice.wav", "freq_hz": 6000, "threshold_db": -30, "ratio": 4})
    assert not result.is_error, result.content[0].text
    # 0.3 peak = −10.5 dBFS; the zero-phase split keeps |HP|² = −1.1 dB of it at 9 kHz: 18.4 dB over
    assert result.structured_content["max_reduction_db"] == pytest.approx((-10.46 - 1.12 + 30) * 0.75, abs=0.6)


async def test_sidechain_duck_with_a_trigger_at_another_rate(call, signals, workspace):
    signals.write("music.wav", np.full((2, 3 * SR), 0.25, np.float32))
    voice = np.zeros(3 * 22050, np.float32)
    voice[22050 : 2 * 22050] = tone(150, 1.0, 0.5, sr=22050)
    signals.write("voice.wav", voice, sr=22050)
    result = await call("sidechain_duck", {"input": "music.wav", "trigger": "voice.wav", "depth_db": 9, "release_ms": 100})
    assert not result.is_error, result.content[0].text
    data = result.structured_content
    assert data["max_reduction_db"] == pytest.approx(9, abs=0.05)
    assert data["trigger_active_s"] == pytest.approx(1.05, abs=0.03)
    out = read(workspace, data["output"]["path"])
    assert 20 * np.log10(out[0, int(1.5 * SR)] / 0.25) == pytest.approx(-9, abs=0.1)
    assert_error(await call("sidechain_duck", {"input": "music.wav", "trigger": "../voice.wav"}), "workspace")
