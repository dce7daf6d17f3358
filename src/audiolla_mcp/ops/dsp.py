"""Filters: parametric EQ (RBJ cookbook biquads) and Linkwitz–Riley crossovers.

Every filter is a stack of second-order sections run with `scipy.signal.sosfilt`, so one biquad
design serves the EQ, the crossovers of the multiband compressor and the de-esser's band split.
Filtering is causal (minimum phase), like an analogue or plug-in EQ: zero-phase is not needed
and would smear transients backwards in time.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from typing import Literal

import numpy as np
from scipy.signal import sosfilt, sosfiltfilt

from ..errors import ToolError
from .effect_specs import BUTTERWORTH_Q, EqBand

BandType = Literal["peak", "low_shelf", "high_shelf", "high_pass", "low_pass", "notch", "band_pass",
                   "all_pass"]


def biquad(kind: BandType, freq_hz: float, sr: int, gain_db: float = 0.0,
           q: float = BUTTERWORTH_Q) -> np.ndarray:
    """One RBJ-cookbook biquad as a (1, 6) second-order section, normalised so a0 = 1."""
    if not 0 < freq_hz < sr / 2:
        raise ToolError(
            f"filter frequency {freq_hz:g} Hz must lie between 0 and the Nyquist frequency "
            f"({sr / 2:g} Hz) of this {sr} Hz audio; choose a lower frequency or resample first"
        )
    a = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * freq_hz / sr
    cw, alpha = math.cos(w0), math.sin(w0) / (2 * q)
    if kind == "peak":
        b, den = (1 + alpha * a, -2 * cw, 1 - alpha * a), (1 + alpha / a, -2 * cw, 1 - alpha / a)
    elif kind == "low_pass":
        b, den = ((1 - cw) / 2, 1 - cw, (1 - cw) / 2), (1 + alpha, -2 * cw, 1 - alpha)
    elif kind == "high_pass":
        b, den = ((1 + cw) / 2, -(1 + cw), (1 + cw) / 2), (1 + alpha, -2 * cw, 1 - alpha)
    elif kind == "band_pass":
        b, den = (alpha, 0.0, -alpha), (1 + alpha, -2 * cw, 1 - alpha)
    elif kind == "notch":
        b, den = (1.0, -2 * cw, 1.0), (1 + alpha, -2 * cw, 1 - alpha)
    elif kind == "all_pass":
        b, den = (1 - alpha, -2 * cw, 1 + alpha), (1 + alpha, -2 * cw, 1 - alpha)
    else:
        shelf = 2 * math.sqrt(a) * alpha
        sign = 1 if kind == "low_shelf" else -1
        b = (
            a * ((a + 1) - sign * (a - 1) * cw + shelf),
            sign * 2 * a * ((a - 1) - sign * (a + 1) * cw),
            a * ((a + 1) - sign * (a - 1) * cw - shelf),
        )
        den = (
            (a + 1) + sign * (a - 1) * cw + shelf,
            -sign * 2 * ((a - 1) + sign * (a + 1) * cw),
            (a + 1) + sign * (a - 1) * cw - shelf,
        )
    return np.array([[*b, *den]], dtype=np.float64) / den[0]


def _stack(sections: list[np.ndarray]) -> np.ndarray:
    """Sections in series as one (n, 6) array; (0, 6) for none."""
    return np.concatenate(sections) if sections else np.empty((0, 6))


def apply_sos(samples: np.ndarray, sos: np.ndarray) -> np.ndarray:
    """Filter every channel; returns float32 like the input."""
    if sos.shape[0] == 0:
        return samples.astype(np.float32, copy=True)
    return sosfilt(sos, samples, axis=-1).astype(np.float32)


def sample_peak_dbfs(samples: np.ndarray) -> float | None:
    """Largest |sample| in dBFS (None for silence): above 0 means a PCM file will clip."""
    peak = float(np.abs(samples).max(initial=0.0))
    return round(20 * math.log10(peak), 2) if peak > 0 else None


def eq(samples: np.ndarray, sr: int, bands: Sequence[EqBand]) -> np.ndarray:
    """Parametric EQ: the bands in order, each an RBJ biquad."""
    return apply_sos(samples, _stack([biquad(b.type, b.freq_hz, sr, b.gain_db, b.q) for b in bands]))


def _lr4(kind: Literal["low_pass", "high_pass"], freq_hz: float, sr: int) -> np.ndarray:
    """Linkwitz–Riley 4th order = two identical Butterworth biquads in series."""
    section = biquad(kind, freq_hz, sr)
    return _stack([section, section])


def complementary_split(samples: np.ndarray, sr: int, freq_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Zero-phase low and high bands that sum exactly to the input.

    The high band is a Butterworth high-pass run forwards and backwards: |HP|² with no phase
    shift, the magnitude of an LR4 high-pass. Because |HP|² + |LP|² = 1 for Butterworth, the
    rest (input − high) is the matching low band, so a band scaled by g gives |LP|² + g·|HP|²
    at every frequency, and g = 1 returns the input untouched.
    """
    high = sosfiltfilt(biquad("high_pass", freq_hz, sr), samples, axis=-1).astype(np.float32)
    return samples - high, high


def _check_crossovers(freqs_hz: Sequence[float]) -> list[float]:
    freqs = [float(f) for f in freqs_hz]
    if any(b <= a for a, b in pairwise(freqs)):
        raise ToolError(f"crossover frequencies {freqs} must be strictly increasing")
    return freqs


def crossover_allpass(samples: np.ndarray, sr: int, freqs_hz: Sequence[float]) -> np.ndarray:
    """What `crossover_bands` sum to: the input through one second-order allpass per crossover
    (LR4 low + high = allpass with Butterworth Q at the crossover; flat magnitude)."""
    return apply_sos(samples, _stack([biquad("all_pass", f, sr) for f in _check_crossovers(freqs_hz)]))


def crossover_bands(samples: np.ndarray, sr: int, freqs_hz: Sequence[float]) -> list[np.ndarray]:
    """Split into len(freqs)+1 bands, low to high, with LR4 crossovers.

    Band j is the LR4 high-pass of every crossover below it, the LR4 low-pass of its own and
    the allpass of every crossover above it (what a crossover tree with phase compensation
    gives), so all bands share one phase and sum to `crossover_allpass` of the input: a flat
    magnitude, the phase turned once per crossover as in any LR4 system. Each band is filtered
    straight from the input, in parallel threads (sosfilt releases the GIL).
    """
    freqs = _check_crossovers(freqs_hz)
    chains = [
        _stack([*(_lr4("high_pass", f, sr) for f in freqs[:j]),
                *([_lr4("low_pass", freqs[j], sr)] if j < len(freqs) else []),
                *(biquad("all_pass", f, sr) for f in freqs[j + 1 :])])
        for j in range(len(freqs) + 1)
    ]
    with ThreadPoolExecutor(max_workers=min(len(chains), os.cpu_count() or 1)) as pool:
        return list(pool.map(lambda sos: apply_sos(samples, sos), chains))
