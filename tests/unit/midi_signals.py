"""Symbolic music with known notes for the MIDI, render and transcription tests.

Pieces are `CompositionSpec` dicts, so the reference notes (times in seconds, pitches) follow
from the spec alone and the rendered audio can be checked against them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SR = 44100
SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"


def note(pitch: int | str, start: float, duration: float, velocity: int = 90) -> dict[str, Any]:
    return {"pitch": pitch, "start": start, "duration": duration, "velocity": velocity}


def piano_piece(tempo_bpm: float = 96.0, program: int = 0) -> dict[str, Any]:
    """Eight bars in C major for two hands: a melody in quarters and eighths (G4–G5) over
    detached roots on beats 1 and 3 (C3–A3); no key is struck again while it still sounds."""
    melody = [
        (72, 1), (74, 1), (76, 1), (72, 1), (77, 0.5), (76, 0.5), (74, 1), (71, 2),
        (69, 1), (71, 1), (72, 1), (76, 1), (74, 0.5), (72, 0.5), (71, 1), (67, 2),
        (72, 1), (76, 1), (79, 1), (76, 1), (77, 1), (74, 1), (71, 2),
        (72, 0.5), (74, 0.5), (76, 1), (74, 1), (71, 1), (72, 4),
    ]  # fmt: skip
    right, beat = [], 0.0
    for pitch, length in melody:
        right.append(note(pitch, beat, length * 0.9, 96))
        beat += length
    roots = [48, 55, 57, 55, 48, 53, 55, 48, 57, 53, 55, 55, 48, 55, 48, 48]
    left = [note(root, 2.0 * i, 0.9, 70) for i, root in enumerate(roots)]
    return {
        "title": "Round trip",
        "tempo_bpm": tempo_bpm,
        "key_signature": "C",
        "tracks": [
            {"name": "Right hand", "program": program, "notes": right},
            {"name": "Left hand", "program": program, "notes": left},
        ],
    }


C_MAJOR = (0, 2, 4, 5, 7, 9, 11)
TRIADS = ((48, (0, 4, 7)), (53, (0, 4, 7)), (55, (0, 4, 7)), (57, (0, 3, 7)), (50, (0, 3, 7)),
          (52, (0, 3, 7)))  # fmt: skip
"""C, F, G, Am, Dm and Em, root position from C3."""


def figured_piece(seed: int, program: int = 0, bars: int = 8) -> dict[str, Any]:
    """A seeded two-hand piece in C major: a melody wandering by steps and small leaps
    (G4–C6, eighths to half notes) over a left hand in broken chords (eighths, C3–A4), one
    random triad per bar, at 84–120 BPM."""
    rng = np.random.default_rng(seed)
    tempo = float(rng.choice([84, 96, 108, 120]))
    scale = [60 + 12 * (i // 7) + C_MAJOR[i % 7] for i in range(22)]
    right, degree, beat = [], 8, 0.0
    while beat < 4 * bars:
        length = min(float(rng.choice([0.5, 0.5, 1, 1, 1, 1.5, 2])), 4 * bars - beat)
        degree = int(np.clip(degree + rng.choice([-3, -2, -1, -1, 1, 1, 2, 3]), 4, 14))
        right.append(note(scale[degree], beat, length * 0.9, int(rng.integers(70, 110))))
        beat += length
    left = []
    for bar in range(bars):
        root, (_, third, fifth) = TRIADS[int(rng.integers(len(TRIADS)))]
        figure = [root, root + third, root + fifth, root + 12, root + fifth, root + third, root + 7]
        left += [
            note(pitch, 4.0 * bar + 0.5 * i, 0.45, int(rng.integers(55, 80)))
            for i, pitch in enumerate(figure)
        ]
    return {"tempo_bpm": tempo, "tracks": [{"program": program, "notes": right},
                                           {"program": program, "notes": left}]}  # fmt: skip


def reference_notes(spec: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(intervals in seconds, pitches in Hz) of a constant-tempo spec, for mir_eval."""
    seconds_per_beat = 60.0 / spec["tempo_bpm"]
    notes = [n for track in spec["tracks"] for n in track["notes"]]
    intervals = (
        np.array([[n["start"], n["start"] + n["duration"]] for n in notes], dtype=float)
        * seconds_per_beat
    )
    pitches = 440.0 * 2 ** ((np.array([n["pitch"] for n in notes], dtype=float) - 69) / 12)
    return intervals, pitches


def peak_frequency(samples: np.ndarray, sr: int, near: float) -> float:
    """Frequency of the strongest spectral peak within a semitone of `near` (so a partial is
    never taken for the fundamental), refined by parabolic interpolation of the log magnitude
    (a fraction of a cent for a steady tone)."""
    size = 1 << int(np.floor(np.log2(len(samples))))
    spectrum = np.abs(np.fft.rfft(samples[:size] * np.hanning(size)))
    freqs = np.fft.rfftfreq(size, 1 / sr)
    band = np.flatnonzero((freqs > near * 2 ** (-1 / 12)) & (freqs < near * 2 ** (1 / 12)))
    k = int(band[np.argmax(spectrum[band])])
    left, centre, right = np.log(spectrum[k - 1 : k + 2] + 1e-30)
    offset = 0.5 * (left - right) / (left - 2 * centre + right)
    return (k + offset) * sr / size


def cents(frequency: float, reference: float) -> float:
    return 1200.0 * float(np.log2(frequency / reference))


def onset_frame(samples: np.ndarray, threshold: float = 1e-4) -> int:
    """First frame whose magnitude exceeds `threshold`."""
    return int(np.argmax(np.abs(samples) > threshold))
