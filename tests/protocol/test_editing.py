"""Editing tools over a real in-process MCP client: results as wire JSON, files checked on disk."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


def wire(result) -> dict:
    return result.model_dump(by_alias=True, mode="json", exclude_none=True)


def ok(result) -> dict:
    data = wire(result)
    assert not data.get("isError"), data["content"][0]["text"]
    return data["structuredContent"]


def assert_tool_error(result, *fragments: str) -> None:
    data = wire(result)
    assert data["isError"] is True
    text = data["content"][0]["text"]
    for fragment in fragments:
        assert fragment in text, text
    assert "Traceback" not in text


def read(workspace: Path, path: str) -> tuple[np.ndarray, int]:
    data, sr = sf.read(workspace / path, dtype="float32", always_2d=True)
    return data.T, sr


def files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and ".audiolla" not in p.parts)


async def test_fade_reverse_loop(call, signals, workspace):
    signals.write("ones.wav", np.ones((1, 44100), np.float32))
    out = ok(await call("fade", {"input": "ones.wav", "fade_in_s": 0.5, "curve": "equal_power"}))
    assert out["output"]["path"] == "ones.fade.wav"
    faded, _ = read(workspace, "ones.fade.wav")
    assert faded[0, 0] == 0.0 and faded[0, 11025] == pytest.approx(math.sqrt(0.5), abs=1e-6)
    signals.ramp("r.wav", seconds=0.1)
    ok(await call("reverse", {"input": "r.wav"}))
    ramp, _ = read(workspace, "r.wav")
    backwards, _ = read(workspace, "r.reversed.wav")
    np.testing.assert_allclose(backwards[0], ramp[0, ::-1], atol=2**-23)  # 24-bit output
    looped = ok(await call("loop", {"input": "r.wav", "count": 3}))
    assert looped["output"]["duration_s"] == pytest.approx(0.3)


async def test_fade_longer_than_clip_is_an_error_and_writes_nothing(call, signals, workspace):
    signals.sine("a.wav", seconds=1.0)
    before = files(workspace)
    assert_tool_error(await call("fade", {"input": "a.wav", "fade_in_s": 0.7, "fade_out_s": 0.7}),
                      "longer than the clip")
    assert files(workspace) == before


async def test_change_speed_pan_width_mid_side(call, signals, workspace):
    signals.sine("a.wav", freq=440, seconds=2.0, channels=1, level_db=-6)
    sped = ok(await call("change_speed", {"input": "a.wav", "factor": 1.5}))
    assert abs(sped["output"]["duration_s"] - 2.0 / 1.5) <= 0.001
    panned = ok(await call("pan", {"input": "a.wav", "position": 0.0}))
    assert panned["output"]["channels"] == 2
    audio, _ = read(workspace, panned["output"]["path"])
    mono, _ = read(workspace, "a.wav")
    assert 20 * math.log10(np.abs(audio[0]).max() / np.abs(mono).max()) == pytest.approx(-3.01, abs=0.01)
    assert_tool_error(await call("stereo_width", {"input": "a.wav", "width": 0.5}), "stereo")
    signals.noise("st.wav", seconds=0.5)
    ok(await call("mid_side", {"input": "st.wav", "mode": "encode", "output": "st.ms.wav"}))
    ok(await call("mid_side", {"input": "st.ms.wav", "mode": "decode", "output": "st.lr.wav"}))
    original, _ = read(workspace, "st.wav")
    back, _ = read(workspace, "st.lr.wav")
    assert np.abs(back - original).max() < 1e-6
    narrow = ok(await call("stereo_width", {"input": "st.wav", "width": 0.0}))
    mono_now, _ = read(workspace, narrow["output"]["path"])
    np.testing.assert_allclose(mono_now[0], mono_now[1], atol=1e-7)


async def test_concat_mixed_rates_with_crossfade(call, signals):
    signals.sine("a.wav", seconds=1.0, sr=44100, channels=2)
    signals.sine("b.wav", seconds=1.0, sr=22050, channels=1)
    out = ok(await call("concat", {"inputs": ["a.wav", "b.wav"], "crossfade_s": 0.25}))
    assert out["inputs"] == 2
    assert out["output"]["sample_rate"] == 44100 and out["output"]["channels"] == 2
    assert out["output"]["duration_s"] == pytest.approx(1.75, abs=1e-3)
    assert_tool_error(await call("concat", {"inputs": ["a.wav", "missing.wav"]}), "missing.wav")


async def test_mix_reports_its_level_policy(call, signals, workspace):
    signals.sine("a.wav", seconds=1.0, channels=1, level_db=-1)
    signals.sine("b.wav", seconds=1.0, channels=1, level_db=-1)
    out = ok(await call("mix", {"tracks": [{"input": "a.wav"}, {"input": "b.wav", "offset_s": 0.5, "pan": 0.5}]}))
    assert out["output"]["duration_s"] == pytest.approx(1.5, abs=1e-3) and out["output"]["channels"] == 2
    assert out["action"] == "reduced_to_avoid_clipping" and out["peak_db"] == pytest.approx(-1.0, abs=0.01)
    audio, _ = read(workspace, out["output"]["path"])
    assert 20 * math.log10(np.abs(audio).max()) == pytest.approx(-1.0, abs=0.01)
    normal = ok(await call("mix", {"tracks": [{"input": "a.wav", "gain_db": -20}], "normalize": True,
                                   "ceiling_db": -3, "output": "n.wav"}))
    assert normal["action"] == "normalized" and normal["peak_db"] == pytest.approx(-3.0, abs=0.01)
    assert_tool_error(await call("mix", {"tracks": []}), "tracks")


async def test_split_on_silence_writes_parts(call, signals, workspace):
    sr = 44100
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(sr) / sr).astype(np.float32)
    gap = np.zeros(sr, np.float32)
    signals.write("gappy.wav", np.concatenate([tone, gap, tone, gap, tone])[None])
    out = ok(await call("split", {"input": "gappy.wav", "mode": "silence", "pad_s": 0.0}))
    assert out["count"] == 3
    assert [p["path"] for p in out["parts"]] == [f"gappy.parts/gappy.00{i}.wav" for i in (1, 2, 3)]
    assert out["parts"][1]["start_s"] == pytest.approx(2.0, abs=0.011)
    for part in out["parts"]:
        audio, _ = read(workspace, part["path"])
        assert audio.shape[-1] / sr == pytest.approx(1.0, abs=0.011)
    equal = ok(await call("split", {"input": "gappy.wav", "parts": 5, "folder": "fifths"}))
    assert equal["count"] == 5 and equal["parts"][0]["path"].startswith("fifths/")
    assert_tool_error(await call("split", {"input": "gappy.wav", "parts": 5, "max_parts": 3, "folder": "x"}),
                      "max_parts")
    assert not (workspace / "x").exists() or not any((workspace / "x").iterdir())


async def test_strip_silence(call, signals):
    sr = 44100
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(sr) / sr).astype(np.float32)
    signals.write("padded.wav", np.concatenate([np.zeros(sr, np.float32), tone, np.zeros(sr, np.float32)])[None])
    out = ok(await call("strip_silence", {"input": "padded.wav", "pad_s": 0}))
    assert out["output"]["duration_s"] == pytest.approx(1.0, abs=0.011)


async def test_thumbnail_writes_the_excerpt(call, signals):
    sr = 44100
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(sr) / sr).astype(np.float32)
    signals.write("padded.wav", np.concatenate([np.zeros(sr, np.float32), tone, np.zeros(sr, np.float32)])[None])
    thumb = ok(await call("thumbnail", {"input": "padded.wav", "duration_s": 1.0}))
    assert thumb["output"]["duration_s"] == pytest.approx(1.0, abs=1e-3)
    assert thumb["end_s"] - thumb["start_s"] == pytest.approx(1.0, abs=1e-3)


@pytest.mark.slow
async def test_slice_at_beats_on_a_click_track(call, signals, workspace):
    sr = 44100
    click = np.zeros(sr * 8, np.float32)
    burst = (np.exp(-np.arange(2000) / 200) * np.sin(2 * np.pi * 1500 * np.arange(2000) / sr)).astype(np.float32)
    for beat in range(16):  # 120 BPM
        start = beat * sr // 2
        click[start : start + 2000] += 0.8 * burst
    signals.write("click.wav", click[None])
    out = ok(await call("slice_at_beats", {"input": "click.wav", "beats_per_slice": 4}))
    lengths = [p["end_s"] - p["start_s"] for p in out["parts"]]
    assert out["count"] >= 3
    assert all(length == pytest.approx(2.0, abs=0.05) for length in lengths[1:-1])
