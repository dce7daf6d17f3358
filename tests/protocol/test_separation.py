"""separate_stems / restore over MCP with random-weight models registered via `models add`."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from model_fixtures import (
    isolated_home,
    tiny_htdemucs_kwargs,
    write_demucs_repo,
    write_roformer_dir,
)
from wire import assert_tool_error, wire, workspace_files

from audiolla_mcp.cli import models_main

pytestmark = pytest.mark.usefixtures("isolated_home")
assert isolated_home


@pytest.fixture
def tiny(tmp_path):
    repo = write_demucs_repo(tmp_path / "repo", "tinydemucs", tiny_htdemucs_kwargs())
    assert models_main(["add", "tinydemucs", str(repo)]) == 0


def _song(workspace: Path, seconds: float = 2.0, sr: int = 32000) -> Path:
    t = np.arange(int(seconds * sr)) / sr
    beat = (np.mod(t, 0.5) < 0.03) * np.sin(2 * np.pi * 80 * t)
    tone = 0.2 * np.sin(2 * np.pi * 220 * t)
    sf.write(workspace / "song.wav", np.stack([tone + beat, tone - beat]).T.astype(np.float32), sr,
             subtype="FLOAT")
    return workspace / "song.wav"


async def test_demucs_stems_match_the_input_and_stream_progress(client, workspace, tiny):
    _song(workspace)
    events = []

    async def on_progress(done, total, message):
        events.append((done, total))

    result = wire(await client.call_tool("separate_stems", {"input": "song.wav", "model": "tinydemucs",
                                                            "analyze": False},
                                         progress_callback=on_progress))
    data = result["structuredContent"]
    assert [o["stem"] for o in data["outputs"]] == ["drums", "bass", "other", "vocals"]
    for out in data["outputs"]:
        assert out["output"]["path"] == f"stems/song.{out['stem']}.wav"
        assert out["output"]["sample_rate"] == 32000 and out["output"]["channels"] == 2
        info = sf.info(workspace / out["output"]["path"])
        assert info.frames == 64000 and info.samplerate == 32000
    assert data["track"] is None
    assert events and events[-1][0] == events[-1][1] and [d for d, _ in events] == sorted(d for d, _ in events)


async def test_two_stem_split_custom_names_and_model_comparison(call, workspace, tiny, tmp_path):
    _song(workspace, seconds=1.0)
    two = wire(await call("separate_stems", {"input": "song.wav", "model": "tinydemucs", "analyze": False,
                                             "stems": ["2"],
                                             "output_names": {"vocals": "out/lead.wav"}}))["structuredContent"]
    assert [o["output"]["path"] for o in two["outputs"]] == ["out/lead.wav", "stems/song.instrumental.wav"]
    repo = write_demucs_repo(tmp_path / "repo2", "tinydemucs2", tiny_htdemucs_kwargs(), seed=5)
    assert models_main(["add", "tinydemucs2", str(repo)]) == 0
    both = wire(await call("separate_stems", {"input": "song.wav", "models": ["tinydemucs", "tinydemucs2"],
                                              "stems": ["vocals"], "analyze": False}))["structuredContent"]
    assert [o["output"]["path"] for o in both["outputs"]] == [
        "stems/tinydemucs/song.vocals.wav", "stems/tinydemucs2/song.vocals.wav"]
    a, b = (sf.read(workspace / o["output"]["path"])[0] for o in both["outputs"])
    assert not np.allclose(a, b)  # different weights, different stems


async def test_missing_unknown_and_corrupt_models_are_clear_errors(call, workspace, tmp_path, tiny):
    _song(workspace, seconds=0.5)
    assert_tool_error(await call("separate_stems", {"input": "song.wav"}),
                      "htdemucs is not installed; run `audiolla-mcp models pull htdemucs` (80 MB)")
    assert_tool_error(await call("separate_stems", {"input": "song.wav", "model": "htdemucs_7s"}),
                      "unknown model 'htdemucs_7s'", "htdemucs_6s")
    repo = write_demucs_repo(tmp_path / "bad", "baddemucs", tiny_htdemucs_kwargs())
    checkpoint = next(repo.glob("*.th"))
    checkpoint.write_bytes(checkpoint.read_bytes()[:4000])
    assert models_main(["add", "baddemucs", str(repo)]) == 0
    assert_tool_error(await call("separate_stems", {"input": "song.wav", "model": "baddemucs"}),
                      "baddemucs could not be loaded")
    assert_tool_error(await call("separate_stems", {"input": "song.wav", "model": "silero-vad"}),
                      "not a separation model")
    assert_tool_error(await call("separate_stems", {"input": "song.wav", "model": "tinydemucs", "stems": ["6"]}),
                      "no stem 'guitar'", "htdemucs_6s")
    assert_tool_error(await call("separate_stems", {"input": "song.wav", "model": "tinydemucs",
                                                    "stems": ["lead_vocals"]}), "karaoke model")
    assert workspace_files(workspace) == ["song.wav"]


async def test_background_separation_can_be_cancelled_and_leaves_nothing(call, workspace, tiny, app,
                                                                         monkeypatch):
    monkeypatch.setenv("AUDIOLLA_DEMUCS_BATCH", "1")
    _song(workspace, seconds=30.0)
    job_id = wire(await call("separate_stems", {"input": "song.wav", "model": "tinydemucs",
                                                "background": True}))["structuredContent"]["job_id"]
    cancelled = wire(await call("job_cancel", {"job_id": job_id}))["structuredContent"]
    assert cancelled["job_id"] == job_id
    record = app.jobs.wait(job_id, 120)
    assert record.status == "cancelled"
    assert workspace_files(workspace) == ["song.wav"]


@pytest.mark.slow
async def test_stems_come_with_the_mix_bpm_key_and_loudness(call, workspace, tiny):
    sr = 44100
    t = np.arange(8 * sr) / sr
    clicks = np.random.default_rng(0).standard_normal(t.size) * np.exp(-np.mod(t, 0.5) * 60)
    chord = sum(0.1 * np.sin(2 * np.pi * f * t) for f in (261.63, 329.63, 392.0))  # C major
    sf.write(workspace / "song.wav", np.tile(0.3 * clicks + chord, (2, 1)).T.astype(np.float32), sr,
             subtype="FLOAT")
    track = wire(await call("separate_stems", {"input": "song.wav", "model": "tinydemucs",
                                               "stems": ["drums"]}))["structuredContent"]["track"]
    assert track["bpm"] == pytest.approx(120, rel=0.04)
    assert track["key"] and track["integrated_lufs"] < 0


@pytest.mark.slow
async def test_restore_with_a_seeded_roformer(call, workspace, tmp_path):
    write_roformer_dir(tmp_path / "rof", "dereverb_tiny_roformer")
    assert models_main(["add", "tinyrof", str(tmp_path / "rof"), "--stems", "noreverb,reverb"]) == 0
    _song(workspace, seconds=1.0, sr=44100)
    result = wire(await call("restore", {"input": "song.wav", "kind": "dereverb", "model": "tinyrof",
                                         "keep_removed": True}))["structuredContent"]
    assert result["output"]["path"] == "song.dereverb.wav" and result["model"] == "tinyrof"
    assert result["removed"]["path"] == "song.dereverb.removed.wav"
    assert sf.info(workspace / "song.dereverb.wav").frames == 44100
    assert_tool_error(await call("restore", {"input": "song.wav", "kind": "denoise"}),
                      "vr_denoise is not installed")
