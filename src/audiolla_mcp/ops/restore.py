"""Repair: declip, dehum, noise reduction and harmonic/percussive separation.

noisereduce and librosa are imported by the functions that use them: together they take
seconds to import, which declip and dehum should not pay on a first call.
"""

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
from ..progress import NEVER, CancelToken, ProgressFn, chunks, no_progress
from .dsp import apply_sos, biquad

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

NOISE_CHUNK_S = 15.0
NOISE_PADDING_S = 0.7
"""Each chunk is denoised with this much context either side, so chunk edges do not show."""


def reduce_noise(samples: np.ndarray, sr: int, stationary: bool = False, strength: float = 0.9,
                 noise: np.ndarray | None = None, *, progress: ProgressFn = no_progress,
                 cancel: CancelToken = NEVER) -> np.ndarray:
    """Spectral gating (noisereduce); `strength` is the share of the noise removed (0-1).

    Non-stationary mode tracks a moving noise floor and needs no noise sample. Stationary mode
    learns one floor: from `noise` (a noise-only clip) when given, else from each 15 s chunk,
    which only works when the input is mostly noise (steady tones would be taken for noise).
    Channels are denoised in parallel threads (the FFTs release the GIL).
    """
    if not 0 <= strength <= 1:
        raise ToolError("strength must be between 0 and 1")
    frames = samples.shape[-1]
    if frames < 2048:
        raise ToolError("the input is too short for noise reduction (needs at least 0.05 s)")
    import noisereduce

    reference = None if noise is None else np.ascontiguousarray(noise.mean(axis=0), np.float32)
    pad = int(NOISE_PADDING_S * sr)
    out = np.empty(samples.shape, np.float32)

    def clean(y: np.ndarray) -> np.ndarray:
        return noisereduce.reduce_noise(y=y, sr=sr, stationary=stationary, y_noise=reference,
                                        prop_decrease=strength, chunk_size=None, use_tqdm=False)

    with ThreadPoolExecutor(max_workers=min(samples.shape[0], os.cpu_count() or 1)) as pool:
        for start, stop in chunks(frames, int(NOISE_CHUNK_S * sr), progress, cancel, "reducing noise"):
            lo, hi = max(0, start - pad), min(frames, stop + pad)
            for channel, part in enumerate(pool.map(clean, samples[:, lo:hi])):
                out[channel, start:stop] = part[start - lo : stop - lo]
    return out


# -- harmonic / percussive ----------------------------------------------------------------------

HPSS_FFT, HPSS_HOP, HPSS_KERNEL = 2048, 512, 31


@numba.njit(cache=True, nogil=True)
def _running_median(x: np.ndarray, k: int) -> np.ndarray:
    """Median of every window of `k` along the last axis of a (rows, n + k − 1) array.

    A sorted window is kept per row; each step overwrites the leaving value with the entering
    one and bubbles it into place, so a step costs the distance between them, not a sort.
    """
    rows, width = x.shape
    n = width - k + 1
    out = np.empty((rows, n), x.dtype)
    half = k // 2
    for r in range(rows):
        window = np.sort(x[r, :k])
        out[r, 0] = window[half]
        for i in range(1, n):
            old, new = x[r, i - 1], x[r, i + k - 1]
            j = np.searchsorted(window, old)
            while j + 1 < k and window[j + 1] < new:
                window[j] = window[j + 1]
                j += 1
            while j > 0 and window[j - 1] > new:
                window[j] = window[j - 1]
                j -= 1
            window[j] = new
            out[r, i] = window[half]
    return out


def median_filter(x: np.ndarray, k: int, axis: int) -> np.ndarray:
    """Centred running median of a 2-D array along `axis`, edges mirrored (as scipy.ndimage's
    median_filter with mode="reflect", at a fraction of its cost)."""
    moved = np.moveaxis(x, axis, -1)
    padded = np.ascontiguousarray(np.pad(moved, ((0, 0), (k // 2, k // 2)), mode="symmetric"))
    return np.moveaxis(_running_median(padded, k), -1, axis)


@numba.njit(cache=True, nogil=True)
def _linked_magnitude(spectrum: np.ndarray) -> np.ndarray:
    """|S| averaged over the channels of a (frames, bins, channels) spectrogram, one pass."""
    frames, bins, channels = spectrum.shape
    out = np.zeros((frames, bins), np.float32)
    for t in range(frames):
        for b in range(bins):
            for c in range(channels):
                out[t, b] += abs(spectrum[t, b, c]) / channels
    return out


@numba.njit(cache=True, nogil=True)
def _masked(spectrum: np.ndarray, keep: np.ndarray, other: np.ndarray, margin: float) -> np.ndarray:
    """A (frames, bins, channels) spectrum under the mask keep² / (keep² + (margin·other)²), 0
    where both are 0 (librosa.util.softmask with power 2, fused with the product)."""
    frames, bins, channels = spectrum.shape
    out = np.empty_like(spectrum)
    for t in range(frames):
        for b in range(bins):
            k, o = keep[t, b] ** 2, (margin * other[t, b]) ** 2
            mask = k / (k + o) if k + o > 0 else 0.0
            for c in range(channels):
                out[t, b, c] = spectrum[t, b, c] * mask
    return out


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
    import librosa

    if margin < 1:
        raise ToolError("margin must be at least 1")
    frames = samples.shape[-1]
    if frames < HPSS_FFT:
        raise ToolError(f"the input is too short to split (needs {HPSS_FFT / sr:.2f} s)")
    # librosa's (channels, bins, frames) spectrogram is Fortran-ordered: its transpose is a
    # C-ordered (frames, bins, channels) view, the layout the kernels stream through
    spectrum = librosa.stft(samples, n_fft=HPSS_FFT, hop_length=HPSS_HOP).T
    magnitude = _linked_magnitude(spectrum)
    progress(1, 3, "spectrogram")
    cancel.check()
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        across_time, across_freq = pool.map(
            lambda axis: np.ascontiguousarray(median_filter(magnitude, HPSS_KERNEL, axis)), (0, 1))
    progress(2, 3, "median filters")
    cancel.check()

    def part(keep: np.ndarray, other: np.ndarray) -> np.ndarray:
        masked = _masked(spectrum, keep, other, margin).T
        return librosa.istft(masked, hop_length=HPSS_HOP, length=frames).astype(np.float32)

    harmonic = part(across_time, across_freq)
    # margin 1: the masks sum to one, so the percussive part is the rest
    percussive = samples - harmonic if margin == 1 else part(across_freq, across_time)
    progress(3, 3, "resynthesis")
    return HpssResult(harmonic, percussive.astype(np.float32, copy=False))


def warm() -> None:
    """Compile the HPSS kernels (numba caches them)."""
    grid = np.ones((40, 4), np.float32)
    median_filter(grid, 5, axis=0)
    spectrum = np.ones((40, 4, 1), np.complex64)
    _masked(spectrum, _linked_magnitude(spectrum), grid, 1.0)
