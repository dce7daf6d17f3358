"""Spectral gating: noise reduction by masking the spectrogram bins that do not stand out of
the noise (Sainburg, Thielk & Gentner 2020, the algorithm of the noisereduce package).

Stationary mode keeps a bin whose level passes mean + 1.5 standard deviations of the noise's
dB spectrum in that frequency bin. Non-stationary mode needs no noise sample: a bin is kept by
a sigmoid of how far it rises over its own level smoothed over about ±2 s. Either mask is then
smoothed over 50 ms and 500 Hz, so the gate opens and closes without chirping, and `strength`
sets how far the masked bins are pulled down. The whole signal is one spectrogram (no chunks,
so no seams), each channel is gated in its own thread by numba kernels that release the GIL.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from ..progress import NEVER, CancelToken, ProgressFn, no_progress
from .stft import istft, stft

N_FFT, HOP = 1024, 256
TIME_CONSTANT_S = 2.0
"""Non-stationary: how slowly the noise level the bins are compared with follows the signal."""
RISE_THRESHOLD, RISE_SLOPE = 2.0, 10.0
"""Non-stationary: a bin at three times that level (rising 2× over it) is half kept; the slope
sets how fast the sigmoid goes from closed to open around that point."""
NOISE_STD_THRESHOLD = 1.5
NOISE_RANGE_DB = 80.0
"""Stationary: noise bins more than this far under the bin's loudest count as this far (digital
silence in a noise clip would otherwise drag the mean and spread down without bound)."""
FREQ_SMOOTH_HZ, TIME_SMOOTH_S = 500.0, 0.05
POWER_FLOOR = 1e-30
"""−300 dB: what digital silence measures, instead of log(0)."""


@numba.njit(cache=True, nogil=True)
def _mix_power(spectrum: np.ndarray, t: int, power: np.ndarray) -> None:
    """Power of frame t of the channels' mix of a (channels, frames, bins) spectrogram."""
    channels, _, bins = spectrum.shape
    real, imag = np.zeros(bins, np.float32), np.zeros(bins, np.float32)
    for c in range(channels):
        row = spectrum[c, t]
        for b in range(bins):
            real[b] += row[b].real
            imag[b] += row[b].imag
    scale = np.float32(1 / channels**2)
    for b in range(bins):
        power[b] = max((real[b] ** 2 + imag[b] ** 2) * scale, np.float32(POWER_FLOOR))


@numba.njit(cache=True, nogil=True)
def _noise_power(spectrum: np.ndarray, n_std: float, range_db: float) -> np.ndarray:
    """Per-bin power threshold from a (channels, frames, bins) noise spectrogram: its channel
    mix's dB spectrum, each bin floored at range_db under its loudest frame, mean + n_std·std."""
    _, frames, bins = spectrum.shape
    power = np.empty(bins, np.float32)
    loudest = np.full(bins, POWER_FLOOR, np.float32)
    for t in range(frames):
        _mix_power(spectrum, t, power)
        for b in range(bins):
            loudest[b] = max(loudest[b], power[b])
    floor = (10 * np.log10(loudest) - range_db).astype(np.float32)
    total, squares = np.zeros(bins), np.zeros(bins)
    for t in range(frames):
        _mix_power(spectrum, t, power)
        for b in range(bins):
            db = max(np.float32(10) * math.log10(power[b]), floor[b])
            total[b] += db
            squares[b] += db * db
    mean = total / frames
    std = np.sqrt(np.maximum(squares / frames - mean * mean, 0.0))
    return 10 ** ((mean + n_std * std) / 10)


@numba.njit(cache=True, nogil=True)
def _stationary_mask(spectrum: np.ndarray, threshold: np.ndarray, mask: np.ndarray) -> None:
    """1 where a (frames, bins) spectrogram's power passes its bin's threshold, else 0."""
    frames, bins = spectrum.shape
    for t in range(frames):  # rows as views: indices from 0 let LLVM vectorise the inner loops
        row, into = spectrum[t], mask[t]
        for b in range(bins):
            into[b] = 1.0 if row[b].real ** 2 + row[b].imag ** 2 > threshold[b] else 0.0


@numba.njit(cache=True, nogil=True)
def _nonstationary_mask(spectrum: np.ndarray, pole: float, threshold: float, slope: float,
                        mask: np.ndarray) -> None:
    """Sigmoid of how far each |S| rises over its level smoothed in time by a one-pole low-pass
    run forwards then backwards from the edge values (scipy.signal.filtfilt's start). The mask
    holds the level until the last pass turns it into the mask."""
    frames, bins = spectrum.shape
    state = np.empty(bins, np.float32)
    for b in range(bins):
        state[b] = abs(spectrum[0, b])
    for t in range(frames):
        row, level = spectrum[t], mask[t]
        for b in range(bins):
            state[b] += pole * (math.sqrt(row[b].real ** 2 + row[b].imag ** 2) - state[b])
            level[b] = state[b]
    for t in range(frames - 1, -1, -1):
        level = mask[t]
        for b in range(bins):
            state[b] += pole * (level[b] - state[b])
            level[b] = state[b]
    # under this ratio to the level the sigmoid is below 1e-7: 0 without computing it
    closed = 1 + threshold - 16 / slope
    for t in range(frames):
        row, level = spectrum[t], mask[t]
        for b in range(bins):
            ratio = math.sqrt(row[b].real ** 2 + row[b].imag ** 2) / level[b] if level[b] > 0 else 0.0
            level[b] = 1 / (1 + math.exp(slope * (1 + threshold - ratio))) if ratio > closed else 0.0


def _triangle(reach: int) -> np.ndarray:
    """Weights 1 … reach + 1 … 1 over 2·reach + 1 taps (noisereduce's smoothing kernel)."""
    return (reach + 1 - np.abs(np.arange(-reach, reach + 1))).astype(np.float32)


@numba.njit(cache=True, nogil=True)
def _smooth_bins(mask: np.ndarray, weights: np.ndarray) -> None:
    """Weighted mean of each row over the neighbouring bins inside it, in place."""
    frames, bins = mask.shape
    reach = weights.size // 2
    total = np.zeros(bins, np.float32)
    for k in range(-reach, reach + 1):
        total[max(0, -k) : min(bins, bins - k)] += weights[k + reach]
    row = np.empty(bins, np.float32)
    for t in range(frames):
        source = mask[t]
        row[:] = 0
        for k in range(-reach, reach + 1):
            first, stop = max(0, -k), min(bins, bins - k)
            into, taken, weight = row[first:stop], source[first + k : stop + k], weights[k + reach]
            for j in range(stop - first):
                into[j] += weight * taken[j]
        for b in range(bins):
            source[b] = row[b] / total[b]


@numba.njit(cache=True, nogil=True)
def _attenuate(spectrum: np.ndarray, mask: np.ndarray, weights: np.ndarray, strength: float) -> None:
    """Scale each bin by 1 − strength·(1 − m), m the weighted mean of the mask over the
    neighbouring frames inside it, in place."""
    frames, bins = mask.shape
    reach = weights.size // 2
    smoothed = np.empty(bins, np.float32)
    for t in range(frames):
        smoothed[:] = 0
        total = 0.0
        for u in range(max(0, t - reach), min(frames, t + reach + 1)):
            weight, row = weights[u - t + reach], mask[u]
            total += weight
            for b in range(bins):
                smoothed[b] += weight * row[b]
        keep, scale, out = np.float32(1 - strength), np.float32(strength / total), spectrum[t]
        for b in range(bins):
            out[b] *= keep + smoothed[b] * scale


def _pole(sr: int) -> float:
    """Coefficient b of the low-pass y += b·(x − y) whose forward-backward response has its
    half-power point at the time constant (noisereduce's choice)."""
    frames = TIME_CONSTANT_S * sr / HOP
    return (math.sqrt(1 + 4 * frames**2) - 1) / (2 * frames**2)


def _reaches(sr: int) -> tuple[int, int]:
    """Half-widths of the mask smoothing, in frames and bins (at least one each)."""
    frames = int(TIME_SMOOTH_S * sr / HOP)
    bins = int(FREQ_SMOOTH_HZ / (sr / (N_FFT / 2)))
    return max(1, frames), max(1, bins)


def gate(samples: np.ndarray, sr: int, stationary: bool, strength: float, noise: np.ndarray | None = None,
         *, progress: ProgressFn = no_progress, cancel: CancelToken = NEVER) -> np.ndarray:
    """Spectral gating of (channels, frames) audio; `noise` (channels, frames) is a noise-only
    clip for the stationary threshold, else the input itself is taken as the noise."""
    spectrum = stft(samples, N_FFT, HOP)
    progress(1, 3, "spectrogram")
    cancel.check()
    if stationary:
        profile = spectrum if noise is None else stft(noise.mean(axis=0, keepdims=True), N_FFT, HOP)
        threshold = _noise_power(profile, NOISE_STD_THRESHOLD, NOISE_RANGE_DB)
    frame_reach, bin_reach = _reaches(sr)

    def gate_channel(channel: np.ndarray) -> None:
        # numpy allocates large arrays on transparent huge pages, numba does not: on 4 kB pages
        # the first touch of a spectrogram-sized buffer costs more than the arithmetic on it
        mask = np.empty(channel.shape, np.float32)
        if stationary:
            _stationary_mask(channel, threshold, mask)
        else:
            _nonstationary_mask(channel, _pole(sr), RISE_THRESHOLD, RISE_SLOPE, mask)
        _smooth_bins(mask, _triangle(bin_reach))
        _attenuate(channel, mask, _triangle(frame_reach), float(strength))

    with ThreadPoolExecutor(max_workers=min(len(spectrum), os.cpu_count() or 1)) as pool:
        list(pool.map(gate_channel, spectrum))
    progress(2, 3, "gating")
    cancel.check()
    out = istft(spectrum, N_FFT, HOP, samples.shape[-1])
    progress(3, 3, "resynthesis")
    return out


def warm() -> None:
    """Compile the gating kernels (numba caches them)."""
    tone = np.sin(np.arange(4 * N_FFT, dtype=np.float32) / 5)[None]
    for stationary in (False, True):
        gate(tone, 8000, stationary, 0.5)
