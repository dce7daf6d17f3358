"""Speech with exact boundaries: espeak-ng utterances padded with silence, plus SI-SDR."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf


def espeak(text: str) -> tuple[np.ndarray, int]:
    """espeak-ng's rendering of `text` as float32 mono, trimmed to where the voice is."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
        audio, sr = sf.read(path, dtype="float32")
    start, end = voiced_bounds(audio, sr)
    return audio[start:end], sr


def voiced_bounds(audio: np.ndarray, sr: int, floor_db: float = -40.0) -> tuple[int, int]:
    """First and last sample of the 10 ms frames louder than `floor_db` below the peak."""
    hop = sr // 100
    frames = audio[: len(audio) // hop * hop].reshape(-1, hop)
    level = np.sqrt((frames**2).mean(axis=1)) + 1e-12
    loud = np.flatnonzero(20 * np.log10(level / level.max()) > floor_db)
    return int(loud[0] * hop), int((loud[-1] + 1) * hop)


def utterances(parts: list[str], gaps_s: list[float]) -> tuple[np.ndarray, int, list[tuple[float, float]]]:
    """Utterances separated by silences: `gaps_s` has one more entry than `parts` (lead, …, tail).
    Returns mono (1, n) audio, its rate and the true (start_s, end_s) of each utterance."""
    pieces, truth, cursor, sr = [], [], 0, 22050
    for i, text in enumerate(parts):
        voice, sr = espeak(text)
        silence = np.zeros(int(gaps_s[i] * sr), dtype=np.float32)
        pieces += [silence, voice]
        cursor += silence.size
        truth.append((cursor / sr, (cursor + voice.size) / sr))
        cursor += voice.size
    pieces.append(np.zeros(int(gaps_s[-1] * sr), dtype=np.float32))
    return np.concatenate(pieces)[None, :], sr, truth


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB."""
    reference = reference.ravel().astype(np.float64)
    estimate = estimate.ravel().astype(np.float64)
    target = reference * (estimate @ reference) / (reference @ reference)
    noise = estimate - target
    return float(10 * np.log10((target @ target) / (noise @ noise)))
