"""Loudness test signals with analytically known values, after EBU Tech 3341 and Tech 3342.

The EBU documents were not reachable offline, so the tables below are rebuilt from what those
specifications define: stereo 1 kHz sines whose peak level in dBFS equals their loudness in
LUFS, segment sequences that exercise gating and the block windows, and sines or tone bursts
whose sample peaks sit under a known true peak. Cases 7–8 (authentic programme in the
specification) are replaced by multi-tone signals scaled analytically to −23 LUFS through the
BS.1770 48 kHz filter table; cases 10–11 and 13–14 use bursts at irregular offsets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.signal import butter, sosfilt, sosfreqz

SR = 48000

BS1770_TABLE_48K = np.array([
    [1.53512485958697, -2.69169618940638, 1.19839281085285, 1.0, -1.69065929318241, 0.73248077421585],
    [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621],
])
"""K-weighting coefficients at 48 kHz as printed in ITU-R BS.1770-4, Tables 1 and 2."""

Quantity = Literal["integrated", "loudness_range", "true_peak", "momentary_constant",
                   "short_term_constant", "max_momentary", "max_short_term"]


def db_to_amp(db: float) -> float:
    return 10 ** (db / 20)


def sine(freq: float, dbfs: float, seconds: float, sr: int = SR, channels: int = 2,
         phase_deg: float = 0.0) -> np.ndarray:
    """A sine of peak level `dbfs` in every channel, (channels, frames) float32."""
    t = np.arange(round(seconds * sr)) / sr
    wave = db_to_amp(dbfs) * np.sin(2 * np.pi * freq * t + np.deg2rad(phase_deg))
    return np.repeat(wave[None].astype(np.float32), channels, axis=0)


def faded(signal: np.ndarray, seconds: float = 0.01, sr: int = SR) -> np.ndarray:
    """Raised-cosine fade in and out, so an abrupt start does not ring over the true peak."""
    ramp = np.sin(np.linspace(0, np.pi / 2, round(seconds * sr))) ** 2
    out = signal.copy()
    out[:, : ramp.size] *= ramp
    out[:, -ramp.size :] *= ramp[::-1]
    return out


def silence(seconds: float, sr: int = SR, channels: int = 2) -> np.ndarray:
    return np.zeros((channels, round(seconds * sr)), np.float32)


def steps(levels_and_seconds: Sequence[tuple[float | None, float]], sr: int = SR, channels: int = 2,
          freq: float = 1000.0) -> np.ndarray:
    """Consecutive 1 kHz segments (level dBFS, seconds); a None level is digital silence."""
    return np.concatenate([silence(s, sr, channels) if level is None else sine(freq, level, s, sr, channels)
                           for level, s in levels_and_seconds], axis=1)


def surround_50(left_right: float, centre: float, surround: float, seconds: float) -> np.ndarray:
    """5.0 in the 6-channel WAV order L R C LFE Ls Rs, with a silent LFE."""
    levels = [left_right, left_right, centre, None, surround, surround]
    return np.concatenate([silence(seconds, channels=1) if lv is None else sine(1000, lv, seconds, channels=1)
                           for lv in levels])


def bursts(levels: Sequence[float], seconds: float, gaps_s: Sequence[float], freq: float = 1000.0) -> np.ndarray:
    """1 kHz bursts of `seconds` at the given levels, each after a silence from `gaps_s`."""
    parts = []
    for level, gap in zip(levels, gaps_s, strict=True):
        parts += [silence(gap), sine(freq, level, seconds)]
    return np.concatenate(parts + [silence(1.0)], axis=1)


IRREGULAR_GAPS_S = (0.537, 1.213, 0.871, 1.049, 0.333, 1.777, 0.659, 1.111)
"""Burst offsets that are not multiples of the 100 ms block step."""


def k_weighted_power(freqs: Sequence[float], amps: Sequence[float]) -> float:
    """Mean square of Σ amp·sin(2π f t) after K-weighting, from the filter's frequency response
    (48 kHz table): the closed-form reference for multi-tone programme."""
    _, response = sosfreqz(BS1770_TABLE_48K, worN=np.asarray(freqs, float), fs=SR)
    return float(np.sum(np.asarray(amps) ** 2 / 2 * np.abs(response) ** 2))


def multitone(freqs: Sequence[float], relative_db: Sequence[float], lufs: float, seconds: float) -> np.ndarray:
    """Stereo sum of sines (frequencies on a 10 Hz grid, so every 100 ms hop holds whole
    cycles of every beat) scaled to exactly `lufs` by the closed form above."""
    amps = np.array([db_to_amp(d) for d in relative_db])
    per_channel = k_weighted_power(freqs, amps)
    scale = np.sqrt(10 ** ((lufs + 0.691) / 10) / (2 * per_channel))
    t = np.arange(round(seconds * SR)) / SR
    rng = np.random.default_rng(7)
    wave = sum(scale * a * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) for f, a in zip(freqs, amps))
    return np.repeat(wave[None].astype(np.float32), 2, axis=0)


def gaussian_burst(freq: float, peak_dbfs: float, sr: int = SR, width_s: float = 0.001) -> np.ndarray:
    """A Gaussian-windowed cosine whose continuous peak (exactly `peak_dbfs`) falls midway
    between two samples: its sample peak sits cos(π·freq/sr) under the true peak."""
    n = sr
    centre = (n // 2 + 0.5) / sr
    t = np.arange(n) / sr - centre
    wave = db_to_amp(peak_dbfs) * np.exp(-0.5 * (t / width_s) ** 2) * np.cos(2 * np.pi * freq * t)
    return np.repeat(wave[None].astype(np.float32), 2, axis=0)


def pink_noise(seconds: float, sr: int = SR, channels: int = 2, rms_dbfs: float = -20.0, seed: int = 1) -> np.ndarray:
    """1/f-shaped Gaussian noise (20 Hz – 20 kHz) at the given RMS level."""
    rng = np.random.default_rng(seed)
    frames = round(seconds * sr)
    spectrum = np.fft.rfft(rng.standard_normal((channels, frames)), axis=1)
    freqs = np.fft.rfftfreq(frames, 1 / sr)
    band = (freqs >= 20) & (freqs <= 20000)
    spectrum *= np.where(band, 1 / np.sqrt(np.maximum(freqs, 1.0)), 0.0)
    noise = np.fft.irfft(spectrum, n=frames, axis=1)
    noise *= db_to_amp(rms_dbfs) / np.sqrt(np.mean(noise**2))
    return noise.astype(np.float32)


def band_limited_noise(seconds: float, sr: int = SR, cutoff_hz: float = 18000.0, seed: int = 9) -> np.ndarray:
    """Full-scale-ish white noise low-passed under the band where 4× interpolators differ."""
    noise = np.random.default_rng(seed).uniform(-0.9, 0.9, (2, round(seconds * sr)))
    return sosfilt(butter(10, cutoff_hz, fs=sr, output="sos"), noise, axis=1).astype(np.float32)


def drum_pulses(seconds: float, sr: int = SR, bpm: float = 120.0, seed: int = 3) -> np.ndarray:
    """Kick-like decaying 60 Hz thumps with noisy clicks on every beat over a quiet pad: a
    crest factor of ~20 dB, so loud targets cannot be reached without limiting."""
    rng = np.random.default_rng(seed)
    frames = round(seconds * sr)
    out = 0.02 * sine(220, 0.0, seconds, sr, channels=1)[0].astype(np.float64)
    hit = np.arange(round(0.25 * sr)) / sr
    kick = np.sin(2 * np.pi * 60 * hit) * np.exp(-hit / 0.05)
    kick[: round(0.004 * sr)] += rng.uniform(-1, 1, round(0.004 * sr))
    for start in range(0, frames - kick.size, round(60 / bpm * sr)):
        out[start : start + kick.size] += 0.8 * kick
    stereo = np.stack([out, np.roll(out, 7)])
    return (stereo / np.abs(stereo).max() * db_to_amp(-6.0)).astype(np.float32)


def music_like(seconds: float, sr: int = SR, seed: int = 3) -> np.ndarray:
    """Drum pulses under a sustained A-major chord with a high overtone, the chord's partials
    detuned between the channels: programme-like material whose drum peaks sit ~14 dB over
    its loudness, so loud targets need heavy true-peak limiting."""
    t = np.arange(round(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    partials = [(110.0, -26.0), (220.0, -30.0), (277.18, -32.0), (329.63, -32.0), (1760.0, -44.0)]
    chord = np.zeros((2, t.size))
    for freq, level in partials:
        for channel, detune in enumerate((1.0, 1.002)):
            chord[channel] += db_to_amp(level) * np.sin(2 * np.pi * freq * detune * t + rng.uniform(0, 2 * np.pi))
    return (drum_pulses(seconds, sr, seed=seed) + chord).astype(np.float32)


@dataclass(frozen=True)
class Case:
    name: str
    signal: Callable[[], np.ndarray]
    quantity: Quantity
    expected: float
    below: float
    above: float
    sr: int = SR


def _integrated(name: str, signal: Callable[[], np.ndarray], expected: float = -23.0) -> Case:
    return Case(name, signal, "integrated", expected, 0.1, 0.1)


def _true_peak(name: str, signal: Callable[[], np.ndarray], expected: float) -> Case:
    return Case(name, signal, "true_peak", expected, 0.4, 0.2)


TECH_3341: list[Case] = [
    _integrated("3341-1 stereo −23 dBFS 20 s", lambda: sine(1000, -23, 20)),
    _integrated("3341-2 stereo −33 dBFS 20 s", lambda: sine(1000, -33, 20), -33.0),
    _integrated("3341-3 −36/−23/−36 relative gate", lambda: steps([(-36, 10), (-23, 60), (-36, 10)])),
    _integrated("3341-4 −72/−36/−23/−36/−72 both gates",
                lambda: steps([(-72, 10), (-36, 10), (-23, 60), (-36, 10), (-72, 10)])),
    _integrated("3341-5 −26/−20/−26", lambda: steps([(-26, 20), (-20, 20.1), (-26, 20)])),
    _integrated("3341-6 5.0 channel weights", lambda: surround_50(-28, -24, -30, 20)),
    _integrated("3341-7 synthetic programme: chord with overtones",
                lambda: multitone([110, 220, 330, 440, 550, 660, 880, 1320, 2640], [0, -3, -6, -4, -9, -8, -12, -15, -20],
                                  -23.0, 30)),
    _integrated("3341-8 synthetic programme: bass, mids and treble",
                lambda: multitone([40, 60, 80, 250, 2000, 5000, 8000, 12000], [0, -2, -5, -8, -12, -14, -18, -24],
                                  -23.0, 30)),
    Case("3341-9 short-term constant", lambda: steps([(-20, 1.34), (-30, 1.66)] * 5),
         "short_term_constant", -23.0, 0.1, 0.1),
    Case("3341-10 short-term max, bursts at irregular offsets",
         lambda: bursts([-23.0] * 8, 3.2, IRREGULAR_GAPS_S), "max_short_term", -23.0, 0.1, 0.1),
    Case("3341-11 short-term max, bursts at varying levels",
         lambda: bursts([-30, -27, -25, -23, -24, -26, -29, -31], 3.5, IRREGULAR_GAPS_S),
         "max_short_term", -23.0, 0.1, 0.1),
    Case("3341-12 momentary constant", lambda: steps([(-20, 0.18), (-30, 0.22)] * 25),
         "momentary_constant", -23.0, 0.1, 0.1),
    Case("3341-13 momentary max, bursts at irregular offsets",
         lambda: bursts([-23.0] * 8, 0.5, IRREGULAR_GAPS_S), "max_momentary", -23.0, 0.1, 0.1),
    Case("3341-14 momentary max, bursts at varying levels",
         lambda: bursts([-31, -27, -23, -25, -24, -28, -26, -30], 0.6, IRREGULAR_GAPS_S),
         "max_momentary", -23.0, 0.1, 0.1),
    _true_peak("3341-15 fs/4 sine, 0° (samples on the crest)", lambda: faded(sine(SR / 4, -6, 2, phase_deg=0)), -6.0),
    _true_peak("3341-16 fs/4 sine, 45° (samples 3 dB under)", lambda: faded(sine(SR / 4, -6, 2, phase_deg=45)), -6.0),
    _true_peak("3341-17 fs/6 sine, 60°", lambda: faded(sine(SR / 6, -6, 2, phase_deg=60)), -6.0),
    _true_peak("3341-18 fs/8 sine, 67.5°", lambda: faded(sine(SR / 8, -6, 2, phase_deg=67.5)), -6.0),
    _true_peak("3341-19 fs/4 sine, 45°, samples at 0 dBFS", lambda: faded(sine(SR / 4, 20 * np.log10(2) / 2, 2,
                                                                                phase_deg=45)), 3.01),
    _true_peak("3341-20 5 kHz burst, peak between samples", lambda: gaussian_burst(5000, 0.0), 0.0),
    _true_peak("3341-21 10 kHz burst, peak between samples", lambda: gaussian_burst(10000, 0.0), 0.0),
    _true_peak("3341-22 15 kHz burst, peak between samples", lambda: gaussian_burst(15000, 0.0), 0.0),
    _true_peak("3341-23 19 kHz burst, peak between samples", lambda: gaussian_burst(19000, 0.0), 0.0),
]


def _lra(name: str, segments: Sequence[tuple[float, float]], expected: float,
         layout: Callable[[np.ndarray], np.ndarray] | None = None) -> Case:
    def build() -> np.ndarray:
        signal = steps(segments)
        return signal if layout is None else layout(signal)
    return Case(name, build, "loudness_range", expected, 1.0, 1.0)


def as_51(stereo: np.ndarray) -> np.ndarray:
    """The left channel copied to L R C Ls Rs with a silent LFE."""
    mono = stereo[:1]
    return np.concatenate([mono, mono, mono, np.zeros_like(mono), mono, mono])


TECH_3342: list[Case] = [
    _lra("3342-1 −20/−30", [(-20, 20), (-30, 20)], 10.0),
    _lra("3342-2 −20/−15", [(-20, 20), (-15, 20)], 5.0),
    _lra("3342-3 −40/−20", [(-40, 20), (-20, 20)], 20.0),
    _lra("3342-4 −50/−35/−20/−35/−50", [(-50, 20), (-35, 20), (-20, 20), (-35, 20), (-50, 20)], 15.0),
    _lra("3342-5 −20/−15/−20", [(-20, 20), (-15, 20), (-20, 20)], 5.0),
    _lra("3342-6 case 4 in 5.1", [(-50, 20), (-35, 20), (-20, 20), (-35, 20), (-50, 20)], 15.0, as_51),
]
