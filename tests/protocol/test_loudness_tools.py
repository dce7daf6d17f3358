"""measure_loudness and normalize_loudness against signals of known loudness."""

from __future__ import annotations

import numpy as np
import pytest
from wire import workspace_files


async def test_measure_loudness_of_a_reference_tone(call, signals):
    # EBU Tech 3341 case 1: 1 kHz sine at −23 dBFS in both channels reads −23.0 LUFS.
    signals.sine("ref.wav", freq=1000, seconds=20, sr=48000, channels=2, level_db=-23)
    result = await call("measure_loudness", {"input": "ref.wav"})
    assert not result.is_error, result.content[0].text
    data = result.structured_content
    assert data["integrated_lufs"] == pytest.approx(-23.0, abs=0.1)
    assert data["true_peak_dbtp"] == pytest.approx(-23.0, abs=0.2)
    assert data["loudness_range_lu"] == pytest.approx(0.0, abs=0.1)
    assert "-23.0 LUFS" in result.content[0].text


async def test_measure_loudness_of_silence_is_none_not_nan(call, signals):
    signals.write("silence.wav", np.zeros((2, 48000)), 48000)
    data = (await call("measure_loudness", {"input": "silence.wav"})).structured_content
    assert data["integrated_lufs"] is None and data["true_peak_dbtp"] is None


@pytest.mark.parametrize(("target", "ceiling"), [(-14.0, -1.0), (-23.0, -1.0), (-16.0, -2.0)])
async def test_normalize_lands_on_target(call, signals, workspace, target, ceiling):
    rng = np.random.default_rng(1)
    beats = np.zeros((2, 10 * 44100), dtype=np.float32)
    for start in range(0, beats.shape[1] - 4410, 22050):  # drum-like pulses that need limiting at −14
        beats[:, start : start + 4410] += np.exp(-np.arange(4410) / 600) * rng.standard_normal(4410) * 0.9
    beats += 0.02 * rng.standard_normal(beats.shape)
    signals.write("drums.wav", beats)
    result = await call("normalize_loudness", {"input": "drums.wav", "target_lufs": target, "true_peak_db": ceiling})
    assert not result.is_error, result.content[0].text
    out = result.structured_content["output"]
    measured = (await call("measure_loudness", {"input": out["path"]})).structured_content
    assert measured["integrated_lufs"] == pytest.approx(target, abs=0.1)
    assert measured["true_peak_dbtp"] <= ceiling + 0.05
    assert result.structured_content["output_lufs"] == pytest.approx(measured["integrated_lufs"], abs=0.05)


async def test_normalize_refuses_silence_and_writes_nothing(call, signals, workspace):
    signals.write("silence.wav", np.zeros((2, 48000)), 48000)
    result = await call("normalize_loudness", {"input": "silence.wav"})
    assert result.is_error and "gate" in result.content[0].text
    assert workspace_files(workspace) == ["silence.wav"]
