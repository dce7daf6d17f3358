"""Repair: declip, dehum, noise reduction and harmonic/percussive separation."""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numba
import numpy as np
from scipy.signal import welch

from ..errors import ToolError
from ..progress import NEVER, CancelToken, ProgressFn, no_progress
from . import spectral_gate
from .dsp import apply_sos, biquad
from .stft import istft, stft

PEAK_CEILING = 10 ** (-0.1 / 20)

# -- declip -----------------------------------------------------------------------------------

AUTO_CLIP_FRACTION = 0.999
"""With no threshold given, samples within 0.1 % of a channel's peak count as clipped."""
MIN_CLIP_RUN = 3
"""A round peak has one or two samples that close to its top; three or more are a flat top."""


@dataclass(frozen=True)
class DeclipResult:
    audio: np.ndarray
    clipped_samples: int
    runs: int
    gain_db: float
    """Gain applied afterwards so the restored peaks stay under −0.1 dBFS (0 if not needed)."""


def _clipped_runs(x: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """[start, stop) of runs of at least MIN_CLIP_RUN samples at or over `level`, away from the
    edges (the reconstruction needs two good samples either side)."""
    flags = np.concatenate([[False], np.abs(x) >= level, [False]])
    edges = np.flatnonzero(np.diff(flags.astype(np.int8)))
    starts, stops = edges[::2], edges[1::2]
    keep = (stops - starts >= MIN_CLIP_RUN) & (starts >= 3) & (stops <= x.size - 3)
    return starts[keep], stops[keep]


def _hermite_fill(x: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> None:
    """Replace each run by the cubic Hermite curve through its neighbours, with slopes from
    second-order one-sided differences; the curve is kept at least as far out as the clip."""
    a, b = starts - 1, stops
    span = (b - a).astype(np.float64)
    slope_a = (3 * x[a] - 4 * x[a - 1] + x[a - 2]) / 2 * span
    slope_b = (-3 * x[b] + 4 * x[b + 1] - x[b + 2]) / 2 * span
    lengths = stops - starts
    run = np.repeat(np.arange(starts.size), lengths)
    index = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths) + starts[run]
    t = (index - a[run]) / span[run]
    t2, t3 = t * t, t * t * t
    curve = ((2 * t3 - 3 * t2 + 1) * x[a][run] + (t3 - 2 * t2 + t) * slope_a[run]
             + (3 * t2 - 2 * t3) * x[b][run] + (t3 - t2) * slope_b[run])
    clipped = x[index]
    x[index] = np.where(clipped > 0, np.maximum(curve, clipped), np.minimum(curve, clipped))


def declip(samples: np.ndarray, threshold: float | None = None) -> DeclipResult:
    """Rebuild flat-topped (clipped) peaks by cubic interpolation.

    `threshold` is the clip level as a fraction of full scale; by default each channel's own
    peak (less 0.1 %) is taken, which finds digital clipping at any level. Give a lower one
    for clipping that went through lossy coding, whose flat tops ripple.
    """
    out = samples.astype(np.float64)
    clipped = runs = 0
    for channel in out:
        peak = float(np.abs(channel).max(initial=0.0))
        level = threshold if threshold is not None else AUTO_CLIP_FRACTION * peak
        if peak == 0 or level > peak:
            continue
        starts, stops = _clipped_runs(channel, level)
        if starts.size:
            _hermite_fill(channel, starts, stops)
            clipped += int((stops - starts).sum())
            runs += int(starts.size)
    peak = float(np.abs(out).max(initial=0.0))
    gain = PEAK_CEILING / peak if peak > 1.0 else 1.0
    return DeclipResult((out * gain).astype(np.float32), clipped, runs,
                        round(20 * math.log10(gain), 2))


# -- dehum ------------------------------------------------------------------------------------

HUM_BASES_HZ = (50.0, 60.0)
NOTCH_Q = 30.0
"""Bandwidth f/30: 1.7 Hz at 50 Hz, wide enough for mains drift, settles in about 0.6 s."""
HUM_DETECT_S = 30.0
HUM_MIN_PROMINENCE_DB = 6.0


@dataclass(frozen=True)
class DehumResult:
    audio: np.ndarray
    hum_hz: float | None
    """The mains frequency removed (None when 'auto' found no hum and nothing was changed)."""
    notches_hz: list[float]


def _hum_prominence_db(mono: np.ndarray, sr: int, base_hz: float, harmonics: int) -> float:
    """Mean height (dB) of the spectrum at the hum harmonics over its surroundings (±15 Hz)."""
    freqs, power = welch(mono, sr, nperseg=min(mono.size, sr), detrend=False)
    heights = []
    for k in range(1, harmonics + 1):
        f = k * base_hz
        if f + 15 >= sr / 2:
            break
        near = np.abs(freqs - f)
        peak = power[near <= 1.0].max(initial=0.0)
        floor = np.median(power[(near <= 15.0) & (near > 3.0)])
        heights.append(10 * math.log10((peak + 1e-30) / (floor + 1e-30)))
    return float(np.mean(heights)) if heights else 0.0


def detect_hum(samples: np.ndarray, sr: int, harmonics: int = 8) -> float | None:
    """50 or 60 Hz, whichever mains hum stands out of the first 30 s; None if neither does."""
    mono = samples[:, : int(HUM_DETECT_S * sr)].mean(axis=0)
    scores = {base: _hum_prominence_db(mono, sr, base, harmonics) for base in HUM_BASES_HZ}
    best = max(scores, key=scores.get)
    return best if scores[best] >= HUM_MIN_PROMINENCE_DB else None


def dehum(samples: np.ndarray, sr: int, hum_hz: Literal[50, 60, "auto"] = "auto",
          harmonics: int = 8) -> DehumResult:
    """Notch out mains hum and its harmonics (a cascade of narrow RBJ notches)."""
    if not 1 <= harmonics <= 40:
        raise ToolError("harmonics must be between 1 and 40")
    base = detect_hum(samples, sr, harmonics) if hum_hz == "auto" else float(hum_hz)
    if base is None:
        return DehumResult(samples.astype(np.float32, copy=True), None, [])
    notches = [k * base for k in range(1, harmonics + 1) if k * base < sr / 2 * 0.95]
    sos = np.concatenate([biquad("notch", f, sr, q=NOTCH_Q) for f in notches])
    return DehumResult(apply_sos(samples, sos), base, notches)


@dataclass(frozen=True)
class RepairResult:
    audio: np.ndarray
    declip: DeclipResult | None
    dehum: DehumResult | None


def repair(samples: np.ndarray, sr: int, declip_peaks: bool = True, remove_hum: bool = True,
           hum_hz: Literal[50, 60, "auto"] = "auto", harmonics: int = 8,
           clip_threshold: float | None = None) -> RepairResult:
    """Declip, then dehum (notches ring less on rebuilt peaks than on flat tops)."""
    if not (declip_peaks or remove_hum):
        raise ToolError("nothing to repair: enable declip, dehum or both")
    clipped = declip(samples, clip_threshold) if declip_peaks else None
    audio = clipped.audio if clipped else samples
    hum = dehum(audio, sr, hum_hz, harmonics) if remove_hum else None
    return RepairResult(hum.audio if hum else audio, clipped, hum)


# -- noise reduction ----------------------------------------------------------------------------

def reduce_noise(samples: np.ndarray, sr: int, stationary: bool = False, strength: float = 0.9,
                 noise: np.ndarray | None = None, *, progress: ProgressFn = no_progress,
                 cancel: CancelToken = NEVER) -> np.ndarray:
    """Spectral gating; `strength` is the share of the noise removed (0-1).

    Non-stationary mode tracks a moving noise floor and needs no noise sample. Stationary mode
    learns one floor: from `noise` (a noise-only clip) when given, else from the whole input,
    which only works when the input is mostly noise (steady tones would be taken for noise).
    """
    if not 0 <= strength <= 1:
        raise ToolError("strength must be between 0 and 1")
    if samples.shape[-1] < 2048:
        raise ToolError("the input is too short for noise reduction (needs at least 0.05 s)")
    return spectral_gate.gate(samples, sr, stationary, strength, noise, progress=progress, cancel=cancel)


# -- harmonic / percussive ----------------------------------------------------------------------

HPSS_FFT, HPSS_HOP, HPSS_KERNEL = 2048, 512, 31
MEDIAN_LANES = 64
"""Lanes filtered together: their two sorted windows (2 × 31 × 64 floats) stay in the L1 cache."""


@numba.njit(cache=True, nogil=True)
def _mirror(i: int, n: int) -> int:
    """Index i of a signal of n samples mirrored at both ends (scipy.ndimage's "reflect")."""
    i %= 2 * n
    return i if i < n else 2 * n - 1 - i


@numba.njit(cache=True, nogil=True)
def _running_median(x: np.ndarray, k: int, out: np.ndarray) -> None:
    """Centred median of `k` (odd, ≥ 3) values along axis 0 of a (n, lanes) array into `out`,
    the rows beyond the edges mirrored.

    Every lane keeps its window sorted. A step drops the leaving value and inserts the
    entering one in a single pass of selects and min/max over the window, into a second
    window: the same operations in every lane, so a block of lanes advances together in SIMD
    registers instead of branching value by value.
    """
    n, lanes = x.shape
    half = k // 2
    window, spare = np.empty((k, MEDIAN_LANES), x.dtype), np.empty((k, MEDIAN_LANES), x.dtype)
    leaving, entering = np.empty(MEDIAN_LANES, x.dtype), np.empty(MEDIAN_LANES, x.dtype)
    column = np.empty(k, x.dtype)
    for first in range(0, lanes, MEDIAN_LANES):
        width = min(MEDIAN_LANES, lanes - first)
        for j in range(width):
            for r in range(k):
                column[r] = x[_mirror(r - half, n), first + j]
            window[:, j] = np.sort(column)
            out[0, first + j] = window[half, j]
        for i in range(1, n):
            gone, new = _mirror(i - 1 - half, n), _mirror(i + half, n)
            for j in range(width):
                leaving[j], entering[j] = x[gone, first + j], x[new, first + j]
            # with the leaving value dropped, row r holds w[r] below it and w[r + 1] from it
            # on; the entering value then lands between rows r − 1 and r
            for r in range(k):
                into, this = spare[r], window[r]
                lower, upper = window[max(r - 1, 0)], window[min(r + 1, k - 1)]
                for j in range(width):
                    here = this[j] if this[j] < leaving[j] else upper[j]
                    below = lower[j] if lower[j] < leaving[j] else this[j]
                    if r == 0:
                        into[j] = min(here, entering[j])
                    elif r == k - 1:
                        into[j] = max(below, entering[j])
                    else:
                        into[j] = max(below, min(here, entering[j]))
            window, spare = spare, window
            middle = window[half]
            for j in range(width):
                out[i, first + j] = middle[j]


def median_filter(x: np.ndarray, k: int, axis: int) -> np.ndarray:
    """Centred running median of a 2-D array along `axis`, edges mirrored (scipy.ndimage's
    median_filter with mode="reflect", at a fraction of its cost); `k` odd, at least 3."""
    if k < 3 or k % 2 == 0:
        raise ValueError("the median window must be odd and at least 3")
    out = np.empty_like(x)
    if axis == 0:
        _running_median(x, k, out)
    else:  # transposed views: lanes then run along axis 0, a cache line serving 16 steps
        _running_median(x.T, k, out.T)
    return out


@numba.njit(cache=True, nogil=True)
def _linked_magnitude(spectrum: np.ndarray, out: np.ndarray) -> None:
    """|S| averaged over the channels of a (channels, frames, bins) spectrogram, into `out`
    (zeros on entry)."""
    channels, frames, bins = spectrum.shape
    for c in range(channels):
        for t in range(frames):
            row, into = spectrum[c, t], out[t]
            for b in range(bins):
                into[b] += math.sqrt(row[b].real ** 2 + row[b].imag ** 2) / channels


@numba.njit(cache=True, nogil=True)
def _masked(spectrum: np.ndarray, keep: np.ndarray, other: np.ndarray, margin: float, out: np.ndarray) -> None:
    """A (channels, frames, bins) spectrogram under the mask keep² / (keep² + (margin·other)²),
    0 where both are 0 (librosa.util.softmask with power 2, fused with the product), into `out`."""
    channels, frames, bins = spectrum.shape
    mask = np.empty(bins, np.float32)
    for t in range(frames):
        kept, against = keep[t], other[t]
        for b in range(bins):
            k, o = kept[b] ** 2, (margin * against[b]) ** 2
            mask[b] = k / (k + o) if k + o > 0 else 0.0
        for c in range(channels):
            row, into = spectrum[c, t], out[c, t]
            for b in range(bins):
                into[b] = row[b] * mask[b]


@dataclass(frozen=True)
class HpssResult:
    harmonic: np.ndarray
    percussive: np.ndarray


def hpss(samples: np.ndarray, sr: int, margin: float = 1.0, *, progress: ProgressFn = no_progress,
         cancel: CancelToken = NEVER) -> HpssResult:
    """Split into sustained (harmonic) and transient (percussive) parts by median filtering the
    spectrogram across time and across frequency (Fitzgerald 2010; Driedger et al. 2014 margin).

    The masks come from the channels' mean magnitude, so both channels are split alike and the
    stereo image holds; the two median filters run in parallel threads. margin 1 gives parts
    that sum back to the input; larger margins make each part cleaner and leave a residual out
    of both.
    """
    if margin < 1:
        raise ToolError("margin must be at least 1")
    frames = samples.shape[-1]
    if frames < HPSS_FFT:
        raise ToolError(f"the input is too short to split (needs {HPSS_FFT / sr:.2f} s)")
    spectrum = stft(samples, HPSS_FFT, HPSS_HOP)
    # buffers come from numpy, which puts them on transparent huge pages (numba's allocator
    # does not, and first touches of 4 kB pages cost more than the arithmetic)
    magnitude = np.zeros(spectrum.shape[1:], np.float32)
    _linked_magnitude(spectrum, magnitude)
    progress(1, 3, "spectrogram")
    cancel.check()
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        across_time, across_freq = pool.map(lambda axis: median_filter(magnitude, HPSS_KERNEL, axis), (0, 1))
    progress(2, 3, "median filters")
    cancel.check()

    def part(keep: np.ndarray, other: np.ndarray) -> np.ndarray:
        masked = np.empty_like(spectrum)
        _masked(spectrum, keep, other, float(margin), masked)
        return istft(masked, HPSS_FFT, HPSS_HOP, frames)

    harmonic = part(across_time, across_freq)
    # margin 1: the masks sum to one, so the percussive part is the rest
    percussive = samples - harmonic if margin == 1 else part(across_freq, across_time)
    progress(3, 3, "resynthesis")
    return HpssResult(harmonic, percussive.astype(np.float32, copy=False))


def warm() -> None:
    """Compile the HPSS kernels (numba caches them) for both filter directions."""
    grid = np.ones((40, 4), np.float32)
    for axis in (0, 1):
        median_filter(grid, 5, axis)
    spectrum = np.ones((1, 40, 4), np.complex64)
    magnitude = np.zeros((40, 4), np.float32)
    _linked_magnitude(spectrum, magnitude)
    _masked(spectrum, magnitude, grid, 1.0, np.empty_like(spectrum))
