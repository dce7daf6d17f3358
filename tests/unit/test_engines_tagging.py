"""AST tagging and CLAP embeddings with tiny random-weight models saved by transformers."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from model_fixtures import AST_LABELS, isolated_home, write_ast_dir, write_clap_dir

from audiolla_mcp.engines import transformers_audio as ta
from audiolla_mcp.errors import ToolError
from audiolla_mcp.models import add

pytestmark = [pytest.mark.usefixtures("isolated_home"), pytest.mark.slow]
assert isolated_home


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    return write_ast_dir(root / "ast"), write_clap_dir(root / "clap")


@pytest.fixture
def installed(model_dirs):
    add("tinyast", model_dirs[0])
    add("tinyclap", model_dirs[1])


def _tone(freq: float, seconds: float, sr: int = 44100) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return np.tile(0.3 * np.sin(2 * np.pi * freq * t), (2, 1)).astype(np.float32)


def test_ast_tags_are_the_models_labels_ranked_by_mean_window_probability(installed):
    tags = ta.tag_audio(_tone(440, 21), 44100, model="tinyast", top_k=3)
    assert tags.windows == 3
    assert len(tags.tags) == 3 and {t["label"] for t in tags.tags} <= set(AST_LABELS)
    scores = [t["score"] for t in tags.tags]
    assert scores == sorted(scores, reverse=True) and all(0 < s < 1 for s in scores)
    every = ta.tag_audio(_tone(440, 21), 44100, model="tinyast", top_k=10)
    assert len(every.tags) == len(AST_LABELS)


def test_clap_embeddings_are_unit_vectors_and_similarity_is_cosine(installed):
    a = ta.embed_audio(_tone(440, 4), 44100, model="tinyclap")
    again = ta.embed_audio(_tone(440, 4), 44100, model="tinyclap")
    noise = np.random.default_rng(0).standard_normal((1, 48000 * 4)).astype(np.float32)
    b = ta.embed_audio(noise, 48000, model="tinyclap")
    assert a.shape == (16,) and np.linalg.norm(a) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(a, again, atol=1e-6)
    assert ta.cosine(a, again) == pytest.approx(1.0, abs=1e-6)
    assert ta.cosine(a, b) < 0.9999


def test_zero_shot_probabilities_follow_the_text_audio_similarities(installed):
    labels = ["a dog barking", "piano music", "rain noise"]
    result = ta.classify_audio(_tone(440, 3), 44100, labels, model="tinyclap")
    probs = [l["probability"] for l in result.labels]
    assert sum(probs) == pytest.approx(1.0, abs=1e-3) and result.best == result.labels[0]["label"]
    sims = {l["label"]: l["similarity"] for l in result.labels}
    audio = ta.embed_audio(_tone(440, 3), 44100, model="tinyclap")
    texts = ta.embed_text(labels, model="tinyclap")
    for label, vec in zip(labels, texts):
        assert sims[label] == pytest.approx(float(vec @ audio), abs=1e-3)
    with pytest.raises(ToolError, match="at least two"):
        ta.classify_audio(_tone(440, 1), 44100, ["only one"], model="tinyclap")


def test_search_embeds_each_file_once_then_reads_the_cache(installed, tmp_path):
    import soundfile as sf

    files = []
    for i, freq in enumerate((220, 440, 880)):
        path = tmp_path / f"t{i}.wav"
        sf.write(path, _tone(freq, 2).T, 44100)
        files.append((path.name, path))
    shutil.copy(files[0][1], tmp_path / "same.wav")
    files.append(("same.wav", tmp_path / "same.wav"))

    def load(path):
        data, sr = sf.read(path, dtype="float32", always_2d=True)
        return data.T, sr

    cache = ta.EmbeddingCache(tmp_path / "cache")
    first = ta.search_files(files, load, query_text="piano music", model="tinyclap", cache=cache)
    assert first.searched == 4 and first.embedded == 3  # the copy has the same content hash
    second = ta.search_files(files, load, query_text="piano music", model="tinyclap", cache=cache)
    assert second.embedded == 0 and second.matches == first.matches
    like = ta.embed_audio(_tone(880, 2), 44100, model="tinyclap")
    top = ta.search_files(files, load, like=like, model="tinyclap", cache=cache, top_k=1)
    assert top.matches[0]["path"] == "t2.wav" and top.matches[0]["similarity"] == pytest.approx(1.0, abs=1e-4)


def test_missing_tagger_names_the_pull_command():
    with pytest.raises(ToolError, match=r"ast-audioset is not installed; run `audiolla-mcp models pull ast-audioset` \(346 MB\)"):
        ta.tag_audio(_tone(440, 1), 44100)
