"""Signals and measurements with known answers for the effects, dynamics and mastering tests."""

from __future__ import annotations

import numpy as np

SR = 44100


def tone(freq: float, seconds: float, amp: float = 0.5, sr: int = SR, channels: int = 1,
         phase: float = 0.0) -> np.ndarray:
    """A sine of peak `amp`, (channels, frames) float32."""
    t = np.arange(round(seconds * sr)) / sr
    wave = (amp * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)
    return np.repeat(wave[None], channels, axis=0)


def gated(signal: np.ndarray, start_s: float, stop_s: float, sr: int = SR) -> np.ndarray:
    """`signal` kept only between start_s and stop_s (hard edges)."""
    out = np.zeros_like(signal)
    a, b = round(start_s * sr), round(stop_s * sr)
    out[..., a:b] = signal[..., a:b]
    return out


def white(seconds: float, amp: float = 0.1, sr: int = SR, channels: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (amp * rng.standard_normal((channels, round(seconds * sr)))).astype(np.float32)


def db(ratio: float) -> float:
    return float(20 * np.log10(ratio))


def amplitude(x: np.ndarray, freq: float, start_s: float, stop_s: float, sr: int = SR) -> float:
    """Peak amplitude of the `freq` component of a 1-D signal between start_s and stop_s
    (least squares on a sine/cosine pair: exact for a steady tone, blind to other tones)."""
    a, b = round(start_s * sr), round(stop_s * sr)
    t = np.arange(a, b) / sr
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, x[a:b].astype(np.float64), rcond=None)
    return float(np.hypot(*coef))


def gain_db(before: np.ndarray, after: np.ndarray, freq: float, start_s: float, stop_s: float,
            sr: int = SR) -> float:
    """How much the `freq` component changed between two 1-D signals, in dB."""
    return db(amplitude(after, freq, start_s, stop_s, sr) / amplitude(before, freq, start_s, stop_s, sr))


def snr_db(x: np.ndarray, freq: float, start_s: float, stop_s: float, sr: int = SR) -> float:
    """Power of the `freq` sine over the power of everything else in the window."""
    a, b = round(start_s * sr), round(stop_s * sr)
    t = np.arange(a, b) / sr
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)
    seg = x[a:b].astype(np.float64)
    coef, *_ = np.linalg.lstsq(basis, seg, rcond=None)
    fit = basis @ coef
    return float(10 * np.log10(np.sum(fit**2) / np.sum((seg - fit) ** 2)))


def peak_hz(x: np.ndarray, sr: int = SR) -> float:
    """Frequency of the strongest spectral peak of a 1-D signal: Hann window, 16× zero padding
    and a parabola through the log magnitudes (well under a cent for a steady tone)."""
    size = 1 << int(np.ceil(np.log2(x.size * 16)))
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size), size))
    k = int(np.argmax(spectrum[1:-1])) + 1
    left, mid, right = np.log(spectrum[k - 1 : k + 2])
    return (k + 0.5 * (left - right) / (left - 2 * mid + right)) * sr / size


def cents(freq: float, reference: float) -> float:
    return float(1200 * np.log2(freq / reference))


def midi_hz(midi: float) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


def melody(notes: list[tuple[int, float]], note_s: float = 0.5, amp: float = 0.5, sr: int = SR) -> np.ndarray:
    """Sine notes (MIDI number, detune in cents) back to back, 10 ms fades, (1, frames)."""
    parts = []
    for midi, detune in notes:
        t = np.arange(round(note_s * sr)) / sr
        fade = np.minimum(1.0, np.minimum(t, note_s - t) / 0.01)
        parts.append(amp * fade * np.sin(2 * np.pi * midi_hz(midi + detune / 100) * t))
    return np.concatenate(parts)[None].astype(np.float32)


def music(seconds: float, peak: float = 0.5, seed: int = 0, sr: int = SR) -> np.ndarray:
    """Stereo plucked notes (decaying harmonics) with noisy attacks, two per second: enough
    spectral and dynamic variety for loudness and mastering checks."""
    rng = np.random.default_rng(seed)
    n = round(seconds * sr)
    out = np.zeros((2, n))
    for k in range(int(seconds * 2)):
        start = round(k * 0.5 * sr)
        length = min(n - start, round(0.8 * sr))
        t = np.arange(length) / sr
        f = 110 * 2 ** (rng.integers(0, 24) / 12)
        note = sum(np.sin(2 * np.pi * f * h * t) * np.exp(-t * (2 + h)) / h for h in (1, 2, 3, 5))
        click = rng.standard_normal(length) * np.exp(-t * 400) * 0.5
        pan = rng.uniform(0.3, 0.7)
        out[0, start : start + length] += (note + click) * pan
        out[1, start : start + length] += (note + click) * (1 - pan)
    return (peak * out / np.abs(out).max()).astype(np.float32)


def syllables(seconds: float, peak: float = 0.3, seed: int = 0, sr: int = SR) -> np.ndarray:
    """Speech-like voiced syllables, (1, frames): 0.12–0.35 s harmonic tones (110–220 Hz,
    11 harmonics falling 1/h, pitch gliding up 10 %) under a sin² envelope, 0.08–0.4 s apart."""
    rng = np.random.default_rng(seed)
    out = np.zeros(round(seconds * sr))
    start = 0.2
    while start < seconds - 0.5:
        length, f0 = rng.uniform(0.12, 0.35), rng.uniform(110, 220)
        t = np.arange(round(length * sr)) / sr
        phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.1 * t / length)) / sr
        voice = sum(np.sin(h * phase) / h for h in range(1, 12)) * np.sin(np.pi * t / length) ** 2
        first = round(start * sr)
        out[first : first + voice.size] += voice
        start += length + rng.uniform(0.08, 0.4)
    return (peak * out / np.abs(out).max())[None].astype(np.float32)
