"""Dynamics: multiband compression, transient shaping, de-essing and sidechain ducking.

They share one detector (the linked peak of the channels, so every channel gets the same gain
and the stereo image never wanders) and one-pole attack/release followers. The envelope loops
are compiled with numba, since a recursive envelope cannot be vectorised; `warm()` compiles
them once and numba caches them on disk.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

from ..errors import ToolError
from .dsp import complementary_split, crossover_bands
from .effect_specs import BandCompressor
from .resample import resample

COMPRESSOR_BLOCK = 16
"""Compressor gain is computed per 16 frames (0.36 ms at 44.1 kHz) from each block's peak and
ramped linearly in between: 16× less work than per sample, and no peak escapes the detector."""
DETECTOR_RELEASE_MS = 20.0
"""Release of the ducking detector: holds a tone's level across the cycles of 50 Hz and up."""


@numba.njit(cache=True, inline="always")
def _step(state: float, target: float, attack: float, release: float) -> float:
    """One sample of a one-pole follower: rises with `attack`, falls with `release`."""
    return target + (attack if target > state else release) * (state - target)


@numba.njit(cache=True, inline="always")
def _smooth_peak(hold: float, state: float, target: float, attack: float,
                 release: float) -> tuple[float, float]:
    """Smooth decoupled peak detector (Giannoulis, Massberg & Reiss 2012): hold the peaks of
    `target` with `release`, then ease toward the held value with `attack`. Holding first keeps
    the reduction steady between the peaks of a low tone."""
    hold = max(target, release * hold + (1.0 - release) * target)
    return hold, attack * state + (1.0 - attack) * hold


@numba.njit(cache=True, inline="always")
def _peak(x: np.ndarray, i: int) -> float:
    p = 0.0
    for c in range(x.shape[0]):
        p = max(p, abs(x[c, i]))
    return p


@numba.njit(cache=True, nogil=True)
def _compressor_gain(peaks, threshold_db, ratio, knee_db, attack, release):
    """Linear gain per block of a compressor whose detector sees the block peaks, plus the
    largest and summed reduction in dB."""
    gain = np.ones(peaks.size)
    slope = 1.0 - 1.0 / ratio
    quiet = 10.0 ** ((threshold_db - knee_db / 2) / 20)
    hold, state, worst, total = 0.0, 0.0, 0.0, 0.0
    for i in range(peaks.size):
        p = peaks[i]
        target = 0.0
        if p > quiet:
            over = 20.0 * math.log10(p) - threshold_db
            if 2 * over > knee_db:
                target = slope * over
            else:
                target = slope * (over + knee_db / 2) ** 2 / (2 * knee_db)
        hold, state = _smooth_peak(hold, state, target, attack, release)
        if state > 1e-6:
            gain[i] = 10.0 ** (-state / 20)
        worst = max(worst, state)
        total += state
    return gain, worst, total


@numba.njit(cache=True, nogil=True)
def _duck_gain(key, threshold, depth_db, hold, attack, release):
    """Linear gain per frame, the number of frames the key was above `threshold`, and the
    largest and summed reduction in dB."""
    n = key.shape[1]
    gain = np.ones(n, np.float32)
    level, state, active, worst, total = 0.0, 0.0, 0, 0.0, 0.0
    for i in range(n):
        level = _step(level, _peak(key, i), 0.0, hold)
        target = 0.0
        if level > threshold:
            target = depth_db
            active += 1
        state = _step(state, target, attack, release)
        if state > 1e-6:
            gain[i] = 10.0 ** (-state / 20)
        worst = max(worst, state)
        total += state
    return gain, active, worst, total


@numba.njit(cache=True, nogil=True)
def _transient_gain(x, attack_gain_db, sustain_gain_db, detect, release):
    """Linear gain per frame of the transient shaper (see `transient_shaper`)."""
    n = x.shape[1]
    gain = np.empty(n, np.float32)
    fast, slow = 0.0, 0.0
    for i in range(n):
        fast = _step(fast, _peak(x, i), 0.0, release)
        slow = _step(slow, fast, detect, release)
        attack = 1.0 - slow / fast if fast > 1e-9 else 0.0
        attack = min(max(attack, 0.0), 1.0)
        gain[i] = 10.0 ** ((sustain_gain_db + (attack_gain_db - sustain_gain_db) * attack) / 20)
    return gain


def _coeff(ms: float, sr: float) -> float:
    """Per-step coefficient of a one-pole with time constant `ms` at `sr` steps per second
    (0 ms = instant)."""
    return math.exp(-1000.0 / (ms * sr)) if ms > 0 else 0.0


@numba.njit(cache=True, nogil=True)
def _block_peaks(x, block):
    """Linked peak (over channels) of every `block` frames; a short last block counts."""
    channels, frames = x.shape
    peaks = np.zeros((frames + block - 1) // block)
    for i in range(frames):
        p = peaks[i // block]
        for c in range(channels):
            p = max(p, abs(x[c, i]))
        peaks[i // block] = p
    return peaks


@numba.njit(cache=True, nogil=True)
def _add_ramped(out, x, gain, block, scale):
    """out += x · scale · gain, the gain ramping linearly from each block's value to the next's."""
    channels, frames = x.shape
    last = gain.size - 1
    for i in range(frames):
        k = i // block
        g = gain[k] + (gain[min(k + 1, last)] - gain[k]) * (i % block) / block
        for c in range(channels):
            out[c, i] += x[c, i] * scale * g


def _contiguous(samples: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(samples, dtype=np.float32)


@dataclass(frozen=True)
class GainReduction:
    """How hard a signal was worked: peak and average reduction in dB (positive numbers)."""

    max_db: float
    mean_db: float

    @classmethod
    def of(cls, worst: float, total: float, frames: int) -> GainReduction:
        return cls(round(worst, 2), round(total / max(frames, 1), 2))


def compress(detector: np.ndarray, signal: np.ndarray, sr: int, threshold_db: float, ratio: float,
             attack_ms: float, release_ms: float, out: np.ndarray, knee_db: float = 0.0,
             makeup_db: float = 0.0) -> GainReduction:
    """Compress `signal` by the level of `detector` (same frames; often the signal itself) and
    add the result, with `makeup_db`, to `out` (float32, same shape) in one pass."""
    scale = 10 ** (makeup_db / 20)
    if ratio <= 1:
        out += signal * np.float32(scale)
        return GainReduction(0.0, 0.0)
    rate = sr / COMPRESSOR_BLOCK
    gain, worst, total = _compressor_gain(_block_peaks(_contiguous(detector), COMPRESSOR_BLOCK),
                                          threshold_db, ratio, knee_db, _coeff(attack_ms, rate),
                                          _coeff(release_ms, rate))
    _add_ramped(out, _contiguous(signal), gain, COMPRESSOR_BLOCK, scale)
    return GainReduction.of(worst, total, gain.size)


@dataclass(frozen=True)
class MultibandResult:
    audio: np.ndarray
    bands: list[dict]
    """Per band, low to high: its frequency range and gain reduction."""


def multiband_compress(samples: np.ndarray, sr: int, crossovers_hz: Sequence[float],
                       bands: Sequence[BandCompressor]) -> MultibandResult:
    """Split with Linkwitz–Riley (LR4) crossovers, compress each band, sum.

    With every band at ratio 1 and no makeup the result is the input through the crossovers'
    allpass (`dsp.crossover_allpass`): flat magnitude, phase turned once per crossover.
    """
    if not 2 <= len(bands) <= 4 or len(crossovers_hz) != len(bands) - 1:
        raise ToolError(
            f"multiband compression takes 2-4 bands and one crossover fewer; got {len(bands)} "
            f"bands and {len(crossovers_hz)} crossovers"
        )
    edges = [0.0, *map(float, crossovers_hz), sr / 2]
    out = np.zeros(samples.shape, dtype=np.float32)
    report = []
    for i, (band, cfg) in enumerate(zip(crossover_bands(samples, sr, crossovers_hz), bands)):
        gr = compress(band, band, sr, cfg.threshold_db, cfg.ratio, cfg.attack_ms, cfg.release_ms,
                      out, cfg.knee_db, cfg.makeup_db)
        report.append({"low_hz": round(edges[i], 1), "high_hz": round(edges[i + 1], 1),
                       "max_reduction_db": gr.max_db, "mean_reduction_db": gr.mean_db})
    return MultibandResult(out, report)


def transient_shaper(samples: np.ndarray, sr: int, attack_gain_db: float,
                     sustain_gain_db: float, detect_ms: float = 20.0,
                     release_ms: float = 150.0) -> np.ndarray:
    """Boost or soften the attacks and the sustain of notes and hits independently.

    Differential envelopes, as in analogue transient designers: a peak follower jumps to each
    onset and a slower copy of it needs `detect_ms` to catch up. Their ratio is the attack
    fraction a ∈ [0, 1] (1 at an onset out of silence, less for a smaller jump, 0 once a note
    has settled or while it decays) and the gain is attack_gain·a + sustain_gain·(1 − a):
    `sustain` shapes everything after the attack, the body and the tail of each note.
    """
    gain = _transient_gain(_contiguous(samples), attack_gain_db, sustain_gain_db,
                           _coeff(detect_ms, sr), _coeff(release_ms, sr))
    return samples * gain


@dataclass(frozen=True)
class DynamicsResult:
    audio: np.ndarray
    reduction: GainReduction


def deess(samples: np.ndarray, sr: int, freq_hz: float = 6000.0, threshold_db: float = -30.0,
          ratio: float = 4.0, attack_ms: float = 1.0, release_ms: float = 60.0) -> DynamicsResult:
    """Split-band de-esser: compress only the band above `freq_hz`, keyed by its own level.

    The split is zero-phase and complementary (`dsp.complementary_split`), so where no
    sibilance crosses the threshold the output is the input exactly, and a reduced sibilant
    stays in phase with the rest of the signal.
    """
    low, high = complementary_split(samples, sr, freq_hz)
    gr = compress(high, high, sr, threshold_db, ratio, attack_ms, release_ms, out=low)
    return DynamicsResult(low, gr)


def match_length(key: np.ndarray, frames: int) -> np.ndarray:
    """Cut or zero-pad a key signal to `frames`."""
    if key.shape[-1] >= frames:
        return key[..., :frames]
    return np.pad(key, ((0, 0), (0, frames - key.shape[-1])))


@dataclass(frozen=True)
class DuckResult(DynamicsResult):
    active_s: float
    """Seconds during which the trigger was above the threshold."""


def sidechain_duck(samples: np.ndarray, trigger: np.ndarray, sr: int, threshold_db: float = -30.0,
                   depth_db: float = 12.0, attack_ms: float = 10.0, release_ms: float = 250.0,
                   trigger_sr: int | None = None) -> DuckResult:
    """Lower `samples` by `depth_db` while `trigger` (resampled from `trigger_sr` to `sr`, then
    cut or padded to length) is above `threshold_db`, easing in over `attack_ms` and back over
    `release_ms` (time constants).

    The trigger's peak is held by a detector with a 20 ms release, so a tone does not flutter
    the gain between its cycles; recovery starts once that held level drops under the threshold.
    """
    frames = samples.shape[-1]
    if frames == 0:
        raise ToolError("the input is empty; nothing to duck")
    if trigger_sr and trigger_sr != sr:
        trigger = resample(trigger, trigger_sr, sr)
    key = _contiguous(match_length(trigger, frames))
    gain, active, worst, total = _duck_gain(
        key, 10 ** (threshold_db / 20), float(depth_db), _coeff(DETECTOR_RELEASE_MS, sr),
        _coeff(attack_ms, sr), _coeff(release_ms, sr))
    return DuckResult(samples * gain, GainReduction.of(worst, total, frames),
                      round(active / sr, 3))


def warm() -> None:
    """Compile the envelope loops (numba caches them on disk)."""
    x = np.zeros((1, 16), np.float32)
    compress(x, x, 8000, -20.0, 2.0, 1.0, 10.0, np.zeros_like(x), 6.0)
    compress(x, x, 8000, -20.0, 1.0, 1.0, 10.0, np.zeros_like(x))
    transient_shaper(x, 8000, 3.0, -3.0)
    sidechain_duck(x, x, 8000)
