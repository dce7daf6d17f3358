"""audio-separator (UVR Roformer) through a seeded model dir, random weights, real loader."""

from __future__ import annotations

import json

import numpy as np
import pytest
from model_fixtures import isolated_home, write_roformer_dir

from audiolla_mcp.engines import uvr
from audiolla_mcp.engines.base import list_engines
from audiolla_mcp.errors import ToolError
from audiolla_mcp.models import add, models_dir

pytestmark = [pytest.mark.usefixtures("isolated_home"), pytest.mark.slow]
assert isolated_home


def test_roformer_from_a_seeded_dir_gives_its_stems_at_the_input_rate_and_length(tmp_path):
    add("tinyrof", write_roformer_dir(tmp_path / "rof"))
    t = np.arange(int(1.5 * 22050)) / 22050
    mono = (0.2 * np.sin(2 * np.pi * 330 * t))[None].astype(np.float32)
    seen = []
    result = uvr.separate(mono, 22050, model="tinyrof", progress=lambda d, n, m=None: seen.append(d))
    assert sorted(result.stems) == ["other", "vocals"]
    for stem in result.stems.values():
        assert stem.shape == mono.shape and np.isfinite(stem).all()
    assert seen[-1] == 1
    [engine] = [e for e in list_engines() if e.family == "uvr"]
    assert engine.memory_mb > 0
    checks = json.loads((models_dir() / "tinyrof" / "download_checks.json").read_text())
    assert checks["roformer_download_list"] == {
        "Roformer Model: tiny_mel_roformer": {"tiny_mel_roformer.ckpt": "tiny_mel_roformer.yaml"}}
    with pytest.raises(ToolError, match="no drums"):
        uvr.separate(mono, 22050, model="tinyrof", stems=["drums"])


def test_corrupt_roformer_checkpoint_is_a_clear_error(tmp_path):
    folder = write_roformer_dir(tmp_path / "bad")
    (folder / "tiny_mel_roformer.ckpt").write_bytes(b"\x80\x02garbage")
    add("badrof", folder)
    with pytest.raises(ToolError, match="badrof could not be loaded"):
        uvr.separate(np.zeros((2, 4410), np.float32), 44100, model="badrof")


def test_seeding_picks_the_list_by_architecture(tmp_path):
    uvr.seed_download_checks(tmp_path, "UVR-DeNoise.pth", None)
    uvr.seed_download_checks(tmp_path, "Kim_Vocal_2.onnx", None)
    checks = json.loads((tmp_path / "download_checks.json").read_text())
    assert checks["vr_download_list"] == {"VR Arch Single Model v5: UVR-DeNoise": "UVR-DeNoise.pth"}
    assert checks["mdx_download_list"] == {"MDX-Net Model: Kim_Vocal_2": "Kim_Vocal_2.onnx"}
    with pytest.raises(ToolError, match="YAML config"):
        uvr.seed_download_checks(tmp_path, "x.ckpt", None)
