"""Overlap-add chunked inference shared by the engines.

A long signal is cut into windows of `segment` frames every `stride = (1 - overlap) * segment`
frames; each window is widened to the length the model wants by taking real neighbouring
audio where it exists (zeros past the edges), inferred in batches, trimmed back to its window,
weighted by a triangle and summed once into the output. This is the scheme demucs' own
`apply_model` uses, so a demucs model gives the same numbers through either path — here with
batches, one accumulation buffer, progress after every batch and cancellation between them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..progress import NEVER, CancelToken, ProgressFn, no_progress

Infer = Callable[[np.ndarray], np.ndarray]
"""(batch, channels, frames) → (batch, ..., frames): the model on a stack of windows."""


@dataclass(frozen=True)
class Window:
    offset: int
    length: int
    target: int


def plan(total: int, segment: int, overlap: float,
         target: Callable[[int], int] | None = None) -> list[Window]:
    if segment <= 0 or not 0.0 <= overlap < 1.0:
        raise ValueError(f"bad chunking: segment={segment}, overlap={overlap}")
    stride = max(1, int((1 - overlap) * segment))
    windows = []
    for offset in range(0, total, stride):
        length = min(segment, total - offset)
        windows.append(Window(offset, length, target(length) if target else length))
    return windows


def fade_weight(segment: int, transition_power: float = 1.0) -> np.ndarray:
    """Triangle peaking mid-window; with overlap < 50 % the cross-fades are linear."""
    ramp = np.concatenate([np.arange(1, segment // 2 + 1),
                           np.arange(segment - segment // 2, 0, -1)]).astype(np.float32)
    return (ramp / ramp.max()) ** np.float32(transition_power)


def window_with_context(signal: np.ndarray, window: Window) -> np.ndarray:
    """`signal[..., offset:offset+length]` widened symmetrically to `window.target` frames."""
    total = signal.shape[-1]
    start = window.offset - (window.target - window.length) // 2
    end = start + window.target
    lo, hi = max(0, start), min(total, end)
    piece = signal[..., lo:hi]
    if lo - start or end - hi:
        pad = [(0, 0)] * (signal.ndim - 1) + [(lo - start, end - hi)]
        piece = np.pad(piece, pad)
    return piece


def center_trim(x: np.ndarray, length: int) -> np.ndarray:
    delta = x.shape[-1] - length
    return x[..., delta // 2:delta // 2 + length] if delta else x


def batches(windows: list[Window], size: int) -> list[list[Window]]:
    """Consecutive windows grouped by model input length, at most `size` per batch."""
    groups: list[list[Window]] = []
    for window in windows:
        if groups and len(groups[-1]) < size and groups[-1][0].target == window.target:
            groups[-1].append(window)
        else:
            groups.append([window])
    return groups


def overlap_add(signal: np.ndarray, infer: Infer, *, segment: int, overlap: float = 0.25,
                target: Callable[[int], int] | None = None, batch_size: int = 1, lead: int = 0,
                transition_power: float = 1.0, progress: ProgressFn = no_progress,
                cancel: CancelToken = NEVER, message: str | None = None) -> np.ndarray:
    """Run `infer` over `signal` (channels, frames) window by window and blend the results.

    `lead` frames of silence are taken to precede the signal (windows are planned from there)
    and dropped from the result: demucs' time shift, without padding or cropping copies."""
    total = signal.shape[-1]
    windows = plan(total + lead, segment, overlap, target)
    weight = fade_weight(segment, transition_power)
    out: np.ndarray | None = None
    sum_weight = np.zeros(total, dtype=np.float32)
    done = 0
    for group in batches(windows, max(1, batch_size)):
        cancel.check()
        shifted = [Window(w.offset - lead, w.length, w.target) for w in group]
        result = infer(np.stack([window_with_context(signal, w) for w in shifted]))
        if out is None:
            out = np.zeros(result.shape[1:-1] + (total,), dtype=np.float32)
        for window, piece in zip(shifted, result):
            skip = max(0, -window.offset)
            if skip >= window.length:
                continue
            w = weight[skip:window.length]
            sl = slice(window.offset + skip, window.offset + window.length)
            out[..., sl] += w * center_trim(piece, window.length)[..., skip:]
            sum_weight[sl] += w
        done += len(group)
        progress(done, len(windows), message)
    cancel.check()
    assert out is not None
    out /= sum_weight
    return out
