"""Whole-track descriptions: the `analyze` summary, DJ prep, clipping, stereo field, loop points
and A/B comparison.

`analyze` builds one `MusicFeatures` and lets tempo, key and the spectral/dynamics figures share
it, so asking for everything costs little more than asking for the slowest part.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import ToolError
from ..progress import NEVER, CancelToken, ProgressFn, no_progress
from .mir_features import MusicFeatures, Stages, check_audio, downmix, resample, stft_magnitude

Section = Literal["tempo", "key", "loudness", "spectral", "dynamics"]
SECTIONS: tuple[Section, ...] = ("tempo", "key", "loudness", "spectral", "dynamics")
SPECTRAL_FFT = 2048
ROLLOFF = 0.85
DJ_REFERENCE_LUFS = -14.0  # what streaming services and most DJ software level-match to
CLIP_MIN_RUN = 3  # identical full-scale samples in a row that count as a clipped stretch
CLIP_SPIKE_RATIO = 1.0
STEREO_BANDS_HZ = ((20.0, 200.0), (200.0, 4000.0), (4000.0, 20000.0))
LOOP_BARS = (1, 2, 4, 8, 16)
SEAM_SEARCH_S = 0.01
SEAM_CANDIDATES = 8  # best-matching candidates (plus the best two of each length) whose seams are compared
OCTAVE_BANDS_HZ = (31.5, 63, 125, 250, 500, 1000, 2000, 4000, 8000, 16000)
NULL_FLOOR_DB = -150.0
ALIGN_EXCERPT_S = 20.0
ALIGN_MIN_EXCERPT_S = 0.5


def _db(value: float, floor: float = NULL_FLOOR_DB) -> float:
    return round(max(20.0 * float(np.log10(value)) if value > 0 else floor, floor), 2)


def _opt(value: float | None, digits: int = 2) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


# ---------------------------------------------------------------------------------------------
# analyze


@dataclass(frozen=True)
class SpectralSummary:
    centroid_hz: float | None
    rolloff_hz: float | None
    bandwidth_hz: float | None
    flatness: float | None  # 0 tonal … 1 noise-like


@dataclass(frozen=True)
class Dynamics:
    rms_dbfs: float
    peak_dbfs: float
    crest_factor_db: float | None  # peak − RMS
    peak_to_loudness_db: float | None  # true peak − integrated loudness (PLR)
    loudness_range_lu: float | None


@dataclass(frozen=True)
class AnalysisResult:
    duration_s: float
    sample_rate: int
    channels: int
    bpm: float | None
    bpm_confidence: float | None
    time_signature: str | None
    key: str | None
    key_confidence: float | None
    camelot: str | None
    integrated_lufs: float | None
    true_peak_dbtp: float | None
    spectral: SpectralSummary | None
    dynamics: Dynamics | None
    summary: str


def spectral_summary(samples: np.ndarray, sr: int) -> SpectralSummary:
    """Energy-weighted means over frames at the source rate (so brightness above 11 kHz counts);
    every other frame is enough for a whole-track average."""
    mono = downmix(samples)
    if len(mono) < SPECTRAL_FFT:
        mono = np.pad(mono, (0, SPECTRAL_FFT - len(mono)))
    power = stft_magnitude(mono, SPECTRAL_FFT, SPECTRAL_FFT * 2) ** 2
    freqs = np.fft.rfftfreq(SPECTRAL_FFT, 1.0 / sr).astype(np.float32)
    energy = power.sum(axis=0)
    voiced = energy > energy.max() * 1e-6 if energy.max() > 0 else np.zeros_like(energy, dtype=bool)
    if not voiced.any():
        return SpectralSummary(None, None, None, None)
    p = power[:, voiced]
    total = p.sum(axis=0)
    w = total / total.sum()
    centroid = (freqs @ p) / total
    spread = np.sqrt(np.maximum((freqs**2 @ p) / total - centroid**2, 0.0))
    rolloff = freqs[np.argmax(np.cumsum(p, axis=0) >= ROLLOFF * total, axis=0)]
    flatness = np.exp(np.log(p + 1e-20).mean(axis=0)) / (p.mean(axis=0) + 1e-20)
    return SpectralSummary(
        centroid_hz=round(float(centroid @ w), 1),
        rolloff_hz=round(float(rolloff @ w), 1),
        bandwidth_hz=round(float(spread @ w), 1),
        flatness=round(float(flatness @ w), 4),
    )


def dynamics(samples: np.ndarray, loudness: object | None) -> Dynamics:
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    peak = float(np.max(np.abs(samples)))
    integrated = getattr(loudness, "integrated_lufs", None)
    true_peak = getattr(loudness, "true_peak_dbtp", None)
    return Dynamics(
        rms_dbfs=_db(rms),
        peak_dbfs=_db(peak),
        crest_factor_db=round(_db(peak) - _db(rms), 2) if rms > 0 else None,
        peak_to_loudness_db=_opt(true_peak - integrated) if None not in (true_peak, integrated) else None,
        loudness_range_lu=getattr(loudness, "loudness_range_lu", None),
    )


def analyze(
    samples: np.ndarray,
    sr: int,
    sections: Sequence[Section] = SECTIONS,
    *,
    progress: ProgressFn = no_progress,
    cancel: CancelToken = NEVER,
) -> AnalysisResult:
    """Tempo, key, loudness, spectral shape and dynamics of a track in one pass."""
    from . import loudness as loudness_ops
    from .beats import beat_grid, meter
    from .key import camelot, estimate_key

    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise ToolError(f"unknown analysis sections {sorted(unknown)}; choose from {list(SECTIONS)}")
    check_audio(samples, sr)
    stages = Stages(len(sections) + 1, progress, cancel)
    features = MusicFeatures(samples, sr, cancel)
    stages("features")
    bpm = bpm_confidence = signature = key = key_confidence = code = None
    report = spectral = dyn = None
    if "tempo" in sections:
        grid = beat_grid(features)
        bpm, bpm_confidence = grid.bpm, grid.confidence
        signature = f"{meter(features, grid)[1]}/4" if grid.bpm else None
        stages("tempo")
    if "key" in sections:
        estimate = estimate_key(features)
        if estimate.confidence > 0:
            key, key_confidence, code = estimate.name, estimate.confidence, camelot(estimate.tonic, estimate.mode)
        stages("key")
    if "loudness" in sections or "dynamics" in sections:
        report = loudness_ops.measure(samples, sr, cancel=cancel)
        if "loudness" in sections:
            stages("loudness")
    if "spectral" in sections:
        spectral = spectral_summary(samples, sr)
        stages("spectral")
    if "dynamics" in sections:
        dyn = dynamics(samples, report)
        stages("dynamics")
    integrated = getattr(report, "integrated_lufs", None) if "loudness" in sections else None
    true_peak = getattr(report, "true_peak_dbtp", None) if "loudness" in sections else None
    parts = [f"{features.duration_s:.1f} s"]
    if bpm:
        parts.append(f"{bpm:g} BPM")
    if key:
        parts.append(f"{key} ({code})")
    if integrated is not None:
        parts.append(f"{integrated:.1f} LUFS")
    if spectral and spectral.centroid_hz:
        parts.append(f"centroid {spectral.centroid_hz:.0f} Hz")
    return AnalysisResult(
        duration_s=round(features.duration_s, 3),
        sample_rate=int(sr),
        channels=int(samples.shape[0]),
        bpm=bpm,
        bpm_confidence=bpm_confidence if bpm else None,
        time_signature=signature,
        key=key,
        key_confidence=key_confidence,
        camelot=code,
        integrated_lufs=integrated,
        true_peak_dbtp=true_peak,
        spectral=spectral,
        dynamics=dyn,
        summary=", ".join(parts) + ".",
    )


@dataclass(frozen=True)
class DjPrep:
    bpm: float | None
    bpm_confidence: float
    key: str | None
    camelot: str | None
    open_key: str | None
    key_confidence: float
    integrated_lufs: float | None
    true_peak_dbtp: float | None
    gain_to_reference_db: float | None  # gain that levels the track to −14 LUFS
    first_downbeat_s: float | None
    duration_s: float
    summary: str


def dj_prep(
    samples: np.ndarray, sr: int, *, progress: ProgressFn = no_progress, cancel: CancelToken = NEVER
) -> DjPrep:
    """What a DJ needs to file a track: tempo, key (Camelot/Open Key), level and first downbeat."""
    from . import loudness as loudness_ops
    from .beats import beat_grid, meter
    from .key import camelot, estimate_key, open_key

    stages = Stages(4, progress, cancel)
    features = MusicFeatures(samples, sr, cancel)
    stages("features")
    grid = beat_grid(features)
    downbeats, _ = meter(features, grid)
    stages("tempo")
    estimate = estimate_key(features)
    stages("key")
    report = loudness_ops.measure(samples, sr, cancel=cancel)
    stages("loudness")
    keyed = estimate.confidence > 0
    integrated = report.integrated_lufs
    gain = _opt(DJ_REFERENCE_LUFS - integrated) if integrated is not None else None
    code = camelot(estimate.tonic, estimate.mode) if keyed else None
    summary = ", ".join(
        part
        for part in (
            f"{grid.bpm:g} BPM" if grid.bpm else "no steady tempo",
            f"{estimate.name} ({code})" if keyed else "no key",
            f"{integrated:.1f} LUFS" if integrated is not None else None,
        )
        if part
    )
    return DjPrep(
        bpm=grid.bpm,
        bpm_confidence=grid.confidence,
        key=estimate.name if keyed else None,
        camelot=code,
        open_key=open_key(estimate.tonic, estimate.mode) if keyed else None,
        key_confidence=estimate.confidence,
        integrated_lufs=integrated,
        true_peak_dbtp=report.true_peak_dbtp,
        gain_to_reference_db=gain,
        first_downbeat_s=round(float(downbeats[0]), 3) if len(downbeats) else None,
        duration_s=round(features.duration_s, 3),
        summary=summary + ".",
    )


# ---------------------------------------------------------------------------------------------
# clipping


@dataclass(frozen=True)
class ClippingResult:
    clipped: bool
    clipped_samples: int
    clipped_fraction: float
    events: list[dict]  # {start_s, duration_ms, channel, level_dbfs}
    event_count: int
    truncated: bool
    peak_dbfs: float
    clip_level_dbfs: float | None  # where the flat tops sit (below 0 dBFS: clipped, then turned down)
    summary: str


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) indices of the True runs of a boolean array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def _peak_spike(x: np.ndarray, peak: float) -> float:
    """Samples at the peak value per sample just under it (within 0.1 %). A smooth waveform
    crosses that band slowly and touches its peak briefly (ratio well below 1); a clipped one
    piles up at the ceiling (ratio far above 1)."""
    magnitude = np.abs(x)
    at_peak = np.count_nonzero(magnitude >= peak * (1 - 1e-6))
    below = np.count_nonzero((magnitude >= peak * (1 - 1e-3)) & (magnitude < peak * (1 - 1e-6)))
    return at_peak / max(below, 1)


def detect_clipping(samples: np.ndarray, sr: int, *, min_run: int = CLIP_MIN_RUN, max_events: int = 200) -> ClippingResult:
    """Stretches of `min_run`+ consecutive samples stuck at a channel's peak magnitude, in a
    channel whose level histogram spikes at that peak: the flat tops digital clipping leaves,
    also when the file was turned down after clipping, but not the rounded top of a loud sine."""
    check_audio(samples, sr)
    if min_run < 2:
        raise ToolError("min_run must be at least 2 samples")
    events = []
    clipped = 0
    levels = []
    for channel, x in enumerate(samples.astype(np.float32, copy=False)):
        peak = float(np.max(np.abs(x)))
        if peak <= 0 or _peak_spike(x, peak) < CLIP_SPIKE_RATIO:
            continue
        starts, ends = _runs(np.abs(x) >= peak * (1 - 1e-6))
        long = (ends - starts) >= min_run
        for s, e in zip(starts[long], ends[long]):
            events.append({"start_s": round(float(s) / sr, 4), "duration_ms": round(float(e - s) * 1000 / sr, 3),
                           "channel": channel, "level_dbfs": _db(peak)})
        clipped += int((ends[long] - starts[long]).sum())
        if long.any():
            levels.append(peak)
    events.sort(key=lambda e: e["start_s"])
    total = samples.size
    peak_dbfs = _db(float(np.max(np.abs(samples))))
    level = _db(max(levels)) if levels else None
    if events:
        summary = f"Clipped: {len(events)} flat-topped stretches, {clipped} samples ({100 * clipped / total:.3f} %) at {level:.2f} dBFS."
    else:
        summary = f"No clipping found (peak {peak_dbfs:.2f} dBFS)."
    return ClippingResult(
        clipped=bool(events),
        clipped_samples=clipped,
        clipped_fraction=round(clipped / total, 6),
        events=events[:max_events],
        event_count=len(events),
        truncated=len(events) > max_events,
        peak_dbfs=peak_dbfs,
        clip_level_dbfs=level,
        summary=summary,
    )


# ---------------------------------------------------------------------------------------------
# stereo field


@dataclass(frozen=True)
class StereoField:
    channels: int
    is_mono: bool
    correlation: float | None  # −1 out of phase … 0 unrelated … +1 mono
    min_window_correlation: float | None  # worst 400 ms window
    width: float | None  # side / (mid + side) energy, 0 mono … 0.5 wide … 1 anti-phase
    side_to_mid_db: float | None
    balance_db: float | None  # left minus right level; positive leans left
    mono_loss_db: float | None  # level change when folded to mono (negative: cancellation)
    band_correlation: list[dict]
    phase_problem: bool
    summary: str


def _correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    denom = np.sqrt(np.dot(a, a) * np.dot(b, b))
    return float(np.dot(a, b) / denom) if denom > 0 else None


def stereo_field(samples: np.ndarray, sr: int) -> StereoField:
    """Correlation, width, balance and mono compatibility of the front left/right pair (band
    correlations from the cross-spectrum, so bands are brick-wall and cost one FFT per channel)."""
    check_audio(samples, sr)
    if samples.shape[0] == 1:
        return StereoField(1, True, 1.0, 1.0, 0.0, None, 0.0, 0.0, [], False, "Mono: no stereo field.")
    left = samples[0].astype(np.float64)
    right = samples[1].astype(np.float64)
    mid, side = (left + right) / 2, (left - right) / 2
    e_mid, e_side = float(np.dot(mid, mid)), float(np.dot(side, side))
    e_left, e_right = float(np.dot(left, left)), float(np.dot(right, right))
    if e_left + e_right == 0:
        return StereoField(samples.shape[0], True, None, None, None, None, None, None, [], False, "Silent.")
    correlation = _correlation(left, right)
    window = max(int(0.4 * sr), 1)
    n = len(left) // window
    l_win, r_win = left[: n * window].reshape(n, window), right[: n * window].reshape(n, window)
    energy = (l_win**2).sum(axis=1) * (r_win**2).sum(axis=1)
    audible = (energy > 0) & (np.maximum(np.abs(l_win).max(axis=1), np.abs(r_win).max(axis=1)) > 1e-4) if n else np.zeros(0, bool)
    windows = ((l_win * r_win).sum(axis=1)[audible] / np.sqrt(energy[audible])).tolist()
    spectrum_l, spectrum_r = np.fft.rfft(left), np.fft.rfft(right)
    freqs = np.fft.rfftfreq(len(left), 1.0 / sr)
    bands = []
    for lo, hi in STEREO_BANDS_HZ:
        if lo >= sr / 2:
            continue
        band = (freqs >= lo) & (freqs < hi)
        cross = float(np.sum((spectrum_l[band] * np.conj(spectrum_r[band])).real))
        power = float(np.sqrt(np.sum(np.abs(spectrum_l[band]) ** 2) * np.sum(np.abs(spectrum_r[band]) ** 2)))
        bands.append({"low_hz": lo, "high_hz": min(hi, sr / 2), "correlation": _opt(cross / power, 3) if power > 0 else None})
    is_mono = e_side <= 1e-8 * (e_mid + 1e-30)
    width = e_side / (e_mid + e_side)
    mono_loss = 10 * np.log10(e_mid / ((e_left + e_right) / 2)) if e_mid > 0 else NULL_FLOOR_DB
    balance = 10 * np.log10(e_left / e_right) if e_left > 0 and e_right > 0 else None
    phase_problem = bool(correlation is not None and correlation < 0) or (bool(windows) and min(windows) < -0.3)
    if is_mono:
        summary = "Dual mono: left and right are identical."
    else:
        summary = (
            f"Correlation {correlation:+.2f}, width {width:.2f}, mono fold-down {mono_loss:+.1f} dB"
            + ("; phase problem: parts cancel in mono." if phase_problem else ".")
        )
    return StereoField(
        channels=int(samples.shape[0]),
        is_mono=bool(is_mono),
        correlation=_opt(correlation, 3),
        min_window_correlation=_opt(min(windows), 3) if windows else None,
        width=round(width, 4),
        side_to_mid_db=_db(np.sqrt(e_side / e_mid)) if e_mid > 0 else None,
        balance_db=_opt(balance),
        mono_loss_db=_opt(mono_loss),
        band_correlation=bands,
        phase_problem=phase_problem,
        summary=summary,
    )


# ---------------------------------------------------------------------------------------------
# loop points


@dataclass(frozen=True)
class LoopPoint:
    start_s: float
    end_s: float
    length_s: float
    bars: int | None
    bpm: float | None
    score: float  # 0..1: how alike the audio after the end and after the start are
    seam_error_db: float  # level of the waveform jump at the seam, relative to the signal
    alternatives: list[dict]
    summary: str


def _frame_similarity(mel: np.ndarray, a: int, b: int, width: int) -> float:
    """Cosine similarity of `width` mel frames starting at a and at b."""
    if b + width > mel.shape[1] or a + width > mel.shape[1]:
        return -1.0
    x, y = mel[:, a:a + width].ravel(), mel[:, b:b + width].ravel()
    x, y = x - x.mean(), y - y.mean()
    denom = np.linalg.norm(x) * np.linalg.norm(y)
    return float(x @ y / denom) if denom > 0 else -1.0


def _refine_seam(mono: np.ndarray, start: int, end: int, search: int, width: int) -> tuple[int, float]:
    """Shift `end` by up to ±search samples so the audio after it best matches the audio after
    `start`; return the new end and the seam error in dB."""
    reference = mono[start:start + width]
    best, best_err = end, np.inf
    for shift in range(-search, search + 1):
        e = end + shift
        if e <= start or e + width > len(mono):
            continue
        err = float(np.mean((mono[e:e + width] - reference) ** 2))
        if err < best_err:
            best, best_err = e, err
    power = float(np.mean(reference**2)) + 1e-20
    return best, _db(np.sqrt(best_err / power)) if np.isfinite(best_err) else 0.0


def find_loop_point(
    samples: np.ndarray,
    sr: int,
    *,
    min_length_s: float = 1.0,
    max_length_s: float = 60.0,
    max_alternatives: int = 3,
    progress: ProgressFn = no_progress,
    cancel: CancelToken = NEVER,
) -> LoopPoint:
    """The region [start, end) that loops most seamlessly: a whole number of bars starting on a
    downbeat where a beat grid exists (else any frame-aligned region), chosen so the audio after
    the end resembles the audio after the start; the end is then nudged to the sample where the
    waveforms match."""
    from .beats import beat_grid, meter
    from .mir_features import ANALYSIS_SR, HOP

    if min_length_s <= 0 or max_length_s < min_length_s:
        raise ToolError("need 0 < min_length_s <= max_length_s")
    stages = Stages(3, progress, cancel)
    features = MusicFeatures(samples, sr, cancel)
    if features.silent or features.duration_s < 2 * min_length_s:
        raise ToolError(
            f"the audio is too short or silent to loop (needs at least {2 * min_length_s:g} s of sound)"
        )
    mel = features.mel_db
    stages("features")
    grid = beat_grid(features)
    downbeats, beats_per_bar = meter(features, grid)
    candidates: list[tuple[float, float, int | None]] = []  # (start_s, end_s, bars)
    if grid.bpm and len(downbeats) >= 2:
        bar_s = 60.0 / grid.bpm * beats_per_bar
        for start in downbeats:
            for bars in LOOP_BARS:
                end = start + bars * bar_s
                if min_length_s <= bars * bar_s <= max_length_s and end + bar_s / 4 < features.duration_s:
                    candidates.append((float(start), float(end), bars))
    if not candidates:
        step = 0.25
        for start in np.arange(0.0, features.duration_s / 2, step):
            for length in np.arange(min_length_s, min(max_length_s, features.duration_s - start - 0.25), step):
                candidates.append((float(start), float(start + length), None))
    stages("candidates")
    width = max(int(round(0.5 * ANALYSIS_SR / HOP)), 2)
    scored = sorted(
        ((_frame_similarity(mel, int(round(s * ANALYSIS_SR / HOP)), int(round(e * ANALYSIS_SR / HOP)), width), s, e, bars)
         for s, e, bars in candidates),
        key=lambda c: (-c[0], -(c[3] or 0)),
    )
    if not scored or scored[0][0] <= -1.0:
        raise ToolError("no loop candidate fits in the audio; lower min_length_s")
    mono = downmix(samples)
    search, seam_width = int(SEAM_SEARCH_S * sr), max(int(0.01 * sr), 16)
    lengths: dict[int | None, list] = {}
    for candidate in scored:
        lengths.setdefault(candidate[3], []).append(candidate)
    pool = dict.fromkeys(scored[:SEAM_CANDIDATES] + [c for group in lengths.values() for c in group[:2]])
    refined = []
    for score, start_s, end_s, bars in pool:
        start = int(round(start_s * sr))
        end, seam_db = _refine_seam(mono, start, int(round(end_s * sr)), search, seam_width)
        # A seam whose waveform jump is as loud as the signal halves the score; −40 dB costs 1 %.
        refined.append((score * (1.0 - 0.5 * min(10 ** (seam_db / 20), 1.0)), score, start, end, seam_db, bars))
    _, score, start, end, seam_db, bars = max(refined, key=lambda r: (r[0], r[5] or 0))
    stages("seam")
    alternatives = [
        {"start_s": round(s, 3), "end_s": round(e, 3), "bars": b, "score": round(max(c, 0.0), 3)}
        for c, s, e, b in scored[: 1 + max_alternatives]
        if abs(s - start / sr) > 0.02 or abs(e - end / sr) > 0.02
    ][:max_alternatives]
    length = (end - start) / sr
    bar_text = f" ({bars} bars at {grid.bpm:g} BPM)" if bars else ""
    return LoopPoint(
        start_s=round(start / sr, 4),
        end_s=round(end / sr, 4),
        length_s=round(length, 4),
        bars=bars,
        bpm=grid.bpm if bars else None,
        score=round(max(score, 0.0), 3),
        seam_error_db=seam_db,
        alternatives=alternatives,
        summary=f"Loop {start / sr:.3f}–{end / sr:.3f} s{bar_text}, similarity {max(score, 0.0):.2f}, seam {seam_db:.1f} dB.",
    )


# ---------------------------------------------------------------------------------------------
# A/B comparison


@dataclass(frozen=True)
class Comparison:
    duration_a_s: float
    duration_b_s: float
    sample_rate: int
    offset_s: float  # b is delayed by this much relative to a (negative: b is early)
    correlation: float | None  # of the aligned mono signals
    gain_b_to_a_db: float | None  # least-squares gain that makes b match a
    null_residual_dbfs: float  # level of a − b (aligned, no gain matching)
    null_residual_db: float  # the same relative to a's level
    matched_null_residual_db: float  # after gain matching
    identical: bool
    loudness_a: dict
    loudness_b: dict
    loudness_delta: dict  # b − a
    band_difference_db: list[dict]  # per octave band, b − a
    spectral_centroid_delta_hz: float | None
    summary: str


def _to_common(samples: np.ndarray, sr: int, target_sr: int, channels: int) -> np.ndarray:
    x = samples.astype(np.float32, copy=False)
    if x.shape[0] != channels:
        x = np.repeat(downmix(x)[None, :], channels, axis=0)
    if sr != target_sr:
        x = np.stack([resample(c, sr, target_sr) for c in x])
    return x


def _alignment(a: np.ndarray, b: np.ndarray, max_lag: int, sr: int) -> int:
    """Lag (samples) that best aligns b to a (positive: a's content comes later): FFT
    cross-correlation of a central excerpt of a (up to ALIGN_EXCERPT_S) against the stretch of b
    it could have moved to."""
    n = min(len(a), len(b))
    max_lag = min(max_lag, max((n - int(ALIGN_MIN_EXCERPT_S * sr)) // 2, 0))
    if n < 2 or max_lag == 0:
        return 0
    length = min(int(ALIGN_EXCERPT_S * sr), n - 2 * max_lag)
    start = max_lag + (n - 2 * max_lag - length) // 2
    excerpt = a[start : start + length]
    stretch = b[start - max_lag : start + length + max_lag]
    size = int(2 ** np.ceil(np.log2(len(stretch) + length)))
    scores = np.fft.irfft(np.fft.rfft(stretch, size) * np.conj(np.fft.rfft(excerpt, size)), size)[: 2 * max_lag + 1]
    return max_lag - int(np.argmax(scores))


def _octave_levels(x: np.ndarray, sr: int) -> np.ndarray:
    """Mean power per octave band (dB) of a mono signal."""
    n_fft = 8192
    if len(x) < n_fft:
        x = np.pad(x, (0, n_fft - len(x)))
    power = (stft_magnitude(x, n_fft, n_fft // 2).astype(np.float64) ** 2).mean(axis=1)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    levels = []
    for centre in OCTAVE_BANDS_HZ:
        band = (freqs >= centre / np.sqrt(2)) & (freqs < centre * np.sqrt(2))
        levels.append(10 * np.log10(power[band].sum() + 1e-20) if band.any() else np.nan)
    return np.array(levels)


def compare_audio(
    a: np.ndarray,
    sr_a: int,
    b: np.ndarray,
    sr_b: int,
    *,
    align: bool = True,
    max_offset_s: float = 1.0,
    progress: ProgressFn = no_progress,
    cancel: CancelToken = NEVER,
) -> Comparison:
    """Loudness, spectral balance, correlation and a null test between two versions of a track
    (b is brought to a's sample rate and channel count, then aligned in time)."""
    from . import loudness as loudness_ops

    check_audio(a, sr_a)
    check_audio(b, sr_b)
    stages = Stages(4, progress, cancel)
    b = _to_common(b, sr_b, sr_a, a.shape[0])
    sr = sr_a
    mono_a, mono_b = downmix(a).astype(np.float64), downmix(b).astype(np.float64)
    lag = _alignment(mono_a, mono_b, int(max_offset_s * sr), sr) if align else 0
    stages("alignment")
    if lag >= 0:
        xa, xb = a[:, lag:], b
    else:
        xa, xb = a, b[:, -lag:]
    n = min(xa.shape[1], xb.shape[1])
    xa, xb = xa[:, :n].astype(np.float64), xb[:, :n].astype(np.float64)
    power_a = float(np.mean(xa**2)) if n else 0.0
    residual = float(np.mean((xa - xb) ** 2)) if n else 0.0
    power_b = float(np.mean(xb**2)) if n else 0.0
    gain = float(np.sum(xa * xb) / np.sum(xb * xb)) if power_b > 0 else None
    matched = float(np.mean((xa - gain * xb) ** 2)) if gain is not None else residual
    correlation = _correlation(xa.mean(axis=0), xb.mean(axis=0)) if n else None
    stages("null test")
    la = loudness_ops.measure(a, sr, cancel=cancel)
    lb = loudness_ops.measure(b, sr, cancel=cancel)
    fields = ("integrated_lufs", "true_peak_dbtp", "loudness_range_lu", "sample_peak_dbfs", "max_short_term_lufs")
    loud_a = {f: getattr(la, f) for f in fields}
    loud_b = {f: getattr(lb, f) for f in fields}
    delta = {f: _opt(loud_b[f] - loud_a[f]) if None not in (loud_a[f], loud_b[f]) else None for f in fields}
    stages("loudness")
    bands_a, bands_b = _octave_levels(mono_a, sr), _octave_levels(mono_b, sr)
    band_diff = [
        {"centre_hz": c, "difference_db": _opt(d)}
        for c, d in zip(OCTAVE_BANDS_HZ, bands_b - bands_a)
        if c < sr / 2
    ]
    centroid_a = spectral_summary(a, sr).centroid_hz
    centroid_b = spectral_summary(b, sr).centroid_hz
    stages("spectrum")
    null_rel = _db(np.sqrt(residual / power_a)) if power_a > 0 else 0.0
    matched_rel = _db(np.sqrt(matched / power_a)) if power_a > 0 else 0.0
    identical = power_a > 0 and null_rel <= -90.0
    gain_db = _db(abs(gain)) if gain else None
    lufs_delta = delta["integrated_lufs"]
    summary = (
        ("Identical (null residual below −90 dB). " if identical else f"Null residual {null_rel:.1f} dB relative to A"
         f" ({matched_rel:.1f} dB after gain matching). ")
        + (f"B is {lufs_delta:+.1f} LU louder" if lufs_delta is not None else "Loudness not comparable")
        + (f", B offset {-lag / sr * 1000:+.1f} ms." if lag else ".")
    )
    return Comparison(
        duration_a_s=round(a.shape[1] / sr, 3),
        duration_b_s=round(b.shape[1] / sr, 3),
        sample_rate=int(sr),
        offset_s=round(-lag / sr, 5),
        correlation=_opt(correlation, 4),
        gain_b_to_a_db=gain_db,
        null_residual_dbfs=_db(np.sqrt(residual)),
        null_residual_db=null_rel,
        matched_null_residual_db=matched_rel,
        identical=bool(identical),
        loudness_a=loud_a,
        loudness_b=loud_b,
        loudness_delta=delta,
        band_difference_db=band_diff,
        spectral_centroid_delta_hz=_opt(centroid_b - centroid_a, 1) if None not in (centroid_a, centroid_b) else None,
        summary=summary,
    )


def comparison_png(comparison: Comparison, width: int = 1000, height: int = 420) -> bytes:
    """Bar chart of the per-octave level difference (B − A) with the headline numbers."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not (240 <= width <= 4096 and 160 <= height <= 4096):
        raise ToolError(f"image size {width}x{height} is out of range; width 240–4096, height 160–4096 px")
    fig = Figure(figsize=(width / 100, height / 100), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(111)
    labels = [f"{b['centre_hz']:g}" for b in comparison.band_difference_db]
    values = [b["difference_db"] or 0.0 for b in comparison.band_difference_db]
    ax.bar(labels, values, color=["#d62728" if v > 0 else "#1f77b4" for v in values])
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("octave band (Hz)")
    ax.set_ylabel("B − A (dB)")
    ax.set_title(comparison.summary, fontsize=9)
    ax.grid(axis="y", color="#e5e5e5")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def warm() -> None:
    """Run `analyze` once on a short clip: compiles the loudness kernels (numba, cached on
    disk) that analyze, dj_prep, compare and check_delivery use, before a user's first call.
    The music analysis itself is plain NumPy/SciPy and needs no warming."""
    sr = 22050
    t = np.arange(4 * sr) / sr
    pulses = np.sin(2 * np.pi * 220 * t) * np.exp(-(t % 0.5) * 6)
    analyze((0.3 * pulses)[None, :].astype(np.float32), sr)
