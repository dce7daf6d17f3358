"""Predominant melody: an f0 contour and the notes it makes.

The shared log-frequency spectrum (three bins per semitone) gives a pitch salience by harmonic
summation (Klapuri / Melodia style), restricted to pitches whose fundamental is actually present,
so the octave below a note does not win on its even partials. A Viterbi path through pitch
states (jumps cost in proportion to their size) turns salience into a contour, kept where the
salience is strong enough to be voiced; notes are its steady stretches, split where the pitch moves or a new onset starts one.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from ..errors import ToolError
from ..progress import NEVER, CancelToken, ProgressFn, no_progress
from .chroma import BINS_PER_NOTE, LOWEST_MIDI, log_frequency_spectrum
from .mir_features import FRAME_RATE, MusicFeatures, Stages

MELODY_RANGE = (43, 96)  # G2–C7: voices, leads, most solo instruments
N_HARMONICS = 8
HARMONIC_WEIGHT = 0.8
JUMP_COST = 0.3  # log-probability per semitone of pitch jump between frames
EMISSION_POWER = 3.0  # sharpens salience into an emission probability
UNVOICED_THRESHOLD = 0.25  # salience (relative to the track's 95th percentile) below which a frame is unvoiced
VOICING_SMOOTH_FRAMES = 5
MIN_NOTE_S = 0.06
REARTICULATION_DIP = 0.5
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


@dataclass(frozen=True)
class MelodyNote:
    start: float
    end: float
    pitch: int  # MIDI
    name: str  # "A4"
    frequency_hz: float
    confidence: float


@dataclass(frozen=True)
class Melody:
    times: np.ndarray  # frame times (s)
    midi: np.ndarray  # fractional MIDI pitch per frame, NaN where unvoiced
    salience: np.ndarray  # 0..1 per frame
    notes: tuple[MelodyNote, ...]


@dataclass(frozen=True)
class MelodyResult:
    contour: list[dict]  # {time, frequency_hz (None when unvoiced), midi, confidence}
    notes: list[dict]
    note_count: int
    notes_truncated: bool
    voiced_fraction: float
    range: dict | None  # lowest/highest note names and MIDI numbers
    summary: str


def note_name(midi: int) -> str:
    return f"{NOTE_NAMES[midi % 12]}{midi // 12 - 1}"


def _salience(spectrum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pitch states, frames) harmonic-sum salience and the fractional MIDI of each state."""
    compressed = np.sqrt(np.maximum(spectrum, 0.0))
    lo = (MELODY_RANGE[0] - LOWEST_MIDI) * BINS_PER_NOTE
    hi = (MELODY_RANGE[1] - LOWEST_MIDI) * BINS_PER_NOTE + 1
    states = np.arange(lo, hi)
    salience = np.zeros((len(states), spectrum.shape[1]), dtype=np.float64)
    for h in range(1, N_HARMONICS + 1):
        offset = int(round(36 * np.log2(h)))
        rows = states + offset
        valid = rows < spectrum.shape[0]
        salience[valid] += HARMONIC_WEIGHT ** (h - 1) * compressed[rows[valid]]
    fundamental = compressed[states]
    local_peak = fundamental >= np.maximum(compressed[states - 1], compressed[np.minimum(states + 1, spectrum.shape[0] - 1)])
    salience *= local_peak  # the fundamental must be present and peak there
    midi = LOWEST_MIDI + (states - 1) / BINS_PER_NOTE
    return salience, midi


def _pitch_path(salience: np.ndarray, midi: np.ndarray) -> np.ndarray:
    """Most likely pitch state per frame (Viterbi): sharpened salience as emission, jumps cost
    JUMP_COST per semitone."""
    log_transition = -JUMP_COST * np.abs(midi[:, None] - midi[None, :])
    log_transition -= np.log(np.exp(log_transition).sum(axis=1, keepdims=True))
    emission = (salience / (salience.max(axis=0, keepdims=True) + 1e-12)) ** EMISSION_POWER + 1e-6
    log_emission = np.log(emission / emission.sum(axis=0, keepdims=True))
    n_states, n_frames = log_emission.shape
    back = np.zeros((n_frames, n_states), dtype=np.int32)
    score = log_emission[:, 0] - np.log(n_states)
    for t in range(1, n_frames):
        candidates = score[:, None] + log_transition
        back[t] = np.argmax(candidates, axis=0)
        score = candidates[back[t], np.arange(n_states)] + log_emission[:, t]
    path = np.empty(n_frames, dtype=np.int32)
    path[-1] = int(np.argmax(score))
    for t in range(n_frames - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def _voicing(strength: np.ndarray) -> np.ndarray:
    """Frames loud enough in salience to carry a melody, with isolated flips smoothed away."""
    import scipy.ndimage

    voiced = strength >= UNVOICED_THRESHOLD
    return scipy.ndimage.median_filter(voiced.astype(np.int8), size=VOICING_SMOOTH_FRAMES) > 0


def _dips(strength: np.ndarray, first: int, last: int) -> list[int]:
    """Frames inside [first, last] where the salience falls below half of what came before and
    recovers after: a re-articulated (repeated) note."""
    cuts = []
    peak = strength[first]
    for t in range(first + 1, last):
        peak = max(peak, strength[t])
        if strength[t] < REARTICULATION_DIP * peak and strength[t] <= strength[t - 1] and strength[t] < strength[t + 1]:
            if strength[t + 1 : last + 1].max() > 0.8 * peak:
                cuts.append(t)
                peak = strength[t]
    return cuts


def _notes(times: np.ndarray, midi: np.ndarray, salience: np.ndarray) -> list[MelodyNote]:
    """Notes from the contour: runs of one rounded pitch (runs shorter than MIN_NOTE_S join
    the run before them, which absorbs vibrato and glides), split again where the salience
    dips and recovers inside a run (repeated notes)."""
    quantised = np.where(np.isfinite(midi), np.round(np.nan_to_num(midi)), -1).astype(int)
    shortest = max(int(round(MIN_NOTE_S * FRAME_RATE)), 1)
    runs: list[list[int]] = []  # [pitch, first, last]
    for t, q in enumerate(quantised):
        if runs and runs[-1][0] == q and runs[-1][2] == t - 1:
            runs[-1][2] = t
        else:
            runs.append([q, t, t])
    merged: list[list[int]] = []
    for run in runs:
        short = run[2] - run[1] + 1 < shortest
        if merged and (short or merged[-1][0] == run[0]) and merged[-1][2] == run[1] - 1 and (run[0] >= 0) == (merged[-1][0] >= 0):
            merged[-1][2] = run[2]
        else:
            merged.append(run)
    notes: list[MelodyNote] = []
    for pitch, first, last in merged:
        if pitch < 0:
            continue
        cuts = [first] + _dips(salience, first, last) + [last + 1]
        for a, b in zip(cuts, cuts[1:]):
            if b - a < shortest:
                continue
            exact = float(np.median(midi[a:b][np.isfinite(midi[a:b])]))
            notes.append(MelodyNote(
                start=round(float(times[a]), 3),
                end=round(float(times[b - 1] + 1 / FRAME_RATE), 3),
                pitch=int(round(exact)),
                name=note_name(int(round(exact))),
                frequency_hz=round(440.0 * 2 ** ((round(exact) - 69) / 12), 2),
                confidence=round(float(np.mean(salience[a:b])), 3),
            ))
    return notes


def estimate_melody(features: MusicFeatures) -> Melody:
    """The predominant f0 contour and its notes (memoised)."""

    def compute() -> Melody:
        spectrum, tuning = log_frequency_spectrum(features)
        times = MusicFeatures.frame_times(np.arange(spectrum.shape[1]))
        empty = Melody(times, np.full(len(times), np.nan), np.zeros(len(times)), ())
        if features.silent:
            return empty
        salience, midi = _salience(spectrum)
        peak = salience.max(axis=0)
        reference = np.percentile(peak, 95)
        if reference <= 0:
            return empty
        strength = np.clip(peak / reference, 0, 1)
        path = _pitch_path(salience, midi)
        contour = np.where(_voicing(strength), midi[path] + tuning, np.nan)
        return Melody(times, contour, strength, tuple(_notes(times, contour, strength)))

    return features.memo("melody", compute)


def track_melody(
    samples: np.ndarray,
    sr: int,
    *,
    points: int = 500,
    max_notes: int = 1000,
    features: MusicFeatures | None = None,
    progress: ProgressFn = no_progress,
    cancel: CancelToken = NEVER,
) -> MelodyResult:
    """Melody f0 contour decimated to `points` frames, and the notes it forms."""
    if points < 1 or max_notes < 1:
        raise ToolError("points and max_notes must be at least 1")
    stages = Stages(2, progress, cancel)
    features = features or MusicFeatures(samples, sr, cancel)
    log_frequency_spectrum(features)
    stages("spectrum")
    melody = estimate_melody(features)
    stages("melody")
    step = max(1, int(np.ceil(len(melody.times) / points)))
    contour = []
    for i in range(0, len(melody.times), step):
        window = melody.midi[i:i + step]
        voiced = window[np.isfinite(window)]
        m = float(np.median(voiced)) if len(voiced) * 2 >= len(window) else None
        contour.append({
            "time": round(float(melody.times[i]), 3),
            "frequency_hz": round(440.0 * 2 ** ((m - 69) / 12), 2) if m is not None else None,
            "midi": round(m, 2) if m is not None else None,
            "confidence": round(float(melody.salience[i:i + step].mean()), 3),
        })
    notes = [note.__dict__ for note in melody.notes]
    voiced_fraction = float(np.isfinite(melody.midi).mean()) if len(melody.midi) else 0.0
    if notes:
        low = min(melody.notes, key=lambda n: n.pitch)
        high = max(melody.notes, key=lambda n: n.pitch)
        note_range = {"lowest": low.name, "highest": high.name, "lowest_midi": low.pitch, "highest_midi": high.pitch}
        summary = f"{len(notes)} melody notes from {low.name} to {high.name}; voiced {100 * voiced_fraction:.0f} % of the time."
    else:
        note_range = None
        summary = "No melody found (silent, unpitched or too short)."
    return MelodyResult(
        contour=contour,
        notes=notes[:max_notes],
        note_count=len(notes),
        notes_truncated=len(notes) > max_notes,
        voiced_fraction=round(voiced_fraction, 3),
        range=note_range,
        summary=summary,
    )


def melody_midi(notes: list[dict], program: int = 0, tempo_bpm: float = 120.0) -> bytes:
    """A one-track Standard MIDI File of the melody notes (times in seconds)."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(initial_tempo=tempo_bpm)
    instrument = pretty_midi.Instrument(program=program, name="melody")
    for note in notes:
        velocity = int(np.clip(40 + 80 * note.get("confidence", 0.7), 1, 127))
        instrument.notes.append(pretty_midi.Note(velocity, int(note["pitch"]), float(note["start"]), float(note["end"])))
    midi.instruments.append(instrument)
    buffer = io.BytesIO()
    midi.write(buffer)
    return buffer.getvalue()


