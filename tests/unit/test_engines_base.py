"""Engine lifecycle (lazy load, sharing, idle unload, eviction), devices and overlap-add."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from audiolla_mcp.engines import base, chunking
from audiolla_mcp.errors import Cancelled, ToolError
from audiolla_mcp.progress import CancelToken


class Counting(base.Engine):
    family = "silero"  # a CPU-only family: no torch import for device resolution
    loads = 0
    unloads = 0

    def load(self) -> None:
        type(self).loads += 1
        self.weights = np.ones(1000, dtype=np.float32)

    def unload(self) -> None:
        type(self).unloads += 1
        self.weights = None

    def memory_bytes(self) -> int:
        return self.weights.nbytes


@pytest.fixture
def registry():
    Counting.loads = Counting.unloads = 0
    return base.EngineRegistry()


def test_loads_once_and_reuses_while_idle(registry):
    with registry.use(Counting, "m") as first:
        [info] = registry.list()
        assert info.state == "in use" and info.users == 1 and info.memory_mb == pytest.approx(0.0, abs=0.01)
    with registry.use(Counting, "m") as second:
        assert second is first
    assert Counting.loads == 1
    assert registry.list()[0].state == "idle"


def test_idle_engines_unload_after_the_ttl(registry):
    with registry.use(Counting, "m"):
        pass
    assert registry.sweep() == []  # the default TTL is 600 s
    registry.set_ttl(0)
    assert registry.sweep() == ["silero/m"]
    assert Counting.unloads == 1 and registry.list() == []


def test_unload_all_waits_for_engines_in_use(registry):
    with registry.use(Counting, "busy"):
        with registry.use(Counting, "free"):
            pass
        assert registry.unload_all() == ["silero/free"]
        assert [i.model for i in registry.list()] == ["busy"]
        assert Counting.unloads == 1
    assert Counting.unloads == 2 and registry.list() == []


def test_concurrent_first_use_loads_once(registry):
    barrier = threading.Barrier(4)
    seen = []

    def worker():
        barrier.wait()
        with registry.use(Counting, "m") as engine:
            seen.append(engine)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counting.loads == 1 and len({id(e) for e in seen}) == 1


def test_failed_load_leaves_no_entry(registry):
    class Broken(Counting):
        def load(self) -> None:
            raise ToolError("no weights")

    with pytest.raises(ToolError), registry.use(Broken, "m"):
        pass
    assert registry.list() == []


def test_device_choices():
    assert base.resolve_device("cpu") == "cpu"
    assert base.resolve_device("auto") in {"cpu", "cuda:0"}
    with pytest.raises(ToolError, match="unknown device"):
        base.resolve_device("tpu")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ToolError, match="cuda:3 is not available"):
            base.resolve_device("cuda:3")


def test_torch_threads_follow_the_cores():
    torch = base.torch_runtime()
    assert torch.get_num_threads() == base.cpu_cores()


@pytest.mark.parametrize("segment,overlap,batch", [(1000, 0.25, 1), (777, 0.5, 3), (5000, 0.1, 2)])
def test_overlap_add_of_identity_returns_the_signal(segment, overlap, batch):
    rng = np.random.default_rng(0)
    signal = rng.standard_normal((2, 4321)).astype(np.float32)
    out = chunking.overlap_add(signal, lambda x: x[:, None], segment=segment, overlap=overlap,
                               batch_size=batch)
    assert out.shape == (1, 2, 4321)
    np.testing.assert_allclose(out[0], signal, atol=1e-6)


def test_windows_get_real_neighbouring_context_and_zeros_past_the_edges():
    signal = np.arange(10, dtype=np.float32)[None]
    window = chunking.Window(offset=8, length=2, target=6)
    np.testing.assert_array_equal(chunking.window_with_context(signal, window)[0], [6, 7, 8, 9, 0, 0])
    assert chunking.batches(chunking.plan(10, 4, 0.5, target=lambda n: 4), 2)[0][0].offset == 0
    groups = chunking.batches(chunking.plan(10, 4, 0.5, target=lambda n: n), 8)
    assert [len(g) for g in groups] == [4, 1]  # the short tail window has another input length


def test_overlap_add_reports_progress_and_cancels_between_batches():
    token = CancelToken()
    seen = []

    def progress(done, total, message=None):
        seen.append((done, total))
        token.cancel()

    with pytest.raises(Cancelled):
        chunking.overlap_add(np.zeros((1, 1000), np.float32), lambda x: x[:, None], segment=100,
                             batch_size=2, progress=progress, cancel=token)
    assert seen == [(2, 14)]


def test_release_memory_and_rss_are_safe_to_call():
    base.release_memory()
    assert base.process_rss_mb() > 10



def test_a_lead_of_silence_equals_padding_then_cropping():
    rng = np.random.default_rng(2)
    signal = rng.standard_normal((2, 5000)).astype(np.float32)

    def infer(x):
        return np.tanh(x.cumsum(axis=-1) / 40)[:, None]

    padded = np.pad(signal, ((0, 0), (700, 0)))
    expected = chunking.overlap_add(padded, infer, segment=1200, target=lambda n: 1200)[..., 700:]
    got = chunking.overlap_add(signal, infer, segment=1200, target=lambda n: 1200, lead=700)
    assert got.flags.c_contiguous and got.shape == (1, 2, 5000)
    np.testing.assert_allclose(got, expected, atol=1e-6)
