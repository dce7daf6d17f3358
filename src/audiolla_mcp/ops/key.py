"""Key detection: tonal profiles on bass/treble chroma, confirmed by cadences.

Mean treble and bass chroma are correlated with the 24 rotated key profiles (fitted on the
synthetic cadential set in bench/accuracy.py, never on the evaluation chorales). Profiles
alone confuse a key with its dominant and a minor key with its relative major, so the decoded
chords add evidence: dominant-to-tonic motions (V–I, V7–i) and the final chord point at the
tonic, and the leading tone separates minor from relative major.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..progress import NEVER, CancelToken, ProgressFn, no_progress
from .chroma import log_frequency_spectrum
from .mir_features import MusicFeatures, Stages

MODES = ("major", "minor")
MAJOR_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MINOR_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")
FLAT_KEYS = {("major", 5), ("major", 10), ("major", 3), ("major", 8), ("major", 1),
             ("minor", 2), ("minor", 7), ("minor", 0), ("minor", 5), ("minor", 10), ("minor", 3)}

# Pitch-class profiles, tonic first: the mean tonic-aligned NNLS chroma of 48 synthetic cadential
# pieces (`bench/accuracy.py --fit-key 48`) averaged with Temperley's (treble) and a root/fifth/
# fourth-weighted bass profile, so that no one generator's habits decide a key.
TREBLE_PROFILES = {
    "major": np.array([1.000, 0.049, 0.596, 0.059, 0.820, 0.506, 0.083, 0.865, 0.076, 0.492, 0.046, 0.490]),
    "minor": np.array([0.977, 0.068, 0.494, 0.790, 0.039, 0.518, 0.088, 0.967, 0.614, 0.085, 0.197, 0.367]),
}
BASS_PROFILES = {
    "major": np.array([1.000, 0.029, 0.285, 0.039, 0.294, 0.515, 0.040, 0.632, 0.042, 0.321, 0.033, 0.120]),
    "minor": np.array([1.000, 0.043, 0.213, 0.289, 0.051, 0.467, 0.034, 0.595, 0.438, 0.036, 0.118, 0.156]),
}
BASS_WEIGHT = 0.5
CADENCE_WEIGHT = 0.5
CADENCE_FULL_SHARE = 0.3
"""Share of the piece's chord time on cadential tonics at which cadences carry their full weight:
one V→I in a long piece (perhaps a misread chord) must not outvote the whole pitch profile."""
FINAL_CHORD_WEIGHT = 0.25
CONFIDENT = 0.3  # below this the key is reported but not used to steer chord decoding


@dataclass(frozen=True)
class KeyEstimate:
    tonic: int
    mode: str
    scores: np.ndarray  # (24,) major keys 0..11 then minor keys 0..11
    confidence: float

    @property
    def name(self) -> str:
        return key_name(self.tonic, self.mode)

    @property
    def confident(self) -> bool:
        return self.confidence >= CONFIDENT


@dataclass(frozen=True)
class KeyResult:
    key: str | None
    tonic: str | None
    mode: str | None
    confidence: float
    camelot: str | None
    open_key: str | None
    alternatives: list[dict]
    summary: str


def key_name(tonic: int, mode: str) -> str:
    names = MAJOR_NAMES if mode == "major" else MINOR_NAMES
    return f"{names[tonic % 12]} {mode}"


def uses_flats(tonic: int, mode: str) -> bool:
    return (mode, tonic % 12) in FLAT_KEYS


def camelot(tonic: int, mode: str) -> str:
    """Camelot wheel code: C major = 8B, A minor = 8A; neighbours are a fifth apart."""
    major_tonic = tonic if mode == "major" else (tonic + 3) % 12
    number = (7 * major_tonic + 8) % 12 or 12
    return f"{number}{'B' if mode == 'major' else 'A'}"


def open_key(tonic: int, mode: str) -> str:
    """Open Key notation (Traktor): C major = 1d, A minor = 1m."""
    major_tonic = tonic if mode == "major" else (tonic + 3) % 12
    number = (7 * major_tonic) % 12 + 1
    return f"{number}{'d' if mode == 'major' else 'm'}"


def _correlations(profile: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    """Pearson correlation of `chroma` with the profile rotated to each of the 12 tonics."""
    rotated = np.stack([np.roll(profile, t) for t in range(12)])
    rotated = rotated - rotated.mean(axis=1, keepdims=True)
    centred = chroma - chroma.mean()
    denom = np.linalg.norm(rotated, axis=1) * np.linalg.norm(centred)
    return rotated @ centred / denom if denom.all() else np.zeros(12)


def mean_chroma(chroma: np.ndarray, durations: np.ndarray) -> np.ndarray:
    """Duration-weighted mean of per-segment chroma normalised to unit sum (so loud passages
    do not outvote quiet ones)."""
    totals = chroma.sum(axis=0)
    voiced = totals > 1e-9
    if not voiced.any():
        return np.zeros(12)
    normalised = chroma[:, voiced] / totals[voiced]
    return normalised @ durations[voiced] / durations[voiced].sum()


def profile_scores(treble: np.ndarray, bass: np.ndarray) -> np.ndarray:
    """(24,) profile correlation of the treble chroma plus weighted bass correlation."""
    return np.concatenate([
        _correlations(TREBLE_PROFILES[mode], treble) + BASS_WEIGHT * _correlations(BASS_PROFILES[mode], bass)
        for mode in MODES
    ])


def cadence_scores(merged: list) -> np.ndarray:
    """(24,) evidence from dominant→tonic motions and the final chord, as fractions."""
    scores = np.zeros(24)
    chords = [(s, e, c) for s, e, c, _ in merged if c.root is not None]
    if len(chords) < 2:
        return scores
    total = sum(e - s for s, e, _ in chords)
    for (_, _, dominant), (s, e, tonic) in zip(chords, chords[1:]):
        if dominant.quality in ("maj", "7") and (dominant.root - tonic.root) % 12 == 7 and tonic.quality in ("maj", "min", "maj7", "min7"):
            mode = 0 if tonic.quality in ("maj", "maj7") else 1
            scores[12 * mode + tonic.root] += (e - s) / total
    cadences = scores / max(scores.sum(), CADENCE_FULL_SHARE)
    final = np.zeros(24)
    last = chords[-1][2]
    final[last.root] = final[12 + last.root] = 1.0
    return CADENCE_WEIGHT * cadences + FINAL_CHORD_WEIGHT * final


def estimate_key(features: MusicFeatures) -> KeyEstimate:
    """The key of the whole signal (memoised)."""

    def compute() -> KeyEstimate:
        from .chords import decode_chords, merge, segment_pitch

        if features.silent:
            return KeyEstimate(0, "major", np.zeros(24), 0.0)
        pitch = segment_pitch(features)
        durations = pitch.ends - pitch.starts
        treble = mean_chroma(pitch.treble, durations)
        scores = profile_scores(treble, mean_chroma(pitch.bass, durations))
        scores = scores + cadence_scores(merge(decode_chords(features)))
        best = int(np.argmax(scores))
        confidence = _confidence(scores, pitch.energy) * tonal_clarity(treble)
        return KeyEstimate(best % 12, MODES[best // 12], scores, round(confidence, 3))

    return features.memo("key", compute)


TONAL_FLATNESS = (0.7, 0.95)
"""Flatness of the mean chroma over which key confidence fades to zero: tonal music measures
0.02–0.4 (a Bach chorale, using all twelve pitch classes, 0.39), white noise 0.97."""


def tonal_clarity(chroma: np.ndarray) -> float:
    """1 for chroma with a clear pitch-class profile, 0 for flat (noise-like) chroma: the spectral
    flatness (geometric over arithmetic mean) of the mean chroma, faded out over TONAL_FLATNESS."""
    if chroma.sum() <= 0:
        return 0.0
    flatness = float(np.exp(np.mean(np.log(chroma + 1e-12))) / chroma.mean())
    lo, hi = TONAL_FLATNESS
    return float(np.clip((hi - flatness) / (hi - lo), 0.0, 1.0))


def _confidence(scores: np.ndarray, energy: np.ndarray) -> float:
    """Margin of the winner over the runner-up, scaled to 0..1, zero without pitched energy."""
    if not np.any(energy > 0):
        return 0.0
    top, second = np.sort(scores)[::-1][:2]
    margin = float(np.clip((top - second) / 0.15, 0, 1))
    fit = float(np.clip(top / 1.0, 0, 1))
    return 0.5 * margin + 0.5 * fit * margin ** 0.5


def detect_key(
    samples: np.ndarray,
    sr: int,
    *,
    max_alternatives: int = 4,
    features: MusicFeatures | None = None,
    progress: ProgressFn = no_progress,
    cancel: CancelToken = NEVER,
) -> KeyResult:
    """Key ("A minor"), Camelot code, confidence and ranked alternatives."""
    from .chords import segment_pitch

    features = features or MusicFeatures(samples, sr, cancel)
    stages = Stages(3, progress, cancel)
    log_frequency_spectrum(features)
    stages("spectrum")
    segment_pitch(features)
    stages("pitch content")
    estimate = estimate_key(features)
    stages("key")
    if estimate.confidence == 0.0:
        return KeyResult(None, None, None, 0.0, None, None, [], "No key: the audio has no clear pitched content.")
    order = np.argsort(estimate.scores)[::-1]
    alternatives = [
        {
            "key": key_name(i % 12, MODES[i // 12]),
            "camelot": camelot(i % 12, MODES[i // 12]),
            "score": round(float(estimate.scores[i]), 3),
        }
        for i in order[1 : 1 + max_alternatives]
    ]
    names = MAJOR_NAMES if estimate.mode == "major" else MINOR_NAMES
    code = camelot(estimate.tonic, estimate.mode)
    hedge = "" if estimate.confident else " (low confidence)"
    return KeyResult(
        key=estimate.name,
        tonic=names[estimate.tonic],
        mode=estimate.mode,
        confidence=estimate.confidence,
        camelot=code,
        open_key=open_key(estimate.tonic, estimate.mode),
        alternatives=alternatives,
        summary=f"{estimate.name} ({code}), confidence {estimate.confidence:.2f}{hedge}.",
    )
