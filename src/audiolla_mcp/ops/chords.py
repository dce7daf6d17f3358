"""Chord recognition: beat-synchronous bass/treble chroma, chord templates, HMM decoding.

Each beat (or half beat) is scored against 108 chords (12 roots × maj, min, 7, maj7, min7, dim,
aug, sus2, sus4) and "no chord": cosine similarity of the treble chroma with the chord's pitch
classes, plus how much of the bass sits on the root (or, for inversions, another chord tone),
plus a small prior per quality. Viterbi decoding then finds the most likely sequence under a
transition model that favours staying on a chord and, softly, chords of the detected key.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .chroma import PitchSegments, pitch_segments
from ..progress import NEVER, CancelToken, ProgressFn, no_progress
from .mir_features import MusicFeatures, Stages

SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
FLAT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")

# quality: (intervals above the root, readable suffix, prior bonus)
QUALITIES: dict[str, tuple[tuple[int, ...], str, float]] = {
    "maj": ((0, 4, 7), "", 0.0),
    "min": ((0, 3, 7), "m", 0.0),
    "7": ((0, 4, 7, 10), "7", -0.04),
    "maj7": ((0, 4, 7, 11), "maj7", -0.06),
    "min7": ((0, 3, 7, 10), "m7", -0.06),
    "dim": ((0, 3, 6), "dim", -0.08),
    "aug": ((0, 4, 8), "aug", -0.12),
    "sus2": ((0, 2, 7), "sus2", -0.10),
    "sus4": ((0, 5, 7), "sus4", -0.10),
}
NO_CHORD = "N"
BASS_WEIGHT = 0.35  # how much the bass note counts against the treble's cosine similarity
BASS_TONE_CREDIT = (1.0, 0.5, 0.5, 0.3)  # root, then the other chord tones in order
SHARPNESS = 8.0  # converts scores into log-likelihoods
CHANGE_PENALTY = 0.25  # log-odds against changing chord on a beat
OFFBEAT_CHANGE_PENALTY = 5.0  # … and between beats, where passing tones live
OFFBEAT_WEIGHT = 0.3  # off-beat segments count less (passing tones)
KEY_BONUS = 0.08  # score bonus for chords built on the key's scale
NO_CHORD_SCORE = 0.55
SILENT_ENERGY = 0.05  # segments quieter than this fraction of the median are "N"
SEGMENTS_PER_BEAT = 2
FALLBACK_SEGMENT_S = 0.5


@dataclass(frozen=True)
class Chord:
    root: int | None  # pitch class, None for "N"
    quality: str

    def label(self) -> str:
        """mir_eval / Harte syntax: "C:maj7", "N"."""
        return NO_CHORD if self.root is None else f"{SHARP_NAMES[self.root]}:{self.quality}"

    def name(self, flats: bool = False) -> str:
        """Readable: "Cmaj7", "F#m", "Bbdim", "N"."""
        if self.root is None:
            return NO_CHORD
        names = FLAT_NAMES if flats else SHARP_NAMES
        return names[self.root] + QUALITIES[self.quality][1]


@dataclass(frozen=True)
class ChordSequence:
    """Decoded chords per segment, before merging (internal, reused by key detection)."""

    starts: np.ndarray
    ends: np.ndarray
    chords: tuple[Chord, ...]
    confidence: np.ndarray  # per segment, 0..1


@dataclass(frozen=True)
class ChordsResult:
    segments: list[dict]
    segment_count: int
    truncated: bool
    key: str | None
    unique_chords: list[str]
    summary: str


@lru_cache(maxsize=1)
def vocabulary() -> tuple[Chord, ...]:
    return tuple(Chord(root, quality) for quality in QUALITIES for root in range(12)) + (Chord(None, NO_CHORD),)


@lru_cache(maxsize=1)
def _templates() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit-norm treble templates, bass credit per pitch class and quality priors (chords × 12)."""
    chords = vocabulary()[:-1]
    treble = np.zeros((len(chords), 12))
    bass = np.zeros((len(chords), 12))
    prior = np.zeros(len(chords))
    for i, chord in enumerate(chords):
        intervals, _, bonus = QUALITIES[chord.quality]
        for order, interval in enumerate(intervals):
            pc = (chord.root + interval) % 12
            treble[i, pc] = 1.0
            bass[i, pc] = BASS_TONE_CREDIT[order]
        prior[i] = bonus
    return treble / np.linalg.norm(treble, axis=1, keepdims=True), bass, prior


@lru_cache(maxsize=1)
def _families() -> np.ndarray:
    """Chords that read the same as major/minor triads (C, C7, Cmaj7, Csus4 … / Cm, Cm7, Cdim)
    share a family: a chord's confidence is its family's posterior mass."""
    minor = {"min", "min7", "dim"}
    return np.array([
        -1 if c.root is None else 2 * c.root + (c.quality in minor) for c in vocabulary()
    ])


def scale_pitch_classes(tonic: int, mode: str) -> set[int]:
    """Major scale, or the union of natural and harmonic minor."""
    steps = (0, 2, 4, 5, 7, 9, 11) if mode == "major" else (0, 2, 3, 5, 7, 8, 10, 11)
    return {(tonic + s) % 12 for s in steps}


def chord_scores(pitch: PitchSegments, key: tuple[int, str] | None = None) -> np.ndarray:
    """(chords + N, segments) scores: treble cosine + bass credit + quality prior (+ key)."""
    treble_t, bass_t, prior = _templates()
    treble = pitch.treble / (np.linalg.norm(pitch.treble, axis=0, keepdims=True) + 1e-12)
    bass = pitch.bass / (pitch.bass.sum(axis=0, keepdims=True) + 1e-12)
    scores = treble_t @ treble + BASS_WEIGHT * (bass_t @ bass) + prior[:, None]
    if key is not None:
        scale = scale_pitch_classes(*key)
        in_key = np.array([
            all((c.root + i) % 12 in scale for i in QUALITIES[c.quality][0]) for c in vocabulary()[:-1]
        ])
        scores += KEY_BONUS * in_key[:, None]
    reference = np.median(pitch.energy[pitch.energy > 0]) if np.any(pitch.energy > 0) else 1.0
    silent = pitch.energy < SILENT_ENERGY * reference
    no_chord = np.where(silent, 10.0, NO_CHORD_SCORE)
    return np.vstack([scores, no_chord[None, :]])


def viterbi(log_likelihood: np.ndarray, change_penalty: np.ndarray) -> np.ndarray:
    """Best state path when changing state before frame t costs `change_penalty[t]` and every
    change is equally likely otherwise (O(states × frames))."""
    n_states, n_frames = log_likelihood.shape
    score = log_likelihood[:, 0].copy()
    back = np.zeros((n_states, n_frames), dtype=np.int32)
    for t in range(1, n_frames):
        best = int(np.argmax(score))
        switch = score[best] - change_penalty[t]
        stay = score >= switch
        back[:, t] = np.where(stay, np.arange(n_states), best)
        score = np.where(stay, score, switch) + log_likelihood[:, t]
    path = np.zeros(n_frames, dtype=np.int32)
    path[-1] = int(np.argmax(score))
    for t in range(n_frames - 1, 0, -1):
        path[t - 1] = back[path[t], t]
    return path


@dataclass(frozen=True)
class Segmentation:
    """Where chords may change: segment bounds (seconds) and whether each starts on a beat."""

    starts: np.ndarray
    ends: np.ndarray
    on_beat: np.ndarray


def chord_segments(features: MusicFeatures) -> Segmentation:
    """Half-beat segments where a beat grid exists (chords change mostly on beats, passing
    tones sit between them), else fixed windows treated as beats."""
    from .beats import beat_grid

    def compute() -> Segmentation:
        grid = beat_grid(features)
        duration = features.duration_s
        if len(grid.beats) >= 4:
            period = float(np.median(np.diff(grid.beats)))
            lead = np.arange(grid.beats[0] - period, -period, -period)[::-1]
            tail = np.arange(grid.beats[-1] + period, duration + period, period)
            marks = np.concatenate([lead, grid.beats, tail])
            steps = np.arange(SEGMENTS_PER_BEAT) / SEGMENTS_PER_BEAT
            bounds = (marks[:-1, None] + np.diff(marks)[:, None] * steps[None, :]).ravel()
            on_beat = np.tile(steps == 0, len(marks) - 1)
        else:
            bounds = np.arange(0.0, duration, FALLBACK_SEGMENT_S)
            on_beat = np.ones(len(bounds), dtype=bool)
        keep = (bounds > -1e-9) & (bounds < duration - 0.02)
        bounds, on_beat = np.clip(bounds[keep], 0.0, None), on_beat[keep]
        if len(bounds) == 0 or bounds[0] > 0:
            bounds, on_beat = np.concatenate([[0.0], bounds]), np.concatenate([[True], on_beat])
        return Segmentation(bounds, np.append(bounds[1:], duration), on_beat)

    return features.memo("chord_segments", compute)


def segment_pitch(features: MusicFeatures) -> PitchSegments:
    """Pitch content of the chord segments (shared with key detection)."""
    segmentation = chord_segments(features)
    return features.memo("chord_pitch", lambda: pitch_segments(features, segmentation.starts, segmentation.ends))


def decode_chords(features: MusicFeatures, key: tuple[int, str] | None = None) -> ChordSequence:
    """Chord per segment (memoised per key)."""

    def compute() -> ChordSequence:
        segmentation = chord_segments(features)
        starts, ends = segmentation.starts, segmentation.ends
        if features.silent:
            return ChordSequence(starts, ends, tuple(Chord(None, NO_CHORD) for _ in starts), np.zeros(len(starts)))
        pitch = segment_pitch(features)
        scores = chord_scores(pitch, key)
        weight = np.where(segmentation.on_beat, 1.0, OFFBEAT_WEIGHT)
        log_likelihood = SHARPNESS * scores * weight[None, :]
        path = viterbi(log_likelihood, np.where(segmentation.on_beat, CHANGE_PENALTY, OFFBEAT_CHANGE_PENALTY))
        posterior = np.exp(log_likelihood - log_likelihood.max(axis=0, keepdims=True))
        posterior /= posterior.sum(axis=0, keepdims=True)
        chords = vocabulary()
        family = _families()
        confidence = np.array([posterior[family == family[s], t].sum() for t, s in enumerate(path)])
        return ChordSequence(starts, ends, tuple(chords[i] for i in path), confidence)

    return features.memo(f"chords:{key}", compute)


def merge(sequence: ChordSequence) -> list[tuple[float, float, Chord, float]]:
    """Consecutive equal chords joined: (start, end, chord, mean confidence)."""
    merged: list[tuple[float, float, Chord, float]] = []
    weights: list[float] = []
    for start, end, chord, conf in zip(sequence.starts, sequence.ends, sequence.chords, sequence.confidence):
        if merged and merged[-1][2] == chord:
            s, _, c, mean = merged[-1]
            weights[-1] += end - start
            merged[-1] = (s, float(end), c, mean + (conf - mean) * (end - start) / weights[-1])
        else:
            merged.append((float(start), float(end), chord, float(conf)))
            weights.append(float(end - start))
    return merged


def detect_chords(
    samples: np.ndarray,
    sr: int,
    *,
    max_segments: int = 500,
    features: MusicFeatures | None = None,
    progress: ProgressFn = no_progress,
    cancel: CancelToken = NEVER,
) -> ChordsResult:
    """Time-stamped chords with the detected key (which also steers the decoding)."""
    from .chroma import log_frequency_spectrum
    from .key import estimate_key, uses_flats

    features = features or MusicFeatures(samples, sr, cancel)
    stages = Stages(4, progress, cancel)
    log_frequency_spectrum(features)
    stages("spectrum")
    segment_pitch(features)
    stages("pitch content")
    key = estimate_key(features)
    stages("key")
    sequence = decode_chords(features, (key.tonic, key.mode) if key.confident else None)
    stages("chords")
    flats = uses_flats(key.tonic, key.mode)
    merged = merge(sequence)
    segments = [
        {
            "start": round(s, 3),
            "end": round(e, 3),
            "chord": chord.label(),
            "name": chord.name(flats),
            "confidence": round(float(conf), 3),
        }
        for s, e, chord, conf in merged
    ]
    names = sorted({seg["name"] for seg in segments if seg["name"] != NO_CHORD})
    key_name = key.name if key.confident else None
    played = [seg["name"] for seg in segments if seg["name"] != NO_CHORD]
    if played:
        preview = " ".join(played[:8]) + (" …" if len(played) > 8 else "")
        summary = f"{len(segments)} chord segments{' in ' + key_name if key_name else ''}: {preview}"
    else:
        summary = "No chords found (silent or unpitched audio)."
    return ChordsResult(
        segments=segments[:max_segments],
        segment_count=len(segments),
        truncated=len(segments) > max_segments,
        key=key_name,
        unique_chords=names,
        summary=summary,
    )
