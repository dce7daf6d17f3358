"""Tagging tools over MCP with tiny random-weight AST and CLAP models added to the cache."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from model_fixtures import AST_LABELS, isolated_home, write_ast_dir, write_clap_dir
from wire import assert_tool_error, wire

pytestmark = [pytest.mark.usefixtures("isolated_home"), pytest.mark.slow]
assert isolated_home


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    return write_ast_dir(root / "ast"), write_clap_dir(root / "clap")


@pytest.fixture
def installed(model_dirs):
    from audiolla_mcp.models import add

    add("ast-audioset", model_dirs[0])
    add("clap", model_dirs[1])


def _tone(workspace: Path, name: str, freq: float, seconds: float = 2.0) -> None:
    t = np.arange(int(seconds * 32000)) / 32000
    sf.write(workspace / name, 0.3 * np.sin(2 * np.pi * freq * t), 32000)


async def test_tags_embeddings_labels_and_similarity(call, workspace, installed):
    _tone(workspace, "a.wav", 440)
    _tone(workspace, "b.wav", 3000)
    tags = wire(await call("tag_audio", {"input": "a.wav", "top_k": 2}))["structuredContent"]
    assert len(tags["tags"]) == 2 and {t["label"] for t in tags["tags"]} <= set(AST_LABELS)
    emb = wire(await call("embed_audio", {"input": "a.wav", "query_text": "piano music"}))["structuredContent"]
    vector = np.array(emb["embedding"])
    assert emb["dimensions"] == 16 and np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-4)
    assert -1 <= emb["query_similarity"] <= 1
    labels = wire(await call("classify_audio", {"input": "a.wav", "labels": ["a dog barking", "piano music"]}))
    probs = [l["probability"] for l in labels["structuredContent"]["labels"]]
    assert sum(probs) == pytest.approx(1.0, abs=1e-3)
    same = wire(await call("audio_similarity", {"a": "a.wav", "b": "a.wav"}))["structuredContent"]
    other = wire(await call("audio_similarity", {"a": "a.wav", "b": "b.wav"}))["structuredContent"]
    assert same["similarity"] == pytest.approx(1.0, abs=1e-4) and other["similarity"] < same["similarity"]
    assert_tool_error(await call("classify_audio", {"input": "a.wav", "labels": ["x", " "]}), "non-empty")


async def test_search_workspace_reuses_cached_embeddings(call, workspace, installed):
    for name, freq in (("low.wav", 110), ("mid.wav", 440), ("high.wav", 3000)):
        _tone(workspace, name, freq)
    (workspace / "notes.txt").write_text("not audio")
    first = wire(await call("search_workspace", {"query_text": "a high whistle"}))["structuredContent"]
    assert first["searched"] == 3 and first["embedded"] == 3
    shutil.copy(workspace / "mid.wav", workspace / "mid-copy.wav")
    again = wire(await call("search_workspace", {"like": "high.wav", "top_k": 2}))["structuredContent"]
    assert again["embedded"] == 0 and again["searched"] == 4
    assert again["matches"][0]["path"] == "high.wav"
    assert_tool_error(await call("search_workspace", {}), "either query_text or like")


async def test_tagging_without_models_names_the_pull(call, workspace):
    _tone(workspace, "a.wav", 440)
    assert_tool_error(await call("tag_audio", {"input": "a.wav"}), "audiolla-mcp models pull ast-audioset")
    assert_tool_error(await call("embed_audio", {"input": "a.wav"}), "audiolla-mcp models pull clap")
