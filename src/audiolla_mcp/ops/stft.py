"""Short-time Fourier transform and its inverse for the ops that mask spectrograms (noise
gating, harmonic/percussive separation).

Frames are centred (frame t on sample t·hop, zeros beyond the ends) under a periodic Hann
window, as librosa.stft(center=True, pad_mode="constant") frames them, and the inverse is the
same weighted overlap-add as librosa.istft, so an unmasked spectrogram gives the input back.
Frames go through scipy.fft in blocks that stay in cache, on all cores, in float32/complex64.
"""

from __future__ import annotations

import os

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view

BLOCK_FRAMES = 256
WORKERS = os.cpu_count() or 1


def hann(n_fft: int) -> np.ndarray:
    """Periodic Hann window (scipy.signal.get_window("hann", n_fft)), float32."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)


def stft(samples: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """(channels, frames, n_fft//2 + 1) complex64 spectrogram of (channels, length) audio."""
    audio = samples.astype(np.float32, copy=False)
    channels, length = audio.shape
    n_frames = 1 + length // hop
    padded = np.pad(audio, ((0, 0), (n_fft // 2, n_fft // 2)))
    frames = sliding_window_view(padded, n_fft, axis=-1)[:, ::hop][:, :n_frames]
    window = hann(n_fft)
    out = np.empty((channels, n_frames, n_fft // 2 + 1), np.complex64)
    for a in range(0, n_frames, BLOCK_FRAMES):
        b = min(a + BLOCK_FRAMES, n_frames)
        out[:, a:b] = scipy.fft.rfft(frames[:, a:b] * window, axis=-1, workers=WORKERS)
    return out


def istft(spectrum: np.ndarray, n_fft: int, hop: int, length: int) -> np.ndarray:
    """(channels, length) float32 audio from a spectrogram laid out as `stft` returns it."""
    if n_fft % hop:
        raise ValueError("the hop must divide the frame length")
    channels, n_frames, _ = spectrum.shape
    overlap = n_fft // hop
    window = hann(n_fft)
    # the output as rows of `hop` samples: frame t adds its k-th slice of `hop` to row t + k
    rows = np.zeros((channels, n_frames + overlap - 1, hop), np.float32)
    for a in range(0, n_frames, BLOCK_FRAMES):
        b = min(a + BLOCK_FRAMES, n_frames)
        frames = scipy.fft.irfft(spectrum[:, a:b], n=n_fft, axis=-1, workers=WORKERS)
        frames *= window
        for k in range(overlap):
            rows[:, a + k : b + k] += frames[..., k * hop : (k + 1) * hop]
    start = n_fft // 2
    signal = rows.reshape(channels, -1)[:, start : start + length]
    power = _window_power(window, hop, n_frames)[start : start + length]
    return np.divide(signal, power, out=np.empty((channels, length), np.float32))


def _window_power(window: np.ndarray, hop: int, n_frames: int) -> np.ndarray:
    """Σ_t w²(i − t·hop) at every sample i of the overlap-added frames. Row r of `hop` samples
    gets slice k of frames r − k; all slices except in the first and last overlap − 1 rows."""
    overlap = window.size // hop
    slices = (window**2).reshape(overlap, hop)
    rows = np.empty((n_frames + overlap - 1, hop), np.float32)
    rows[:] = slices.sum(axis=0)
    for r in {*range(overlap - 1), *range(n_frames, rows.shape[0])}:
        rows[r] = slices[max(0, r - n_frames + 1) : min(overlap - 1, r) + 1].sum(axis=0)
    return rows.ravel()
