"""File tools and audio_info through a real in-process MCP client."""

from __future__ import annotations

import base64

import numpy as np
import soundfile as sf


async def test_reverse_placeholder_fixtures_work(call, signals, workspace):
    signals.sine("a.wav", seconds=1.0)
    result = await call("list_files", {})
    assert not result.is_error
    assert result.structured_content["count"] == 1
    assert result.structured_content["files"][0]["uri"] == "workspace://a.wav"


async def test_trim_is_sample_exact(call, signals, workspace):
    signals.ramp("r.wav", seconds=1.0, sr=48000)
    result = await call("trim", {"input": "r.wav", "start_s": 0.25, "end_s": 0.5})
    assert not result.is_error, result.content[0].text
    out = result.structured_content["output"]
    data, sr = sf.read(workspace / out["path"], dtype="float32")
    original, _ = sf.read(workspace / "r.wav", dtype="float32")
    assert len(data) == 12000
    np.testing.assert_allclose(data, original[12000:24000], atol=1e-6)
