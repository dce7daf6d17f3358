"""Tempo, beats, downbeats, meter and onsets; a click track to check them by ear.

Tempo is chosen among several hypotheses (peaks of the autocorrelation of onsets in eight
registers) under a log-normal prior around 120 BPM (or around the caller's hint); when every
other beat at that tempo is much louder than the rest, the loud ones are the beat and the tempo
is halved. Beats come from dynamic programming (Ellis 2007) at the chosen tempo, on note onsets
resolved by pitch, so legato notes that fade in (a choir, bowed strings) still place them;
downbeats and meter from where low-frequency onsets (kick drum, bass notes) recur. Everything is
NumPy, so no JIT compiler is loaded on first use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..progress import NEVER, CancelToken, ProgressFn, no_progress
from .mir_features import FRAME_RATE, MusicFeatures, Stages

MIN_BPM, MAX_BPM = 30.0, 300.0
PRIOR_BPM = 120.0
PRIOR_OCTAVES = 1.0  # width of the log-normal tempo prior, in octaves
HINT_OCTAVES = 0.3  # narrower prior when the caller gives `start_bpm`
ACF_WINDOW = 384  # frames (~8.9 s) per autocorrelation window
TIGHTNESS = 100.0  # how strictly beats keep to the tempo's period
EDGE_STRENGTH = 0.2  # leading/trailing beats weaker than this share of the median beat are silence
ACCENT_RATIO = 0.25  # alternate beats this much weaker than their neighbours are off-beats
SLOWEST_HALVED_BPM = 40.0  # accents never halve the tempo below this
MIN_DURATION_S = 1.5  # shorter clips carry no tempo worth reporting
METERS = (3, 4)
TRIPLE_PENALTY = 0.1  # evidence a 3/4 reading needs over 4/4
FIRST_BEAT_BONUS = 0.4  # evidence a pickup needs over music starting on a downbeat
CLICK_HZ, DOWNBEAT_CLICK_HZ = 1000.0, 1600.0
MEL_LAG = 1  # frames from an attack in the note-onset envelope to the same attack in the mel ones


@dataclass(frozen=True)
class BeatGrid:
    """The beat analysis that chords, structure and `analyze` reuse."""

    bpm: float | None
    confidence: float
    beats: np.ndarray  # seconds
    tempo_candidates: tuple[tuple[float, float], ...]  # (bpm, score), best first


@dataclass(frozen=True)
class BeatsResult:
    bpm: float | None
    confidence: float
    time_signature: str | None
    beats: list[float]
    downbeats: list[float]
    beat_count: int
    beats_truncated: bool
    tempo_candidates: list[dict]
    summary: str


@dataclass(frozen=True)
class OnsetsResult:
    onsets: list[float]
    strengths: list[float]
    onset_count: int
    truncated: bool
    onsets_per_second: float
    summary: str


def global_autocorrelation(bands: np.ndarray) -> np.ndarray:
    """Periodicity of onsets, shape (lags,), lag 0 is 1: autocorrelations of Hann-windowed
    stretches (~8.9 s, hopped by a quarter window) of each band's onsets about their mean, summed
    over bands, peak-normalised per stretch and averaged, then divided by the window's own
    autocorrelation, whose taper would otherwise favour short lags (fast tempi)."""
    bands = np.atleast_2d(bands).astype(np.float64)
    window = int(min(ACF_WINDOW, max(bands.shape[1], 8)))
    padded = np.pad(bands, ((0, 0), (window // 2, window // 2)))
    stretches = np.lib.stride_tricks.sliding_window_view(padded, window, axis=1)[:, :: max(window // 4, 1)]
    hann = np.hanning(window)
    stretches = (stretches - stretches.mean(axis=2, keepdims=True)) * hann
    power = np.abs(np.fft.rfft(stretches, n=2 * window, axis=2)) ** 2
    acf = np.fft.irfft(power.sum(axis=0), axis=1)[:, :window]
    peaks = acf[:, :1]
    acf = np.divide(acf, peaks, out=np.zeros_like(acf), where=peaks > 0).mean(axis=0)
    taper = np.correlate(hann, hann, "full")[window - 1 :]
    acf /= np.maximum(taper / taper[0], 0.1)
    return acf / acf[0] if acf[0] > 0 else acf


def _refine_peak(acf: np.ndarray, lag: int) -> float:
    """Sub-frame lag of a peak by parabolic interpolation."""
    if 1 <= lag < len(acf) - 1:
        a, b, c = acf[lag - 1], acf[lag], acf[lag + 1]
        denom = a - 2 * b + c
        if denom < 0:
            return lag + 0.5 * (a - c) / denom
    return float(lag)


def tempo_prior(bpm: np.ndarray | float, centre: float, octaves: float) -> np.ndarray:
    return np.exp(-0.5 * (np.log2(np.asarray(bpm) / centre) / octaves) ** 2)


def tempo_hypotheses(bands: np.ndarray, centre: float, octaves: float) -> list[tuple[float, float]]:
    """(bpm, score) of autocorrelation peaks in range, best first; score = peak × prior."""
    acf = global_autocorrelation(bands)
    lags = np.arange(len(acf))
    lo = int(np.floor(60.0 * FRAME_RATE / MAX_BPM))
    hi = min(int(np.ceil(60.0 * FRAME_RATE / MIN_BPM)), len(acf) - 2)
    peaks = [k for k in lags[max(lo, 1) : hi + 1] if acf[k] > acf[k - 1] and acf[k] >= acf[k + 1] and acf[k] > 0]
    hypotheses = []
    for k in peaks:
        bpm = 60.0 * FRAME_RATE / _refine_peak(acf, k)
        if MIN_BPM <= bpm <= MAX_BPM:
            hypotheses.append((bpm, float(acf[k] * tempo_prior(bpm, centre, octaves))))
    return sorted(hypotheses, key=lambda h: -h[1])


def track_beats(envelope: np.ndarray, bpm: float, tightness: float = TIGHTNESS) -> np.ndarray:
    """Beat frames by dynamic programming (Ellis 2007): each beat's score is its smoothed onset
    strength plus the best predecessor's score, penalised by how far the interval strays (in log
    time) from the tempo's period; a beat starts a new chain where no predecessor adds to it.
    The last beat is the best-scoring frame of the final period; beats at either end that are
    much weaker than the median beat fall in silence and are dropped."""
    period = max(int(round(FRAME_RATE * 60.0 / bpm)), 1)
    onsets = envelope.astype(np.float64) / (envelope.std(ddof=1) + 1e-12)
    window = np.exp(-0.5 * (np.arange(-period, period + 1) * 32.0 / period) ** 2)
    local = np.convolve(onsets, window, mode="same")
    offsets = np.arange(int(round(period / 2)), 2 * period + 1)
    penalty = tightness * (np.log(offsets) - np.log(period)) ** 2
    n = len(local)
    cumulative = local.copy()
    backlink = np.full(n, -1)
    for i in range(int(offsets[0]), n):
        candidates = i - offsets
        valid = candidates >= 0
        scores = cumulative[candidates[valid]] - penalty[valid]
        k = int(np.argmax(scores))
        if scores[k] > 0:
            cumulative[i] += scores[k]
            backlink[i] = candidates[valid][k]
    tail = max(n - period, 0)
    beats = [tail + int(np.argmax(cumulative[tail:]))]
    while backlink[beats[-1]] >= 0:
        beats.append(int(backlink[beats[-1]]))
    beats = np.array(beats[::-1])
    strong = np.flatnonzero(local[beats] >= EDGE_STRENGTH * np.median(local[beats]))
    if len(strong) == 0:
        return np.zeros(0, dtype=int)
    return beats[strong[0] : strong[-1] + 1]


def _fit_bpm(beats: np.ndarray) -> float | None:
    """Tempo from the beat times: a least-squares line through them (robust to jitter)."""
    if len(beats) < 3:
        return None
    index = np.arange(len(beats))
    slope = np.polyfit(index, beats, 1)[0]
    intervals = np.diff(beats)
    if np.any(np.abs(intervals - slope) > 0.25 * slope):
        slope = float(np.median(intervals))
    return 60.0 / slope if slope > 0 else None


def _smooth(beats: np.ndarray, half_window: int = 4) -> np.ndarray:
    """Replace each beat by a line fitted through its neighbours where the tempo is locally
    steady: removes the one-frame (23 ms) quantisation of the tracker, keeps real rubato."""
    smoothed = beats.copy()
    for i in range(len(beats)):
        lo, hi = max(0, i - half_window), min(len(beats), i + half_window + 1)
        if hi - lo < 4:
            continue
        index = np.arange(lo, hi)
        slope, intercept = np.polyfit(index, beats[lo:hi], 1)
        residual = beats[lo:hi] - (slope * index + intercept)
        if np.abs(residual).max() < 0.1 * slope:
            smoothed[i] = slope * i + intercept
    return smoothed


def _beat_strengths(envelope: np.ndarray, beats: np.ndarray, lag: int = 0) -> np.ndarray:
    """Strongest onset within two frames of each beat, `lag` frames later: the mel-flux envelopes
    hold an attack one frame (MEL_LAG) after the note-onset envelope the beats are placed on."""
    frames = MusicFeatures.time_frames(beats) + lag
    frames = np.clip(frames, 0, len(envelope) - 1)
    lo = np.clip(frames - 2, 0, None)
    return np.array([envelope[a : b + 3].max() for a, b in zip(lo, frames)])


def _standardise(x: np.ndarray) -> np.ndarray:
    spread = x.std()
    return (x - x.mean()) / spread if spread > 1e-9 else np.zeros_like(x)


def meter(features: MusicFeatures, grid: BeatGrid) -> tuple[np.ndarray, int]:
    """Downbeats and beats per bar: the meter and phase whose downbeats carry the strongest
    low-frequency onsets (kick drum, bass notes: what marks the start of a bar); common time,
    and a bar starting on the first beat, unless they say otherwise. Where nothing in the low
    register marks the bar (a chorale), this is a guess."""
    beats = grid.beats
    if len(beats) < 6:
        return beats[:1], 4
    evidence = _standardise(_beat_strengths(features.low_onset_envelope, beats, MEL_LAG))
    best = (-np.inf, 4, 0)
    for beats_per_bar in METERS:
        for phase in range(beats_per_bar):
            on = np.zeros(len(beats), dtype=bool)
            on[phase::beats_per_bar] = True
            score = evidence[on].mean() - evidence[~on].mean()
            score -= TRIPLE_PENALTY * (beats_per_bar != 4)
            score += FIRST_BEAT_BONUS * (phase == 0)
            if score > best[0]:
                best = (score, beats_per_bar, phase)
    _, beats_per_bar, phase = best
    return beats[phase::beats_per_bar], beats_per_bar


def _alternation(envelope: np.ndarray, beats: np.ndarray) -> float:
    """Salience of the weaker half of alternate beats over the stronger half (1: all alike), in a
    mel-flux envelope."""
    strengths = _beat_strengths(envelope, beats, MEL_LAG)
    if len(strengths) < 4:
        return 1.0
    halves = strengths[0::2].mean(), strengths[1::2].mean()
    return float(min(halves) / max(max(halves), 1e-12))


def _beats_at(envelope: np.ndarray, bpm: float) -> tuple[np.ndarray, float]:
    """Beat times at a tempo and the tempo they actually keep."""
    beats = np.maximum(_smooth(MusicFeatures.frame_times(track_beats(envelope, bpm))), 0.0)
    return beats, _fit_bpm(beats) or bpm


def beat_grid(features: MusicFeatures, start_bpm: float | None = None) -> BeatGrid:
    """Tempo and beats of the signal (memoised per hint). Without a hint, a tempo whose every
    other beat carries the accent (a kick or snare against soft hi-hats) is read at the accented
    beats, i.e. halved."""

    def compute() -> BeatGrid:
        envelope = features.note_onset_envelope
        empty = BeatGrid(None, 0.0, np.zeros(0), ())
        if features.silent or features.duration_s < MIN_DURATION_S or envelope.max() <= 0:
            return empty
        centre, octaves = (start_bpm, HINT_OCTAVES) if start_bpm else (PRIOR_BPM, PRIOR_OCTAVES)
        hypotheses = tempo_hypotheses(features.band_onsets, centre, octaves)
        if not hypotheses:
            return empty
        beats, bpm = _beats_at(envelope, hypotheses[0][0])
        while (
            not start_bpm
            and bpm / 2 >= SLOWEST_HALVED_BPM
            and _alternation(features.accent_envelope, beats) < ACCENT_RATIO
        ):
            beats, bpm = _beats_at(envelope, bpm / 2)
        confidence = _confidence(envelope, beats, hypotheses)
        candidates = tuple((round(float(b), 1), round(float(s), 3)) for b, s in hypotheses[:5])
        return BeatGrid(round(float(bpm), 1), confidence, beats, candidates)

    return features.memo(f"beat_grid:{start_bpm}", compute)


def _confidence(envelope: np.ndarray, beats: np.ndarray, hypotheses: list[tuple[float, float]]) -> float:
    """0..1 from periodicity (autocorrelation peak), beat regularity and on-beat salience."""
    if len(beats) < 4:
        return 0.0
    periodicity = float(np.clip(hypotheses[0][1] / 0.5, 0, 1))
    intervals = np.diff(beats)
    regularity = float(np.clip(1.0 - 4.0 * intervals.std() / intervals.mean(), 0, 1))
    salience = float(np.clip((_beat_strengths(envelope, beats).mean() / (envelope.mean() + 1e-9) - 1.0) / 2.0, 0, 1))
    return round(periodicity ** (1 / 3) * regularity ** 0.5 * salience ** 0.5, 3)


def detect_beats(
    samples: np.ndarray,
    sr: int,
    *,
    start_bpm: float | None = None,
    max_beats: int = 2000,
    features: MusicFeatures | None = None,
    progress: ProgressFn = no_progress,
    cancel: CancelToken = NEVER,
) -> BeatsResult:
    """Tempo (BPM), beat and downbeat times, time-signature guess and confidence."""
    features = features or MusicFeatures(samples, sr, cancel)
    stages = Stages(3, progress, cancel)
    _ = features.band_onsets
    stages("onset strength")
    grid = beat_grid(features, start_bpm)
    stages("beats")
    downbeat_times, beats_per_bar = meter(features, grid)
    stages("downbeats")
    beats = [round(float(b), 3) for b in grid.beats]
    downbeats = [round(float(b), 3) for b in downbeat_times]
    signature = f"{beats_per_bar}/4" if grid.bpm else None
    if grid.bpm is None:
        summary = "No steady beat found (too short, silent or arrhythmic)."
    else:
        summary = (
            f"{grid.bpm:g} BPM in {signature}, {len(beats)} beats, confidence {grid.confidence:.2f}."
        )
    return BeatsResult(
        bpm=grid.bpm,
        confidence=grid.confidence,
        time_signature=signature,
        beats=beats[:max_beats],
        downbeats=downbeats[:max_beats],
        beat_count=len(beats),
        beats_truncated=len(beats) > max_beats,
        tempo_candidates=[{"bpm": b, "score": s} for b, s in grid.tempo_candidates],
        summary=summary,
    )


def _sliding(x: np.ndarray, before: int, after: int) -> np.ndarray:
    """Rows: x[n-before : n+after] for every n, NaN beyond the ends."""
    padded = np.pad(x.astype(np.float64), (before, after), constant_values=np.nan)
    return np.lib.stride_tricks.sliding_window_view(padded, before + after)[: len(x)]


def peak_pick(x: np.ndarray, pre_max: int, post_max: int, pre_avg: int, post_avg: int, delta: float, wait: int) -> np.ndarray:
    """Indices n where x[n] > 0 is the maximum of x[n-pre_max : n+post_max], is at least the
    mean of x[n-pre_avg : n+post_avg] plus `delta`, and comes more than `wait` after the
    previous pick (librosa's `util.peak_pick`, windows truncated at the ends)."""
    moving_max = np.nanmax(_sliding(x, pre_max, post_max), axis=1)
    moving_avg = np.nanmean(_sliding(x, pre_avg, post_avg), axis=1)
    candidates = np.flatnonzero((x > 0) & (x == moving_max) & (x >= moving_avg + delta))
    picked: list[int] = []
    for n in candidates:
        if not picked or n > picked[-1] + wait:
            picked.append(int(n))
    return np.array(picked, dtype=int)


def onset_frames(features: MusicFeatures) -> np.ndarray:
    """Frames of the peaks of the onset envelope, with librosa's `onset_detect` settings
    (30 ms local maximum, 100 ms local mean + 0.07, 30 ms apart), memoised."""

    def compute() -> np.ndarray:
        envelope = features.onset_envelope.astype(np.float64)
        if features.silent or len(envelope) < 4 or envelope.max() <= envelope.min():
            return np.zeros(0, dtype=int)
        normalised = (envelope - envelope.min()) / (envelope.max() - envelope.min())
        frames_30ms, frames_100ms = int(0.03 * FRAME_RATE), int(0.10 * FRAME_RATE)
        return peak_pick(normalised, frames_30ms, 1, frames_100ms, frames_100ms + 1, 0.07, frames_30ms)

    return features.memo("onset_frames", compute)


def backtrack_to_minima(frames: np.ndarray, envelope: np.ndarray) -> np.ndarray:
    """Move each onset back to the last local minimum of the envelope before it."""
    interior = np.flatnonzero((envelope[1:-1] <= envelope[:-2]) & (envelope[1:-1] < envelope[2:])) + 1
    minima = np.concatenate([[0], interior])
    return minima[np.maximum(np.searchsorted(minima, frames, side="right") - 1, 0)]


def detect_onsets(
    samples: np.ndarray,
    sr: int,
    *,
    max_onsets: int = 2000,
    backtrack: bool = False,
    features: MusicFeatures | None = None,
    progress: ProgressFn = no_progress,
    cancel: CancelToken = NEVER,
) -> OnsetsResult:
    """Note/hit onset times (seconds) with their relative strengths (0..1); `backtrack` moves
    each onset back to the energy minimum before it (a better cut point)."""
    features = features or MusicFeatures(samples, sr, cancel)
    envelope = features.onset_envelope
    frames = onset_frames(features)
    progress(1, 1, "onsets")
    strengths = envelope[frames] / envelope.max() if len(frames) else np.zeros(0)
    if backtrack and len(frames):
        frames = backtrack_to_minima(frames, envelope)
    times = MusicFeatures.frame_times(frames)
    rate = len(times) / features.duration_s if features.duration_s > 0 else 0.0
    return OnsetsResult(
        onsets=[round(float(t), 3) for t in times[:max_onsets]],
        strengths=[round(float(s), 3) for s in strengths[:max_onsets]],
        onset_count=len(times),
        truncated=len(times) > max_onsets,
        onsets_per_second=round(rate, 2),
        summary=f"{len(times)} onsets ({rate:.1f} per second).",
    )


def click_track(
    beats: np.ndarray | list[float],
    downbeats: np.ndarray | list[float],
    sr: int,
    frames: int,
    channels: int = 1,
    level_db: float = -6.0,
) -> np.ndarray:
    """Short decaying sine blips on each beat (higher on downbeats), shape (channels, frames),
    to mix over the original and hear whether the grid is right."""
    out = np.zeros(frames, dtype=np.float32)
    length = int(0.03 * sr)
    t = np.arange(length) / sr
    envelope = np.exp(-t / 0.008).astype(np.float32) * np.float32(10 ** (level_db / 20))
    down = {int(round(d * sr)) for d in downbeats}
    for beat in beats:
        start = int(round(beat * sr))
        if not 0 <= start < frames:
            continue
        freq = DOWNBEAT_CLICK_HZ if start in down else CLICK_HZ
        blip = envelope * np.sin(2 * np.pi * freq * t).astype(np.float32)
        stop = min(frames, start + length)
        out[start:stop] += blip[: stop - start]
    return np.tile(out, (channels, 1))
