"""Signals with known content for the editing, visual, tag and fingerprint tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 44100


def tone(freq: float, seconds: float, sr: int = SR, amp: float = 0.5, channels: int = 1) -> np.ndarray:
    """A sine at `freq` Hz and peak `amp`, (channels, frames) float32."""
    t = np.arange(round(seconds * sr)) / sr
    wave = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(wave[None], channels, axis=0)


def ramp(frames: int, channels: int = 1) -> np.ndarray:
    """Sample i holds value i (per channel offset by 1000·channel): positions are readable."""
    base = np.arange(frames, dtype=np.float32)
    return np.stack([base + 1000 * c for c in range(channels)])


def silence(seconds: float, sr: int = SR, channels: int = 1) -> np.ndarray:
    return np.zeros((channels, round(seconds * sr)), dtype=np.float32)


def noise(seconds: float, sr: int = SR, amp: float = 0.3, channels: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (amp * rng.uniform(-1, 1, (channels, round(seconds * sr)))).astype(np.float32)


def chord(freqs: list[float], seconds: float, sr: int = SR, amp: float = 0.2) -> np.ndarray:
    """Mono sum of harmonic-rich notes (3 partials each): chroma and timbre are well defined."""
    t = np.arange(round(seconds * sr)) / sr
    out = np.zeros_like(t)
    for f in freqs:
        for k, weight in ((1, 1.0), (2, 0.5), (3, 0.25)):
            out += weight * np.sin(2 * np.pi * f * k * t)
    env = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.02)
    return (amp * out * env / len(freqs)).astype(np.float32)[None]


def sections(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts, axis=1)


def music_track(seconds: float = 30.0, sr: int = SR, seed: int = 1) -> np.ndarray:
    """A stereo track of changing chords over a noise-hat pulse: real-looking pictures and a
    fingerprint with structure."""
    rng = np.random.default_rng(seed)
    progression = [[261.6, 329.6, 392.0], [220.0, 261.6, 329.6], [174.6, 220.0, 261.6],
                   [196.0, 246.9, 293.7]]
    bar = 2.0
    bars = [chord(progression[i % 4], bar, sr) for i in range(int(seconds // bar))]
    mono = np.concatenate(bars, axis=1)
    beat = round(0.5 * sr)
    hat = (rng.uniform(-1, 1, round(0.03 * sr)) * np.exp(-np.arange(round(0.03 * sr)) / 200))
    for start in range(0, mono.shape[1] - hat.size, beat):
        mono[0, start : start + hat.size] += 0.15 * hat.astype(np.float32)
    return np.concatenate([mono * 0.9, mono * 0.7]).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray, sr: int = SR) -> Path:
    sf.write(path, samples.T, sr, subtype="PCM_16")
    return path


def ffmpeg_convert(src: Path, dst: Path, *args: str) -> Path:
    """Encode `src` to `dst` with ffmpeg (format from dst's extension)."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), *args, str(dst)],
        check=True,
        timeout=60,
    )
    return dst
