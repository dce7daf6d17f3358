"""demucs separation through demucs' own loader, with random-weight HTDemucs checkpoints."""

from __future__ import annotations

import random
import threading
import weakref

import numpy as np
import pytest
from model_fixtures import (
    FOUR_STEMS,
    isolated_home,
    tiny_htdemucs_kwargs,
    write_demucs_repo,
)

from audiolla_mcp.cli import models_main
from audiolla_mcp.engines import demucs as engine
from audiolla_mcp.errors import Cancelled, ToolError
from audiolla_mcp.progress import CancelToken

pytestmark = pytest.mark.usefixtures("isolated_home")
assert isolated_home


@pytest.fixture
def tiny(tmp_path):
    repo = write_demucs_repo(tmp_path / "repo", "tinydemucs", tiny_htdemucs_kwargs())
    assert models_main(["add", "tinydemucs", str(repo)]) == 0
    return repo


def _mix(seconds: float, sr: int = 44100, channels: int = 2, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size)
    return np.tile(tone, (channels, 1)).astype(np.float32)


def test_matches_demucs_apply_model_with_the_same_seed(tiny):
    import torch
    from demucs.apply import apply_model
    from demucs.pretrained import get_model

    mix = _mix(2.5)
    bag = get_model("tinydemucs", repo=tiny)
    wav = torch.from_numpy(mix)
    ref = wav.mean(0)
    random.seed(11)
    expected = apply_model(bag, ((wav - ref.mean()) / ref.std())[None])[0] * ref.std() + ref.mean()
    ours = engine.separate(mix, 44100, model="tinydemucs", seed=11, batch_size=3)
    assert list(ours.stems) == FOUR_STEMS and ours.sample_rate == 44100
    got = np.stack([ours.stems[s] for s in FOUR_STEMS])
    assert got.shape == tuple(expected.shape)
    assert np.abs(got - expected.numpy()).max() <= 1e-5


def test_added_model_gives_stems_of_the_input_length_and_rate_with_progress(tiny):
    mix = _mix(1.7, sr=22050, channels=1)
    seen = []
    result = engine.separate(mix, 22050, model="tinydemucs", shifts=0,
                             progress=lambda d, t, m=None: seen.append(d / t))
    assert sorted(result.stems) == sorted(FOUR_STEMS)
    for stem in result.stems.values():
        assert stem.shape == mix.shape and stem.dtype == np.float32
        assert np.isfinite(stem).all()
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    assert result.sample_rate == 22050


def test_instrumental_is_the_sum_of_the_other_stems(tiny):
    mix = _mix(1.2)
    full = engine.separate(mix, 44100, model="tinydemucs", shifts=0)
    pair = engine.separate(mix, 44100, model="tinydemucs", shifts=0,
                           stems=["vocals", "instrumental"])
    assert list(pair.stems) == ["vocals", "instrumental"]
    others = sum(full.stems[s] for s in ("drums", "bass", "other"))
    np.testing.assert_allclose(pair.stems["instrumental"], others, atol=1e-6)
    np.testing.assert_array_equal(pair.stems["vocals"], full.stems["vocals"])


def test_bag_member_without_weight_on_the_requested_stem_is_skipped(tmp_path):
    one_hot = [[1.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
    repo = write_demucs_repo(tmp_path / "bag", "tinybag", tiny_htdemucs_kwargs(), members=2,
                             weights=one_hot)
    assert models_main(["add", "tinybag", str(repo)]) == 0
    mix = _mix(1.2)
    calls = []
    vocals = engine.separate(mix, 44100, model="tinybag", stems=["vocals"], shifts=0,
                             progress=lambda d, t, m=None: calls.append(t))
    full = engine.separate(mix, 44100, model="tinybag", shifts=0)
    assert set(calls) == {1}  # one member ran
    np.testing.assert_array_equal(vocals.stems["vocals"], full.stems["vocals"])


def test_cancel_stops_between_batches(tiny):
    token = CancelToken()
    batches = []

    def progress(done, total, message=None):
        batches.append(done)
        token.cancel()

    with pytest.raises(Cancelled):
        engine.separate(_mix(4.0), 44100, model="tinydemucs", shifts=0, batch_size=1,
                        progress=progress, cancel=token)
    assert len(batches) == 1


def test_engine_stays_loaded_between_calls_and_serves_two_threads(tiny):
    from audiolla_mcp.engines.base import list_engines

    mix = _mix(1.0)
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        engine.separate(mix, 44100, model="tinydemucs", shifts=0))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_array_equal(results[0].stems["bass"], results[1].stems["bass"])
    [info] = [e for e in list_engines() if e.model == "tinydemucs"]
    assert info.state == "idle" and info.memory_mb > 0


def test_unloading_drops_every_reference_to_the_model_even_after_a_cancelled_run(tiny):
    from audiolla_mcp.engines.base import ENGINES, unload_all

    with ENGINES.use(engine.DemucsEngine, "tinydemucs") as loaded:
        model = weakref.ref(loaded.members[0][0])
    del loaded
    token = CancelToken()
    with pytest.raises(Cancelled):
        engine.separate(_mix(4.0), 44100, model="tinydemucs", batch_size=1,
                        progress=lambda *_: token.cancel(), cancel=token)
    assert model() is not None  # still loaded, idle
    assert unload_all() == ["demucs/tinydemucs"]
    assert model() is None


def test_missing_model_names_size_and_command():
    with pytest.raises(ToolError) as err:
        engine.separate(_mix(0.5), 44100, model="htdemucs")
    assert str(err.value) == "htdemucs is not installed; run `audiolla-mcp models pull htdemucs` (80 MB)"


def test_unknown_model_and_unknown_stem_are_clear_errors(tiny):
    with pytest.raises(ToolError, match="unknown model 'htdemuc'.*did you mean htdemucs"):
        engine.separate(_mix(0.5), 44100, model="htdemuc")
    with pytest.raises(ToolError, match="no stem 'guitar'"):
        engine.separate(_mix(0.5), 44100, model="tinydemucs", stems=["guitar"])


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    repo = write_demucs_repo(tmp_path / "bad", "baddemucs", tiny_htdemucs_kwargs())
    checkpoint = next(repo.glob("*.th"))
    checkpoint.write_bytes(checkpoint.read_bytes()[:5000])
    assert models_main(["add", "baddemucs", str(repo)]) == 0
    with pytest.raises(ToolError, match="baddemucs could not be loaded.*models verify baddemucs"):
        engine.separate(_mix(0.5), 44100, model="baddemucs")
