"""detect_voice / enhance_speech / diarize over MCP, with the shipped silero and DeepFilterNet3."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from model_fixtures import isolated_home
from speech_signals import si_sdr, utterances
from wire import assert_tool_error, wire, workspace_files

pytestmark = pytest.mark.usefixtures("isolated_home")
assert isolated_home


@pytest.fixture(scope="module")
def speech():
    return utterances(["Separate the vocals from the drums, please."], [1.0, 1.5])


async def test_detect_voice_finds_the_utterance(call, workspace, speech):
    audio, sr, [(start, end)] = speech
    sf.write(workspace / "talk.wav", audio[0], sr)
    data = wire(await call("detect_voice", {"input": "talk.wav", "pad_s": 0.0, "min_silence_s": 0.5}))
    found = data["structuredContent"]
    assert found["segment_count"] == 1
    segment = found["segments"][0]
    assert abs(segment["start_s"] - start) <= 0.15 and abs(segment["end_s"] - end) <= 0.15
    assert 0 < found["speech_ratio"] < 1 and "1 speech segment" in data["content"][0]["text"]


async def test_engines_are_listed_then_unloaded(call, workspace, speech):
    audio, sr, _ = speech
    sf.write(workspace / "talk.wav", audio[0], sr)
    await call("detect_voice", {"input": "talk.wav"})
    engines = wire(await call("list_engines"))["structuredContent"]
    assert [(e["family"], e["model"], e["state"]) for e in engines["engines"]] == [("silero", "silero-vad", "idle")]
    unloaded = wire(await call("unload_engines"))["structuredContent"]
    assert unloaded["unloaded"] == ["silero/silero-vad"]
    assert wire(await call("list_engines"))["structuredContent"]["engines"] == []


@pytest.mark.slow
async def test_enhance_speech_cleans_noisy_speech(call, workspace, speech):
    audio, sr, _ = speech
    noise = np.random.default_rng(1).standard_normal(audio.shape).astype(np.float32)
    noise *= np.sqrt((audio**2).mean() / (noise**2).mean())
    sf.write(workspace / "noisy.wav", (audio + noise)[0], sr, subtype="FLOAT")
    data = wire(await call("enhance_speech", {"input": "noisy.wav"}))["structuredContent"]
    assert data["output"]["path"] == "noisy.enhanced.wav" and data["model"] == "deepfilternet3-onnx"
    cleaned, rate = sf.read(workspace / "noisy.enhanced.wav", dtype="float32")
    assert rate == sr and cleaned.shape == audio[0].shape
    assert si_sdr(audio, cleaned) - si_sdr(audio, audio + noise) >= 5.0


async def test_diarize_without_the_model_says_how_to_get_it(call, workspace, speech):
    audio, sr, _ = speech
    sf.write(workspace / "talk.wav", audio[0], sr)
    assert_tool_error(await call("diarize", {"input": "talk.wav"}),
                      "pyannote-diarization is not installed", "HF_TOKEN")
    assert workspace_files(workspace) == ["talk.wav"]
