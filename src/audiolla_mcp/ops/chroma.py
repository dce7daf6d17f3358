"""Pitch content for key and chord estimation.

The route follows NNLS-Chroma (Mauch & Dixon 2010), which holds up on real recordings where
plain chroma does not: a log-frequency spectrum with three bins per semitone, tuned to the
recording, is whitened and explained as a non-negative mix of harmonic note templates (an
approximate transcription). Chroma is then summed from notes, not from partials, so the third
harmonic of a bass note no longer looks like a fifth, and a bass chroma (low notes) is kept apart
from a treble chroma (the rest), which is what tells C/E from E minor.

Frames are pooled per segment (usually a beat) before the transcription, which keeps the
least-squares step small and averages out passing tones.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.ndimage
import scipy.optimize
import scipy.sparse

from .mir_features import ANALYSIS_SR, HOP, MusicFeatures, resample, stft_magnitude

LOWEST_MIDI = 24  # C1
N_NOTES = 84  # C1–B7
BINS_PER_NOTE = 3
N_BINS = N_NOTES * BINS_PER_NOTE
# Two resolutions, both on the shared frame times: below middle C a 0.37 s window (2.7 Hz bins)
# separates bass semitones; above it a 0.19 s window keeps chord changes sharp.
TREBLE_SR, BASS_SR = ANALYSIS_SR / 2, ANALYSIS_SR / 4  # partials above 5.5 kHz add nothing
TREBLE_HOP, BASS_HOP = HOP // 2, HOP // 4
WINDOW = 2048
CROSSOVER_MIDI = 60.0
HARMONIC_DECAY = 0.7  # partial amplitude ratio in the note templates
N_HARMONICS = 20
WHITENING_BINS = 36  # one octave
CANDIDATE_FLOOR = 0.05  # notes whose fundamental is weaker than this (× the strongest) are skipped

# Note weights that make the bass and treble chroma (MIDI numbers).
BASS_RANGE = (26.0, 40.0, 55.0)  # raised cosine: rises from 26, peaks at 40, falls to 55
TREBLE_RANGE = (42.0, 60.0, 96.0)


@dataclass(frozen=True)
class PitchSegments:
    """Pooled pitch content of consecutive segments (start/end in seconds)."""

    starts: np.ndarray
    ends: np.ndarray
    notes: np.ndarray  # (84, segments) note activations, MIDI 24..107
    treble: np.ndarray  # (12, segments) chroma, pitch class 0 = C
    bass: np.ndarray  # (12, segments)
    energy: np.ndarray  # (segments,) mean note activation, 0 for silence
    tuning: float  # semitones relative to A440


def log_frequency_filterbank(sr: float, n_fft: int, tuning: float, midi_from: float, midi_to: float) -> scipy.sparse.csr_matrix:
    """Triangular weights from linear STFT bins to log-frequency bins (three per semitone) whose
    centres lie in [midi_from, midi_to); rows outside that range stay empty."""
    positions = LOWEST_MIDI - 1.0 / BINS_PER_NOTE + np.arange(N_BINS) / BINS_PER_NOTE + tuning
    centres = 440.0 * 2.0 ** ((positions - 69.0) / 12.0)
    resolution = sr / n_fft
    widths = np.maximum(centres * (2.0 ** (1.0 / 36.0) - 1.0), resolution)
    freqs = np.arange(n_fft // 2 + 1) * resolution
    rows, cols, values = [], [], []
    for k in np.flatnonzero((positions >= midi_from) & (positions < midi_to)):
        lo = int(np.ceil((centres[k] - widths[k]) / resolution))
        hi = int(np.floor((centres[k] + widths[k]) / resolution))
        bins = np.arange(max(lo, 0), min(hi, len(freqs) - 1) + 1)
        weights = 1.0 - np.abs(freqs[bins] - centres[k]) / widths[k]
        keep = weights > 0
        if keep.any():
            rows += [k] * int(keep.sum())
            cols += list(bins[keep])
            values += list(weights[keep] / weights[keep].sum())
    return scipy.sparse.csr_matrix((values, (rows, cols)), shape=(N_BINS, len(freqs)), dtype=np.float32)


@lru_cache(maxsize=8)
def _filterbanks(tuning: float) -> tuple[scipy.sparse.csr_matrix, scipy.sparse.csr_matrix]:
    top = LOWEST_MIDI + N_NOTES + 1
    return (
        log_frequency_filterbank(BASS_SR, WINDOW, tuning, 0.0, CROSSOVER_MIDI),
        log_frequency_filterbank(TREBLE_SR, WINDOW, tuning, CROSSOVER_MIDI, top),
    )


def estimate_tuning(spectrum: np.ndarray) -> float:
    """Deviation from A440 in semitones (−0.5..0.5), from where spectral peaks fall among the
    three bins of each semitone (a circular mean over peak bins)."""
    mean = spectrum.mean(axis=1)
    peaks = np.flatnonzero((mean[1:-1] > mean[:-2]) & (mean[1:-1] >= mean[2:])) + 1
    if len(peaks) == 0 or mean[peaks].sum() <= 0:
        return 0.0
    phase = np.angle(np.sum(mean[peaks] * np.exp(2j * np.pi * (peaks - 1) / BINS_PER_NOTE)))
    return float(np.round(phase / (2 * np.pi), 3))


def log_frequency_spectrum(features: MusicFeatures) -> tuple[np.ndarray, float]:
    """(252, frames) tuned log-frequency magnitude spectrum and the tuning it used."""

    def compute() -> tuple[np.ndarray, float]:
        treble_signal = resample(features.signal, ANALYSIS_SR, TREBLE_SR)
        bass_signal = resample(treble_signal, TREBLE_SR, BASS_SR)
        bass = stft_magnitude(bass_signal, WINDOW, BASS_HOP, features.cancel)[:, : features.n_frames]
        treble = stft_magnitude(treble_signal, WINDOW, TREBLE_HOP, features.cancel)[:, : features.n_frames]

        def project(tuning: float) -> np.ndarray:
            bank_bass, bank_treble = _filterbanks(tuning)
            return np.asarray(bank_bass @ bass + bank_treble @ treble, dtype=np.float32)

        spectrum = project(0.0)
        tuning = estimate_tuning(spectrum)
        if abs(tuning) >= 0.05:
            spectrum = project(tuning)
        return spectrum, tuning

    return features.memo("log_frequency_spectrum", compute)


@lru_cache(maxsize=1)
def note_dictionary() -> np.ndarray:
    """(252, 84) harmonic templates: partial h of note n at 36·log2(h) bins above it, with
    amplitude decaying geometrically."""
    dictionary = np.zeros((N_BINS, N_NOTES), dtype=np.float64)
    for note in range(N_NOTES):
        for h in range(1, N_HARMONICS + 1):
            position = BINS_PER_NOTE * note + 1 + 36.0 * np.log2(h)
            low = int(np.floor(position))
            if low + 1 >= N_BINS:
                break
            frac = position - low
            amplitude = HARMONIC_DECAY ** (h - 1)
            dictionary[low, note] += amplitude * (1 - frac)
            dictionary[low + 1, note] += amplitude * frac
    return dictionary


def whiten(spectrum: np.ndarray) -> np.ndarray:
    """Subtract a running mean over one octave and divide by the running deviation; keep what
    stands out. This removes timbre tilt and broadband noise before the transcription."""
    mean = scipy.ndimage.uniform_filter1d(spectrum, WHITENING_BINS + 1, axis=0, mode="nearest")
    square = scipy.ndimage.uniform_filter1d(spectrum**2, WHITENING_BINS + 1, axis=0, mode="nearest")
    deviation = np.sqrt(np.maximum(square - mean**2, 0.0))
    floor = 1e-3 * max(float(deviation.max()), 1e-12)
    return np.maximum(spectrum - mean, 0.0) / np.maximum(deviation, floor)


def transcribe(spectrum: np.ndarray) -> np.ndarray:
    """(84, segments) non-negative note activations explaining each whitened spectrum column.
    Only notes with some energy at their fundamental are candidates (as in NNLS-Chroma), which
    keeps each least-squares problem small."""
    dictionary = note_dictionary()
    white = whiten(spectrum.astype(np.float64))
    fundamentals = white.reshape(N_NOTES, BINS_PER_NOTE, -1).max(axis=1)
    candidates = fundamentals > CANDIDATE_FLOOR * np.maximum(fundamentals.max(axis=0, keepdims=True), 1e-12)
    notes = np.zeros((N_NOTES, spectrum.shape[1]))
    for j in range(spectrum.shape[1]):
        active = np.flatnonzero(candidates[:, j])
        if len(active):
            notes[active, j] = scipy.optimize.nnls(dictionary[:, active], white[:, j], maxiter=400)[0]
    return notes


def _raised_cosine(low: float, peak: float, high: float) -> np.ndarray:
    midi = LOWEST_MIDI + np.arange(N_NOTES)
    rise = 0.5 - 0.5 * np.cos(np.pi * np.clip((midi - low) / (peak - low), 0, 1))
    fall = 0.5 + 0.5 * np.cos(np.pi * np.clip((midi - peak) / (high - peak), 0, 1))
    return np.where(midi <= peak, rise, fall)


def _fold(notes: np.ndarray, weights: np.ndarray) -> np.ndarray:
    chroma = np.zeros((12, notes.shape[1]))
    weighted = notes * weights[:, None]
    for note in range(N_NOTES):
        chroma[(LOWEST_MIDI + note) % 12] += weighted[note]
    return chroma


def pool(spectrum: np.ndarray, starts: np.ndarray, ends: np.ndarray, inner: tuple[float, float]) -> np.ndarray:
    """Mean spectrum over the inner part of each segment (skipping the smeared edges)."""
    pooled = np.zeros((spectrum.shape[0], len(starts)), dtype=np.float64)
    frames = spectrum.shape[1]
    for j, (a, b) in enumerate(zip(starts, ends)):
        lo = a + inner[0] * (b - a)
        hi = a + inner[1] * (b - a)
        f0 = int(np.clip(np.floor(lo * ANALYSIS_SR / HOP), 0, frames - 1))
        f1 = int(np.clip(np.ceil(hi * ANALYSIS_SR / HOP), f0 + 1, frames))
        pooled[:, j] = spectrum[:, f0:f1].mean(axis=1)
    return pooled


def pitch_segments(
    features: MusicFeatures, starts: np.ndarray, ends: np.ndarray, inner: tuple[float, float] = (0.15, 0.95)
) -> PitchSegments:
    """Note activations and bass/treble chroma for each [start, end) segment in seconds."""
    spectrum, tuning = log_frequency_spectrum(features)
    starts = np.asarray(starts, dtype=np.float64)
    ends = np.asarray(ends, dtype=np.float64)
    pooled = pool(spectrum, starts, ends, inner)
    notes = transcribe(pooled) if len(starts) else np.zeros((N_NOTES, 0))
    return PitchSegments(
        starts=starts,
        ends=ends,
        notes=notes,
        treble=_fold(notes, _raised_cosine(*TREBLE_RANGE)),
        bass=_fold(notes, _raised_cosine(*BASS_RANGE)),
        energy=notes.mean(axis=0),
        tuning=tuning,
    )
