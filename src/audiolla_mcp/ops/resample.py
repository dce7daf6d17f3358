"""Sample-rate and channel-count conversion shared by every op that matches formats."""

from __future__ import annotations

import numpy as np
import soxr

from ..errors import ToolError
from ..progress import NEVER, CancelToken, ProgressFn, no_progress

CHUNK_S = 10.0


def resample(
    samples: np.ndarray,
    sr_in: int,
    sr_out: int,
    *,
    progress: ProgressFn = no_progress,
    cancel: CancelToken = NEVER,
) -> np.ndarray:
    """High-quality (soxr VHQ) resampling of (channels, frames), streamed in chunks."""
    if sr_in == sr_out:
        return samples
    stream = soxr.ResampleStream(sr_in, sr_out, samples.shape[0], dtype="float32", quality="VHQ")
    frames = samples.shape[1]
    step = int(CHUNK_S * sr_in)
    parts = []
    for start in range(0, frames, step):
        cancel.check()
        stop = min(frames, start + step)
        chunk = np.ascontiguousarray(samples[:, start:stop].T)
        parts.append(stream.resample_chunk(chunk, last=stop >= frames))
        progress(stop, frames, "resampling")
    out = np.concatenate(parts, axis=0).T
    return np.ascontiguousarray(out, dtype=np.float32)


def remix(samples: np.ndarray, channels: int) -> np.ndarray:
    """Mono ↔ stereo: duplicate mono, average to mono; other layouts need an explicit choice."""
    have = samples.shape[0]
    if have == channels:
        return samples
    if channels == 1:
        return samples.mean(axis=0, keepdims=True).astype(np.float32)
    if channels == 2 and have == 1:
        return np.repeat(samples, 2, axis=0)
    if channels == 2 and have > 2:
        # ITU downmix of L R C LFE Ls Rs: centre and surrounds at −3 dB, LFE dropped.
        if have != 6:
            raise ToolError(f"Cannot downmix {have} channels to stereo; only mono, stereo and 5.1 are supported.")
        left, right, centre, _, ls, rs = samples
        g = np.float32(10 ** (-3 / 20))
        return np.stack([left + g * centre + g * ls, right + g * centre + g * rs]).astype(np.float32)
    raise ToolError(f"Cannot convert {have} channels to {channels}.")
