"""Tempo and pitch: time stretch, pitch shift, per-note pitch correction, bpm and key matching.

Stretching and shifting use Rubber Band through `pedalboard.time_stretch`, which also takes a
per-sample pitch curve: pitch correction tracks f0 (YIN), cuts it into notes, and hands the
stretcher one constant shift per note, so vibrato and slides inside a note survive. librosa
(for YIN) is imported only by the pitch tracker, so stretching never waits for it.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pedalboard

from ..errors import ToolError
from ..progress import NEVER, CancelToken, ProgressFn, chunks, no_progress
from .effect_specs import Scale
from .resample import resample

A4_HZ = 440.0
MIN_TEMPO_FACTOR, MAX_TEMPO_FACTOR = 0.25, 4.0
MAX_SHIFT_SEMITONES = 24.0

PITCH_CLASSES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
SCALES: dict[str, tuple[int, ...]] = {
    "chromatic": tuple(range(12)),
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "melodic_minor": (0, 2, 3, 5, 7, 9, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "pentatonic_major": (0, 2, 4, 7, 9),
    "pentatonic_minor": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10),
}

_KEY = re.compile(r"^\s*([A-Ga-g])\s*([#♯b♭]?)\s*:?\s*(major|maj|minor|min|m|M)?\s*$")

F0_MIN_HZ, F0_MAX_HZ = 60.0, 1600.0
F0_SR, F0_FRAME, F0_HOP = 16000, 1024, 128
"""Pitch is tracked at 16 kHz in 64 ms frames every 8 ms: as accurate as at 44.1 kHz on sung
and played notes (within 2-3 cents), for a fifth of the work."""
F0_CHUNK_FRAMES = 4096
"""Frames tracked per call (33 s), which bounds YIN's memory and gives progress and cancel."""
VOICED_RANGE_DB = 40.0
"""Frames quieter than this under the loudest one are treated as unpitched."""
SAME_NOTE_SEMITONES = 0.6
NOTE_MEMORY_FRAMES = 6
"""A frame further than SAME_NOTE_SEMITONES from the median of the note's last 6 frames (48 ms)
starts a new note: vibrato stays inside a note, a step to the next one does not."""
MIN_NOTE_S = 0.06


@dataclass(frozen=True)
class Key:
    tonic: int
    """Pitch class 0-11 (C = 0)."""
    mode: Literal["major", "minor"]

    @property
    def name(self) -> str:
        return f"{NOTE_NAMES[self.tonic]} {self.mode}"

    @property
    def major_tonic(self) -> int:
        """Tonic of the major key with the same notes (the relative major of a minor key)."""
        return self.tonic if self.mode == "major" else (self.tonic + 3) % 12


def parse_key(text: str) -> Key:
    """'A minor', 'Am', 'F# major', 'Bb', 'c:min' → Key."""
    match = _KEY.match(text or "")
    if not match:
        raise ToolError(f"cannot read the key {text!r}; write it like 'A minor', 'F# major' or 'Bbm'")
    letter, accidental, mode = match.groups()
    tonic = (PITCH_CLASSES[letter.upper()] + {"#": 1, "♯": 1, "b": -1, "♭": -1}.get(accidental, 0)) % 12
    minor = mode is not None and (mode.lower().startswith("min") or mode == "m")
    return Key(tonic, "minor" if minor else "major")


def _stretch(samples: np.ndarray, sr: int, tempo_factor: float, semitones: float | np.ndarray,
             progress: ProgressFn, cancel: CancelToken) -> np.ndarray:
    """Rubber Band in one pass: it keeps phase coherence across the whole file, which cutting
    into chunks would break, so progress comes only before and after."""
    cancel.check()
    progress(0, 1, "stretching")
    out = pedalboard.time_stretch(np.ascontiguousarray(samples, np.float32), float(sr),
                                  stretch_factor=float(tempo_factor),
                                  pitch_shift_in_semitones=semitones)
    cancel.check()
    progress(1, 1, "stretching")
    return out


def time_stretch(samples: np.ndarray, sr: int, tempo_factor: float = 1.0,
                 pitch_semitones: float = 0.0, *, progress: ProgressFn = no_progress,
                 cancel: CancelToken = NEVER) -> np.ndarray:
    """Change tempo (factor > 1 = faster, shorter) and pitch (semitones) independently."""
    if not MIN_TEMPO_FACTOR <= tempo_factor <= MAX_TEMPO_FACTOR:
        raise ToolError(f"tempo factor {tempo_factor:g} is outside {MIN_TEMPO_FACTOR}-{MAX_TEMPO_FACTOR}; "
                        "stretch in two steps if you really need more")
    if abs(pitch_semitones) > MAX_SHIFT_SEMITONES:
        raise ToolError(f"pitch shift {pitch_semitones:g} semitones is beyond ±{MAX_SHIFT_SEMITONES:g}")
    if samples.shape[-1] == 0:
        raise ToolError("the input is empty; nothing to stretch")
    if tempo_factor == 1.0 and pitch_semitones == 0.0:
        return samples.astype(np.float32, copy=True)
    return _stretch(samples, sr, tempo_factor, float(pitch_semitones), progress, cancel)


@dataclass(frozen=True)
class TempoMatch:
    audio: np.ndarray
    tempo_factor: float


def bpm_match(samples: np.ndarray, sr: int, source_bpm: float, target_bpm: float, *,
              progress: ProgressFn = no_progress, cancel: CancelToken = NEVER) -> TempoMatch:
    """Stretch from the measured `source_bpm` to `target_bpm`, keeping the pitch."""
    if source_bpm <= 0 or target_bpm <= 0:
        raise ToolError("tempos must be positive BPM values")
    factor = target_bpm / source_bpm
    return TempoMatch(time_stretch(samples, sr, factor, progress=progress, cancel=cancel),
                      round(factor, 6))


def key_shift(source: Key, target: Key) -> int:
    """Semitones (−6…+5, the smaller way round) that move the source key's notes onto the
    target's. Transposing cannot turn major into minor, so keys are compared through their
    relative majors: C major → A minor is 0, C major → C minor is +3 (to E♭ major)."""
    return (target.major_tonic - source.major_tonic + 6) % 12 - 6


@dataclass(frozen=True)
class KeyMatch:
    audio: np.ndarray
    semitones: int


def key_match(samples: np.ndarray, sr: int, source_key: str, target_key: str, *,
              progress: ProgressFn = no_progress, cancel: CancelToken = NEVER) -> KeyMatch:
    """Transpose from the measured `source_key` to `target_key`, keeping the tempo."""
    shift = key_shift(parse_key(source_key), parse_key(target_key))
    return KeyMatch(time_stretch(samples, sr, 1.0, shift, progress=progress, cancel=cancel), shift)


def hz_to_midi(hz: np.ndarray | float) -> np.ndarray | float:
    return 69 + 12 * np.log2(np.asarray(hz) / A4_HZ)


def midi_name(midi: int) -> str:
    return f"{NOTE_NAMES[midi % 12]}{midi // 12 - 1}"


def track_f0(mono: np.ndarray, sr: int, progress: ProgressFn = no_progress,
             cancel: CancelToken = NEVER) -> tuple[np.ndarray, np.ndarray]:
    """YIN f0 per frame (F0_HOP at F0_SR, centred) and whether the frame is loud enough to count.

    The signal is padded once and cut into runs of whole frames, so the chunked result equals
    one call over the whole signal.
    """
    import librosa

    y = np.pad(resample(mono[None], sr, F0_SR)[0], F0_FRAME // 2)
    frames = 1 + (y.size - F0_FRAME) // F0_HOP
    f0, rms = np.empty(frames), np.empty(frames)
    for first, last in chunks(frames, F0_CHUNK_FRAMES, progress, cancel, "tracking pitch"):
        part = y[first * F0_HOP : (last - 1) * F0_HOP + F0_FRAME]
        f0[first:last] = librosa.yin(part, fmin=F0_MIN_HZ, fmax=F0_MAX_HZ, sr=F0_SR,
                                     frame_length=F0_FRAME, hop_length=F0_HOP, center=False)
        rms[first:last] = librosa.feature.rms(y=part, frame_length=F0_FRAME, hop_length=F0_HOP,
                                              center=False)[0]
    level = 20 * np.log10(np.maximum(rms, 1e-10))
    voiced = (level > level.max(initial=-200) - VOICED_RANGE_DB) & (level > -70) & np.isfinite(f0)
    return f0, voiced


def segment_notes(midi: np.ndarray, voiced: np.ndarray, min_frames: int) -> list[tuple[int, int]]:
    """[start, stop) frame ranges of steady pitch: a note ends at an unvoiced frame or where the
    pitch leaves its recent median (see NOTE_MEMORY_FRAMES)."""
    pitches, flags = midi.tolist(), voiced.tolist()
    notes: list[tuple[int, int]] = []
    start = None
    for i in range(len(pitches) + 1):
        if start is not None:
            recent = pitches[max(start, i - NOTE_MEMORY_FRAMES) : i]
            if i < len(pitches) and flags[i] and abs(pitches[i] - statistics.median(recent)) <= SAME_NOTE_SEMITONES:
                continue
            if i - start >= min_frames:
                notes.append((start, i))
            start = None
        if i < len(pitches) and flags[i]:
            start = i
    return notes


def nearest_allowed(midi: float, allowed: frozenset[int]) -> int:
    """Closest MIDI note whose pitch class is in `allowed`."""
    base = round(midi)
    candidates = [n for n in range(base - 6, base + 7) if n % 12 in allowed]
    return min(candidates, key=lambda n: (abs(n - midi), n))


def allowed_pitch_classes(key: str | None, scale: Scale | None) -> frozenset[int]:
    if key is None:
        if scale not in (None, "chromatic"):
            raise ToolError(f"the {scale} scale needs a key (e.g. key='A minor')")
        return frozenset(range(12))
    parsed = parse_key(key)
    steps = SCALES[scale or parsed.mode]
    return frozenset((parsed.tonic + s) % 12 for s in steps)


@dataclass(frozen=True)
class PitchCorrection:
    audio: np.ndarray
    notes_found: int
    notes: list[dict]
    """Up to `max_notes` notes: start/end (s), sung pitch, target note and the shift (cents)."""
    mean_abs_error_cents: float | None
    """Mean distance of the notes from their targets before correction."""


def pitch_correct(samples: np.ndarray, sr: int, strength: float = 1.0, key: str | None = None,
                  scale: Scale | None = None, max_notes: int = 200, *,
                  progress: ProgressFn = no_progress, cancel: CancelToken = NEVER) -> PitchCorrection:
    """Pull each note toward the nearest pitch of the scale (chromatic when no key is given).

    `strength` 1 lands every note on the grid, 0.5 halves its error. Each note is shifted by
    one amount, measured on its median f0, so expression inside the note is kept.
    """
    if not 0 <= strength <= 1:
        raise ToolError("strength must be between 0 and 1")
    if samples.shape[-1] < F0_FRAME * sr / F0_SR:
        raise ToolError(f"the input is too short for pitch tracking (needs {F0_FRAME / F0_SR:.2f} s)")
    allowed = allowed_pitch_classes(key, scale)
    f0, voiced = track_f0(samples.mean(axis=0), sr,
                          lambda done, total, message: progress(done / total, 3, message), cancel)
    midi = np.where(voiced, hz_to_midi(np.where(voiced, f0, A4_HZ)), np.nan)
    spans = segment_notes(midi, voiced, max(1, math.ceil(MIN_NOTE_S * F0_SR / F0_HOP)))
    curve = np.zeros(samples.shape[-1])
    to_frames = sr / F0_SR * F0_HOP
    notes, errors = [], []
    for start, stop in spans:
        sung = float(np.median(midi[start:stop]))
        target = nearest_allowed(sung, allowed)
        shift = strength * (target - sung)
        first = max(0, round((start - 0.5) * to_frames))
        last = min(curve.size, round((stop - 0.5) * to_frames))
        curve[first:last] = shift
        errors.append(abs(target - sung) * 100)
        if len(notes) < max_notes:
            notes.append({"start_s": round(first / sr, 3), "end_s": round(last / sr, 3),
                          "sung_hz": round(A4_HZ * 2 ** ((sung - 69) / 12), 2),
                          "target": midi_name(target), "shift_cents": round(shift * 100, 1)})
    progress(2, 3, "correcting")
    if np.any(curve):
        out = _stretch(samples, sr, 1.0, curve, no_progress, cancel)
        out = np.pad(out, ((0, 0), (0, max(0, curve.size - out.shape[-1]))))[:, : curve.size]
    else:
        out = samples.astype(np.float32, copy=True)
    progress(3, 3, "correcting")
    return PitchCorrection(out, len(spans), notes,
                           round(float(np.mean(errors)), 1) if errors else None)


def warm() -> None:
    """Compile librosa's YIN kernels once (numba caches them)."""
    sr = 22050
    tone = np.sin(2 * np.pi * 220 * np.arange(sr // 4) / sr).astype(np.float32)
    track_f0(tone, sr)
