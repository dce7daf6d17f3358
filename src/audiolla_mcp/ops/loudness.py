"""Loudness after ITU-R BS.1770-4 and EBU R128 (Tech 3341 / 3342): measure, curve, normalise.

Every block power comes from one pass over the audio: the K-weighted signal is squared, summed
per 100 ms hop and channel-weighted, and a 400 ms (momentary) or 3 s (short-term) block is a sum
of consecutive hops. True peak interpolates 4× with a windowed-sinc polyphase FIR, but only in
the tiles whose samples leave room for an inter-sample peak above the largest one found so
far: the result is the full 4× maximum at a fraction of its cost. Normalisation limits on the
true-peak envelope of 16-frame blocks and predicts the loudness it leaves from per-block
energies, so one exact measure of the output usually settles it.

The per-sample loops (the K-weighting recursion, the interpolation, the limiter's gain) are
compiled with numba; `warm()` compiles them once and numba caches them on disk.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numba
import numpy as np
from scipy.ndimage import maximum_filter1d

from ..errors import ToolError
from ..progress import NEVER, CancelToken, ProgressFn, chunks, no_progress

HOPS_PER_SECOND = 10
MOMENTARY_HOPS = 4
SHORT_TERM_HOPS = 30
LOUDNESS_OFFSET_DB = -0.691
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
LRA_RELATIVE_GATE_LU = -20.0
LRA_PERCENTILES = (10.0, 95.0)
SURROUND_WEIGHT = 1.41

OVERSAMPLING = 4
TAPS_PER_PHASE = 16
KAISER_BETA = 6.0
"""16 taps per phase: flat within 0.03 dB up to 0.42·fs (20 kHz at 48 kHz)."""

LIMITER_ATTACK_S = 0.003
LIMITER_RELEASE_S = 0.08
LIMITER_MAX_REDUCTION_DB = 40.0
"""A target that needs more than this off the loudest peak is out of reach: normalisation
stops there (and says it is off target) rather than push the noise floor up to the ceiling."""
LIMITER_BLOCK = 16
"""The limiter works on the true-peak envelope of 16-frame blocks (0.36 ms at 44.1 kHz) and
interpolates its gain in dB in between: 16× less work than per sample, no peak escapes."""
NORMALIZE_MAX_PASSES = 8
NORMALIZE_AIM_LU = 0.05
"""Passes stop once within this of the target: half the ±0.1 LU promise."""
TRUE_PEAK_MARGIN_DB = 0.01
PREDICTION_AIM_LU = 0.002
PREDICTION_MAX_STEPS = 30
PREDICTION_MAX_STEP_DB = 12.0

_CHUNK_HOPS = 100
_TILE = 64
"""Frames interpolated at a time: the unit the true-peak search prunes (1.5 ms at 44.1 kHz)."""
_HALF = TAPS_PER_PHASE // 2

Window = Literal["momentary", "short_term"]


@dataclass(frozen=True)
class LoudnessReport:
    integrated_lufs: float | None
    loudness_range_lu: float | None
    true_peak_dbtp: float | None
    sample_peak_dbfs: float | None
    max_momentary_lufs: float | None
    max_short_term_lufs: float | None
    duration_s: float


@dataclass(frozen=True)
class LoudnessCurve:
    window: str
    block_s: float
    blocks_per_point: int
    times_s: list[float]
    """End of the (loudest) block each point stands for."""
    lufs: list[float | None]
    """None where the block is below the −70 LUFS absolute gate (silence)."""


@dataclass(frozen=True)
class NormalizeReport:
    target_lufs: float
    true_peak_ceiling_dbtp: float
    input_lufs: float
    output_lufs: float | None
    gain_db: float
    limiter_max_reduction_db: float
    input_true_peak_dbtp: float | None
    output_true_peak_dbtp: float | None
    on_target: bool
    """Output within ±0.1 LU of the target and at most 0.05 dB over the ceiling."""


def k_weighting_sos(sr: int) -> np.ndarray:
    """BS.1770 pre-filter (high shelf) and RLB high-pass as second-order sections for `sr`.

    Bilinear transform of the analogue prototypes whose parameters reproduce the 48 kHz table of
    BS.1770-4. The table's high-pass numerator [1, −2, 1] carries a passband gain of
    1 + K/Q + K² at 48 kHz (+0.043 dB, folded into the −0.691 offset); it is kept at every rate.
    """
    shelf_hz, shelf_gain_db, shelf_q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * shelf_hz / sr)
    vh = 10 ** (shelf_gain_db / 20)
    vb = vh**0.4996667741545416
    a0 = 1 + k / shelf_q + k * k
    shelf = [(vh + vb * k / shelf_q + k * k) / a0, 2 * (k * k - vh) / a0,
             (vh - vb * k / shelf_q + k * k) / a0, 1.0, 2 * (k * k - 1) / a0, (1 - k / shelf_q + k * k) / a0]
    highpass_hz, highpass_q = 38.13547087602444, 0.5003270373238773
    k, k48 = (math.tan(math.pi * highpass_hz / rate) for rate in (sr, 48000))
    a0 = 1 + k / highpass_q + k * k
    gain = (1 + k48 / highpass_q + k48 * k48) / a0
    highpass = [gain, -2 * gain, gain, 1.0, 2 * (k * k - 1) / a0, (1 - k / highpass_q + k * k) / a0]
    return np.array([shelf, highpass])


def channel_weights(channels: int) -> np.ndarray:
    """BS.1770 weights: 5.1 in WAV order (L R C LFE Ls Rs) drops the LFE and lifts the
    surrounds by 1.41; every other layout weighs each channel 1.0."""
    if channels == 6:
        return np.array([1.0, 1.0, 1.0, 0.0, SURROUND_WEIGHT, SURROUND_WEIGHT])
    return np.ones(channels)


@dataclass(frozen=True)
class _Measurement:
    """Unrounded measure: what normalisation steers by."""

    energy: np.ndarray
    bounds: np.ndarray
    sample_peak: float
    true_peak: float

    @property
    def integrated_lufs(self) -> float | None:
        gated = _gate(_block_power(self.energy, self.bounds, MOMENTARY_HOPS), RELATIVE_GATE_LU)
        return float(_lufs(gated.mean())) if gated.size else None

    @property
    def true_peak_dbtp(self) -> float | None:
        return _db(self.true_peak)


def measure(
    samples: np.ndarray, sr: int, *, progress: ProgressFn = no_progress, cancel: CancelToken = NEVER
) -> LoudnessReport:
    """Integrated loudness, loudness range, true and sample peak, max momentary/short-term."""
    x = _as_audio(samples, sr)
    found = _measure(x, sr, progress, cancel)
    momentary = _block_power(found.energy, found.bounds, MOMENTARY_HOPS)
    short_term = _block_power(found.energy, found.bounds, SHORT_TERM_HOPS)
    return LoudnessReport(
        integrated_lufs=_round(found.integrated_lufs),
        loudness_range_lu=_loudness_range(short_term),
        true_peak_dbtp=_round(found.true_peak_dbtp),
        sample_peak_dbfs=_round(_db(found.sample_peak)),
        max_momentary_lufs=_round(_audible_lufs(momentary.max())) if momentary.size else None,
        max_short_term_lufs=_round(_audible_lufs(short_term.max())) if short_term.size else None,
        duration_s=round(x.shape[1] / sr, 3),
    )


def curve(
    samples: np.ndarray,
    sr: int,
    window: Window = "momentary",
    points: int = 1000,
    *,
    progress: ProgressFn = no_progress,
    cancel: CancelToken = NEVER,
) -> LoudnessCurve:
    """Momentary (400 ms) or short-term (3 s) loudness every 100 ms, thinned to at most
    `points` by keeping the loudest block of each group so peaks survive decimation."""
    if points < 1:
        raise ToolError(f"points must be at least 1, got {points}.")
    hops = {"momentary": MOMENTARY_HOPS, "short_term": SHORT_TERM_HOPS}.get(window)
    if hops is None:
        raise ToolError(f"window must be 'momentary' or 'short_term', got {window!r}.")
    x = _as_audio(samples, sr)
    energy, bounds = _hop_energy(x, sr, progress, cancel)
    power = _block_power(energy, bounds, hops)
    group = max(1, -(-power.size // points))
    padded = np.full(-(-power.size // group) * group, -1.0)
    padded[: power.size] = power
    loudest = np.arange(0, padded.size, group) + padded.reshape(-1, group).argmax(axis=1)
    ends = bounds[hops:] / sr
    return LoudnessCurve(
        window=window,
        block_s=hops / HOPS_PER_SECOND,
        blocks_per_point=group,
        times_s=[round(float(t), 3) for t in ends[loudest]],
        lufs=[_round(_audible_lufs(p)) for p in power[loudest]],
    )


def normalize(
    samples: np.ndarray,
    sr: int,
    target_lufs: float,
    true_peak_db: float,
    *,
    progress: ProgressFn = no_progress,
    cancel: CancelToken = NEVER,
) -> tuple[np.ndarray, NormalizeReport]:
    """Gain to `target_lufs`; where that would push the true peak over `true_peak_db`, a
    look-ahead true-peak limiter holds it down.

    A plain gain scales the loudness exactly, so only the output's true peak is measured. With
    limiting, the gain that lands on the target is searched on a prediction (the hop energies
    with the limiter's gain applied), and each pass costs one exact measure of the output; a
    further pass, rarely needed, corrects the prediction by what that measure found.
    """
    x = _as_audio(samples, sr)
    target_lufs, true_peak_db = float(target_lufs), float(true_peak_db)
    before = _measure(x, sr, no_progress, cancel)
    input_lufs = before.integrated_lufs
    if input_lufs is None:
        raise ToolError("Nothing above the −70 LUFS gate: the audio is silent or shorter than 0.4 s, "
                        "so it has no loudness to normalise.")
    gain_db = target_lufs - input_lufs
    limit_db = true_peak_db
    limiter: _Limiter | None = None
    reduction_db = np.zeros(1)
    bias_lu = 0.0
    tried: tuple[float, float] | None = None
    for done in range(NORMALIZE_MAX_PASSES):
        if limiter is None and before.true_peak_dbtp + gain_db > limit_db:
            limiter = _Limiter(x, sr, before, cancel)
        if limiter is None:
            out, after = _scaled(x, before, gain_db)
            predicted = after.integrated_lufs
        else:
            gain_db = limiter.solve_gain(target_lufs - bias_lu, gain_db, limit_db)
            if tried == (gain_db, limit_db):
                break  # out of reach: another pass would give the same output
            tried = (gain_db, limit_db)
            reduction_db = limiter.reduction_db(gain_db, limit_db)
            predicted = limiter.predict_lufs(gain_db, reduction_db)
            out = limiter.apply(gain_db, reduction_db)
            after = _measure(out, sr, no_progress, cancel)
        progress(done + 1, NORMALIZE_MAX_PASSES, "normalising")
        output_lufs = after.integrated_lufs
        if output_lufs is None:
            break
        excess_db = after.true_peak_dbtp - true_peak_db
        if abs(target_lufs - output_lufs) <= NORMALIZE_AIM_LU and _round(excess_db) <= 0:
            break
        if limiter is None:
            gain_db += target_lufs - output_lufs
        else:
            bias_lu = output_lufs - predicted
        if excess_db > 0:
            limit_db -= excess_db + TRUE_PEAK_MARGIN_DB
    report = NormalizeReport(
        target_lufs=float(target_lufs),
        true_peak_ceiling_dbtp=float(true_peak_db),
        input_lufs=_round(input_lufs),
        output_lufs=_round(output_lufs),
        gain_db=round(float(gain_db), 2),
        limiter_max_reduction_db=round(float(reduction_db.max()), 2),
        input_true_peak_dbtp=_round(before.true_peak_dbtp),
        output_true_peak_dbtp=_round(after.true_peak_dbtp),
        on_target=output_lufs is not None and abs(_round(output_lufs) - target_lufs) <= 0.1
        and _round(after.true_peak_dbtp) <= true_peak_db + 0.05,
    )
    return out, report


def _scaled(x: np.ndarray, measured: _Measurement, gain_db: float) -> tuple[np.ndarray, _Measurement]:
    """x times a gain, and its measure: the K-weighted energies scale with the gain's square
    (to within the float32 rounding of the output, 1e-6 LU), the peaks are found again."""
    gain = np.float32(10 ** (gain_db / 20))
    out = x * gain
    return out, _Measurement(measured.energy * float(gain) ** 2, measured.bounds, *_checked_peaks(out))


def warm() -> None:
    """Compile the per-sample loops (numba caches them on disk)."""
    noise = np.random.default_rng(0).standard_normal((2, 8000)).astype(np.float32)
    normalize(0.1 * noise, 8000, -3.0, -1.0)


def _as_audio(samples: np.ndarray, sr: int) -> np.ndarray:
    x = np.ascontiguousarray(samples, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ToolError(f"Audio must be shaped (channels, frames); got shape {x.shape}.")
    if sr <= 0:
        raise ToolError(f"Sample rate must be positive, got {sr}.")
    return x


def _measure(x: np.ndarray, sr: int, progress: ProgressFn, cancel: CancelToken) -> _Measurement:
    with ThreadPoolExecutor(max_workers=1) as beside:
        # The compiled loops release the GIL: the peaks come for free on a second core while
        # the K-weighting runs.
        peaks = beside.submit(_checked_peaks, x)
        energy, bounds = _hop_energy(x, sr, progress, cancel)
        sample_peak, true_peak = peaks.result()
    return _Measurement(energy, bounds, sample_peak, true_peak)


def _hop_bounds(frames: int, sr: int) -> np.ndarray:
    """Boundaries in samples of the complete 100 ms hops (rounded when sr/10 is fractional)."""
    hops = frames * HOPS_PER_SECOND // sr
    return (np.arange(hops + 1) * sr + HOPS_PER_SECOND // 2) // HOPS_PER_SECOND


def _hop_energy(
    x: np.ndarray, sr: int, progress: ProgressFn, cancel: CancelToken
) -> tuple[np.ndarray, np.ndarray]:
    """Channel-weighted energy of the K-weighted signal in each complete 100 ms hop, and the
    hop boundaries in samples."""
    bounds = _hop_bounds(x.shape[1], sr)
    return _k_weighted_energy(x, sr, bounds, _CHUNK_HOPS, progress, cancel), bounds


def _k_weighted_energy(
    x: np.ndarray, sr: int, bounds: np.ndarray, chunk: int, progress: ProgressFn = no_progress,
    cancel: CancelToken = NEVER,
) -> np.ndarray:
    """Channel-weighted energy of the K-weighted signal between consecutive `bounds`, filtered
    `chunk` intervals at a time."""
    sums = np.zeros((x.shape[0], bounds.size - 1))
    state = np.zeros((x.shape[0], 4))
    sos = k_weighting_sos(sr)
    for first, last in chunks(bounds.size - 1, chunk, progress, cancel, "K-weighting"):
        _k_weighted_sums(x, sos, state, bounds, first, last, sums)
    # einsum, not a BLAS product: it would start threads for a sum of a few rows.
    return np.einsum("c,cn->n", channel_weights(x.shape[0]), sums)


@numba.njit(cache=True, nogil=True, inline="always", fastmath={"contract"})
def _k_step(v, s0, s1, s2, s3, sos):
    """One frame through the shelf and the high-pass (transposed direct form II): the output
    and the new states. Each state update adds its output term last, so the recursion's
    critical path is one fused multiply-add and one add per section."""
    y = sos[0, 0] * v + s0
    s0 = (sos[0, 1] * v + s1) - sos[0, 4] * y
    s1 = sos[0, 2] * v - sos[0, 5] * y
    u = sos[1, 0] * y + s2
    s2 = (sos[1, 1] * y + s3) - sos[1, 4] * u
    s3 = sos[1, 2] * y - sos[1, 5] * u
    return u, s0, s1, s2, s3


@numba.njit(cache=True, nogil=True, fastmath={"contract"})
def _k_weighted_sums(x, sos, state, bounds, first, last, sums):
    """sums[c, i] = Σ of the K-weighted channel c squared over frames bounds[i] … bounds[i+1]−1
    for i in first … last − 1, filtering on from bounds[first] with `state`, which is left
    where the next call goes on.

    The loop is bound by the latency of the recursions, so channels go through it in pairs
    whose recursions overlap (an odd channel out is paired with itself).
    """
    channels = x.shape[0]
    for c in range(0, channels, 2):
        d = min(c + 1, channels - 1)
        l0, l1, l2, l3 = state[c]
        r0, r1, r2, r3 = state[d]
        for i in range(first, last):
            left = right = 0.0
            for n in range(bounds[i], bounds[i + 1]):
                u, l0, l1, l2, l3 = _k_step(np.float64(x[c, n]), l0, l1, l2, l3, sos)
                left += u * u
                u, r0, r1, r2, r3 = _k_step(np.float64(x[d, n]), r0, r1, r2, r3, sos)
                right += u * u
            sums[c, i] = left
            sums[d, i] = right
        state[c] = (l0, l1, l2, l3)
        state[d] = (r0, r1, r2, r3)


def _block_power(energy: np.ndarray, bounds: np.ndarray, hops: int) -> np.ndarray:
    """Weighted mean square of every block of `hops` consecutive hops (10 Hz block rate)."""
    if energy.size < hops:
        return np.empty(0)
    ones = np.ones(hops)
    return np.convolve(energy, ones, "valid") / np.convolve(np.diff(bounds), ones, "valid")


def _lufs(power: np.ndarray | float) -> np.ndarray | float:
    with np.errstate(divide="ignore"):
        return LOUDNESS_OFFSET_DB + 10 * np.log10(power)


def _gate(power: np.ndarray, relative_lu: float) -> np.ndarray:
    """Block powers above the absolute gate and `relative_lu` under their own mean."""
    audible = power[_lufs(power) > ABSOLUTE_GATE_LUFS]
    if audible.size == 0:
        return audible
    return audible[_lufs(audible) > _lufs(audible.mean()) + relative_lu]


def _loudness_range(short_term: np.ndarray) -> float | None:
    """EBU Tech 3342: spread between the 10th and 95th percentile of gated short-term loudness
    (nearest rank, as in the specification's reference code)."""
    kept = np.sort(_lufs(_gate(short_term, LRA_RELATIVE_GATE_LU)))
    if kept.size == 0:
        return None
    low, high = (kept[int((kept.size - 1) * p / 100 + 0.5)] for p in LRA_PERCENTILES)
    return _round(high - low)


def _audible_lufs(power: float) -> float | None:
    value = float(_lufs(power))
    return value if value > ABSOLUTE_GATE_LUFS else None


def _db(amplitude: float) -> float | None:
    return 20 * math.log10(amplitude) if amplitude > 0 else None


def _round(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 2)


def _interpolator() -> np.ndarray:
    """Kaiser-windowed sinc taps, (OVERSAMPLING − 1, TAPS_PER_PHASE) float32: row p − 1 gives
    the point p/OVERSAMPLING of a sample period after sample m from samples m − half + 1 … m + half."""
    offsets = np.arange(1 - _HALF, _HALF + 1)
    distance = np.arange(1, OVERSAMPLING)[:, None] / OVERSAMPLING - offsets
    window = np.i0(KAISER_BETA * np.sqrt(1 - (distance / _HALF) ** 2)) / np.i0(KAISER_BETA)
    taps = (np.sinc(distance) * window).astype(np.float32)
    taps.setflags(write=False)
    return taps


_TAPS = _interpolator()
_ROUNDING = 1 + 1e-5
"""Room for the float32 rounding of an interpolated point over its exact value."""
_INTERPOLATOR_GAIN = float(np.abs(_TAPS).sum(axis=1).max()) * _ROUNDING
"""No interpolated point exceeds this times the largest |sample| under the filter."""
_TIGHT_TAPS = (np.abs(_TAPS).max(axis=0) * _ROUNDING).astype(np.float32)
"""|taps| of the worst phase, tap by tap: Σ_k _TIGHT_TAPS[k]·|x| under the filter bounds every
interpolated point there, and is much tighter than the gain bound on noise."""
_PEAK_BLOCK = TAPS_PER_PHASE
"""Blocks of sample peaks: the filter reaches into one on either side of a tile."""


@numba.njit(cache=True, nogil=True)
def _tile_window(x, channel, first, padded):
    """The frames the filter reads for the _TILE frames from `first`: a view into the
    signal, or at its edges a copy in `padded` with zeros beyond the signal."""
    frames = x.shape[1]
    start = first - _HALF + 1
    if start >= 0 and start + padded.size <= frames:
        return x[channel][start : start + padded.size]
    for i in range(padded.size):
        j = start + i
        padded[i] = x[channel, j] if 0 <= j < frames else np.float32(0.0)
    return padded


@numba.njit(cache=True, nogil=True, fastmath=True)
def _interpolate(window, points):
    """points[p, i] = the point (p + 1)/OVERSAMPLING of a sample period after the frame
    window[i + half − 1]."""
    for p in range(_TAPS.shape[0]):
        for i in range(_TILE):
            s = np.float32(0.0)
            for k in range(TAPS_PER_PHASE):
                s += _TAPS[p, k] * window[i + k]
            points[p, i] = s


@numba.njit(cache=True, nogil=True, fastmath=True)
def _largest(points, count):
    """The largest |point| after the first `count` frames of a tile."""
    best = np.float32(0.0)
    for p in range(points.shape[0]):
        row = points[p]
        for i in range(count):
            best = max(best, abs(row[i]))
    return best


@numba.njit(cache=True, nogil=True, fastmath=True)
def _tight_bound(window, scratch):
    """An upper bound of every |point| `_interpolate` finds, at a third of its cost."""
    magnitude = scratch[: window.size]
    for i in range(window.size):
        magnitude[i] = abs(window[i])
    bound = scratch[window.size :]
    for i in range(_TILE):
        s = np.float32(0.0)
        for k in range(TAPS_PER_PHASE):
            s += _TIGHT_TAPS[k] * magnitude[i + k]
        bound[i] = s
    return bound.max()


@numba.njit(cache=True, nogil=True)
def _block_tops(x):
    """max |x| of every channel in consecutive _PEAK_BLOCK-frame blocks, as float32 bit
    patterns: they order like the magnitudes, NaN and infinity above every finite value, and
    an integer maximum vectorises where a float one, minding NaN, would not."""
    channels, frames = x.shape
    blocks = -(-frames // _PEAK_BLOCK)
    tops = np.zeros((channels, blocks), np.int32)
    for c in range(channels):
        bits = x[c].view(np.int32)
        for b in range(blocks):
            top = np.int32(0)
            for j in range(b * _PEAK_BLOCK, min(b * _PEAK_BLOCK + _PEAK_BLOCK, frames)):
                top = max(top, bits[j] & np.int32(0x7FFFFFFF))
            tops[c, b] = top
    return tops


@numba.njit(cache=True, nogil=True)
def _peaks(x):
    """(sample peak, true peak) as linear amplitudes; NaN for both if a sample is not finite.

    A tile is interpolated only if the largest sample within the filter's reach (the tile and
    a block either side), times the filter's gain bound, could beat the best peak so far. The
    tile of the sample peak goes first, so the bound prunes most of the rest. On noise, where
    that bound is weak, a tighter one is tried first; it is dropped once it stops paying for
    itself (it costs a third of an interpolation and is no tighter on smooth signals).
    """
    channels, frames = x.shape
    if frames == 0:
        return 0.0, 0.0
    tops = _block_tops(x)
    peak = tops.max()
    if peak >= 0x7F800000:
        return np.nan, np.nan
    tiles = -(-frames // _TILE)
    per_tile = _TILE // _PEAK_BLOCK
    reach = np.zeros((channels, tiles), np.int32)
    for c in range(channels):
        for t in range(tiles):
            reach[c, t] = tops[c, max(t * per_tile - 1, 0) : (t + 1) * per_tile + 1].max()
    sample_peak = np.array([peak], np.int32).view(np.float32)[0]
    bound = reach.view(np.float32).ravel() * np.float32(_INTERPOLATOR_GAIN)
    padded = np.empty(_TILE + TAPS_PER_PHASE - 1, np.float32)
    scratch = np.empty(2 * _TILE + TAPS_PER_PHASE - 1, np.float32)
    points = np.empty((_TAPS.shape[0], _TILE), np.float32)
    best = sample_peak
    tried = pruned = 0
    for index in np.concatenate((np.array([np.argmax(bound)]), np.arange(bound.size))):
        if bound[index] <= best:
            continue
        bound[index] = 0.0
        c, t = divmod(index, tiles)
        window = _tile_window(x, c, t * _TILE, padded)
        if tried < 32 or 3 * pruned >= tried:
            tried += 1
            if _tight_bound(window, scratch) <= best:
                pruned += 1
                continue
        _interpolate(window, points)
        best = max(best, _largest(points, min(_TILE, frames - t * _TILE)))
    return float(sample_peak), float(best)


def _checked_peaks(x: np.ndarray) -> tuple[float, float]:
    sample_peak, true_peak = _peaks(x)
    if not math.isfinite(sample_peak):
        raise ToolError("The audio contains NaN or infinite samples; decode it again or repair it.")
    return sample_peak, true_peak


@numba.njit(cache=True, nogil=True)
def _block_envelope(x, first, last, envelope):
    """For the tiles first … last − 1: envelope[b] = the largest |frame| or |interpolated point
    after a frame| of LIMITER_BLOCK-frame block b, over all channels."""
    padded = np.empty(_TILE + TAPS_PER_PHASE - 1, np.float32)
    points = np.empty((_TAPS.shape[0], _TILE), np.float32)
    for c in range(x.shape[0]):
        for t in range(first, last):
            window = _tile_window(x, c, t * _TILE, padded)
            _interpolate(window, points)
            for b in range(_TILE // LIMITER_BLOCK):
                top = np.float32(0.0)
                for i in range(b * LIMITER_BLOCK, (b + 1) * LIMITER_BLOCK):
                    top = max(top, abs(window[i + _HALF - 1]), abs(points[0, i]), abs(points[1, i]),
                              abs(points[2, i]))
                block = t * (_TILE // LIMITER_BLOCK) + b
                if block < envelope.size:
                    envelope[block] = max(envelope[block], top)


@numba.njit(cache=True, nogil=True, fastmath=True)
def _apply_block_gain(x, gain, step, out):
    """out = x times a gain that starts block b at gain[b] and grows by the factor step[b] per
    frame: linear in dB across the block."""
    channels, frames = x.shape
    ramp = np.empty(LIMITER_BLOCK, np.float32)
    for b in range(gain.size):
        first = b * LIMITER_BLOCK
        count = min(LIMITER_BLOCK, frames - first)
        g, factor = gain[b], step[b]
        for j in range(LIMITER_BLOCK):
            ramp[j] = g
            g *= factor
        for c in range(channels):
            source, target = x[c][first : first + count], out[c][first : first + count]
            for j in range(count):
                target[j] = source[j] * ramp[j]


@numba.njit(cache=True, nogil=True)
def _released_need(envelope_db, offset_db, decay):
    """The reduction each block needs to bring envelope_db + offset_db down to 0 dB, held
    with an exponential release: max over j ≤ b of need[j]·decay^(b − j)."""
    held = np.empty(envelope_db.size)
    h = 0.0
    for b in range(envelope_db.size):
        h = max(envelope_db[b] + offset_db, h * decay, 0.0)
        held[b] = h
    return held


@numba.njit(cache=True, nogil=True)
def _trailing_mean(values, count):
    """Mean of values[b − count + 1 … b] for every b, values[0] standing in before the start;
    and the last mean once more, for the end of the last block."""
    means = np.empty(values.size + 1)
    total = values[0] * count
    for b in range(values.size):
        total += values[b] - values[max(b - count, 0)]
        means[b] = max(total / count, 0.0)
    means[values.size] = means[values.size - 1]
    return means


@numba.njit(cache=True, nogil=True, fastmath=True)
def _hop_power_gain(reduction_db, gain_db, block_energy, hop, hops):
    """Σ over the blocks of each hop of block_energy times the power gain of the limited
    block (its reduction taken at the middle of the block)."""
    shares = np.zeros(hops)
    scale = math.log(10) / 10
    plain = math.exp(scale * gain_db)
    for b in range(hop.size):
        mean_db = (reduction_db[b] + reduction_db[b + 1]) / 2
        power = plain if mean_db == 0.0 else math.exp(scale * (gain_db - mean_db))
        shares[hop[b]] += block_energy[b] * power
    return shares


def _envelope(x: np.ndarray, first: int, last: int, envelope: np.ndarray, cancel: CancelToken) -> None:
    """Fill `envelope` for the tiles first … last − 1."""
    for start, stop in chunks(last - first, 1 << 14, cancel=cancel):
        _block_envelope(x, first + start, first + stop, envelope)


class _Limiter:
    """A look-ahead true-peak limiter for one input, and the loudness it will leave.

    The true-peak envelope per block and the K-weighted energy per block are measured once;
    each gain and ceiling tried afterwards costs a few operations per block. Loudness after
    limiting is predicted by scaling each hop's energy by the limiter's mean power gain over
    it, weighted by where the energy lies: exact for a constant gain, within a few hundredths
    of a LU under heavy limiting (the K-weighting of a gain-modulated signal is not quite the
    gain-modulated K-weighting).
    """

    def __init__(self, x: np.ndarray, sr: int, measured: _Measurement, cancel: CancelToken) -> None:
        self._x = x
        block_starts = np.arange(0, measured.bounds[-1], LIMITER_BLOCK)
        envelope = np.zeros(-(-x.shape[1] // LIMITER_BLOCK), np.float32)
        tiles = -(-x.shape[1] // _TILE)
        with ThreadPoolExecutor(max_workers=2) as beside:
            # The envelope, the costliest part, is split between two threads (tiles are whole
            # blocks, so the halves write apart) while this one K-weights the blocks.
            halves = [beside.submit(_envelope, x, first, last, envelope, cancel)
                      for first, last in ((0, tiles // 2), (tiles // 2, tiles))]
            block_bounds = np.append(block_starts, measured.bounds[-1])
            self._block_energy = _k_weighted_energy(x, sr, block_bounds, 1 << 16, cancel=cancel)
            for half in halves:
                half.result()
        with np.errstate(divide="ignore"):
            self._envelope_db = 20 * np.log10(envelope.astype(np.float64))
        self._peak_db = float(self._envelope_db.max())
        self._hop = np.searchsorted(measured.bounds, block_starts, "right") - 1
        self._hop_share = np.bincount(self._hop, self._block_energy, measured.energy.size)
        self._measured = measured
        self._decay = math.exp(-LIMITER_BLOCK / (LIMITER_RELEASE_S * sr))
        self._attack_blocks = max(1, math.ceil(LIMITER_ATTACK_S * sr / LIMITER_BLOCK))
        self._slope = 1.0

    def reduction_db(self, gain_db: float, ceiling_db: float) -> np.ndarray:
        """Gain reduction (dB, ≥ 0) at the start of every block and at the end of the last that
        keeps the envelope, raised by `gain_db`, under the ceiling.

        The needed reduction is held with an exponential release, then spread by a look-ahead
        maximum and a moving average of the attack length. Each moving average is made of
        maxima that all cover the block before, the block itself and the block after, so the
        reduction across a block (linear in dB between its two ends) never dips under what
        that block needs, and the gain changes by at most the largest reduction per attack.
        """
        held = _released_need(self._envelope_db, gain_db - ceiling_db, self._decay)
        size = self._attack_blocks + 2
        ahead = maximum_filter1d(held, size, mode="nearest", origin=1 - size // 2)
        return _trailing_mean(ahead, self._attack_blocks)

    def apply(self, gain_db: float, reduction_db: np.ndarray) -> np.ndarray:
        out = np.empty_like(self._x)
        gain = 10 ** ((gain_db - reduction_db[:-1]) / 20)
        step = 10 ** (-np.diff(reduction_db) / (20 * LIMITER_BLOCK))
        _apply_block_gain(self._x, gain, step, out)
        return out

    def predict_lufs(self, gain_db: float, reduction_db: np.ndarray) -> float:
        """Integrated loudness of `apply(gain_db, reduction_db)`, predicted."""
        share = _hop_power_gain(reduction_db, gain_db, self._block_energy, self._hop, self._hop_share.size)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(self._hop_share > 0, share / self._hop_share, 10 ** (gain_db / 10))
        found = _Measurement(self._measured.energy * ratio, self._measured.bounds, 0.0, 0.0)
        lufs = found.integrated_lufs
        return -math.inf if lufs is None else lufs

    def solve_gain(self, aim_lufs: float, gain_db: float, ceiling_db: float) -> float:
        """The gain whose limited output is predicted at `aim_lufs`, by secant steps from
        `gain_db` (limiting makes loudness grow slower than gain, never faster; the last slope
        seeds the next search); at most the gain that takes LIMITER_MAX_REDUCTION_DB off the
        loudest peak, where a target out of reach stops."""
        most = ceiling_db - self._peak_db + LIMITER_MAX_REDUCTION_DB
        gain_db = min(gain_db, most)
        error = self.predict_lufs(gain_db, self.reduction_db(gain_db, ceiling_db)) - aim_lufs
        for _ in range(PREDICTION_MAX_STEPS):
            if abs(error) <= PREDICTION_AIM_LU or (gain_db == most and error < 0):
                break
            step = min(float(np.clip(-error / self._slope, -PREDICTION_MAX_STEP_DB, PREDICTION_MAX_STEP_DB)),
                       most - gain_db)
            moved = self.predict_lufs(gain_db + step, self.reduction_db(gain_db + step, ceiling_db)) - aim_lufs
            self._slope = min(1.0, max(0.05, (moved - error) / step))
            gain_db, error = gain_db + step, moved
        return gain_db
