"""Sample-level editing: cut, fade, join, mix, place in the stereo field, find silence and the
most representative segment.

Audio is float32 `(channels, frames)` with its sample rate passed beside it. Every op that
returns audio at the input's rate takes `(samples, sr, ...)` and returns the new array, so a
pipeline can chain them; ops that may change the rate (`concat`, `mix`) also return the rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal, NamedTuple

import numpy as np

from ..errors import ToolError
from ..progress import NEVER, CancelToken, ProgressFn, no_progress
from .resample import remix, resample

FadeCurve = Literal["linear", "exponential", "logarithmic", "equal_power", "s_curve"]
FADE_CURVES: tuple[str, ...] = FadeCurve.__args__

LONGEST_RESULT_S = 4 * 3600.0
"""Cap on audio an op creates from nothing (loops), so a typo cannot fill the memory."""

SILENCE_HOP_S = 0.01
"""Granularity of silence detection: RMS is measured over consecutive 10 ms windows."""

_EXP_RANGE = 1000.0
"""Exponential and logarithmic fades span 60 dB (a factor of 1000) before reaching zero."""


@dataclass(frozen=True)
class Span:
    """A region of a signal: exact frame indices plus the same bounds in seconds."""

    start_frame: int
    end_frame: int
    start_s: float
    end_s: float

    @classmethod
    def of(cls, start: int, end: int, sr: int) -> Span:
        return cls(int(start), int(end), round(start / sr, 4), round(end / sr, 4))

    @property
    def frames(self) -> int:
        return self.end_frame - self.start_frame


def duration_s(samples: np.ndarray, sr: int) -> float:
    return samples.shape[-1] / sr


# --- cutting and repeating -------------------------------------------------------------------


def trim(samples: np.ndarray, sr: int, start_s: float, end_s: float | None = None) -> np.ndarray:
    """Keep `[start_s, end_s)`; bounds become frames by rounding (`round(t * sr)`), so a trim
    is sample-exact and two adjacent trims share no sample."""
    n = samples.shape[-1]
    total = n / sr
    if start_s < 0:
        raise ToolError(f"start_s must be >= 0 (got {start_s}).")
    # Compare in seconds first: a huge time would overflow the frame arithmetic.
    start = round(min(start_s, total + 1) * sr)
    end = n if end_s is None else round(min(end_s, total + 1) * sr)
    if start >= n:
        raise ToolError(f"start_s {start_s} is at or past the end (duration {total:.3f} s).")
    if end > n:
        raise ToolError(
            f"end_s {end_s} is past the end (duration {total:.3f} s); omit end_s to keep "
            "everything to the end."
        )
    if end <= start:
        raise ToolError(
            f"empty selection: end_s ({end_s}) must be after start_s ({start_s}) by at least "
            "one sample."
        )
    return np.ascontiguousarray(samples[:, start:end])


def reverse(samples: np.ndarray, sr: int) -> np.ndarray:
    """Play backwards."""
    return np.ascontiguousarray(samples[:, ::-1])


def loop(samples: np.ndarray, sr: int, count: int) -> np.ndarray:
    """Repeat the whole clip `count` times back to back (count=1 returns a copy)."""
    if count < 1:
        raise ToolError(f"count must be at least 1 (got {count}).")
    if samples.shape[-1] * count > LONGEST_RESULT_S * sr:
        raise ToolError(
            f"{count} loops would last {duration_s(samples, sr) * count / 3600:.1f} h; the limit "
            f"is {LONGEST_RESULT_S / 3600:.0f} h. Use fewer loops."
        )
    return np.tile(samples, (1, count))


# --- fades -----------------------------------------------------------------------------------


def fade_gain(t: np.ndarray, curve: FadeCurve) -> np.ndarray:
    """Gain of a fade-in at progress `t` in [0, 1] (0 = silent start, 1 = full level).

    - linear:       g = t                                  (g(½) = 0.5)
    - exponential:  g = (1000^t − 1) / 999                 slow start, 60 dB span (g(½) ≈ 0.0307)
    - logarithmic:  g = log(1 + 999 t) / log(1000)         fast start; inverse of exponential
                                                           (g(½) ≈ 0.8997)
    - equal_power:  g = sin(π t / 2)                       power-complementary with its
                                                           fade-out cos(π t / 2) (g(½) = √½)
    - s_curve:      g = (1 − cos(π t)) / 2                 raised cosine (g(½) = 0.5)
    """
    t = np.asarray(t, dtype=np.float64)
    if curve == "linear":
        return t
    if curve == "exponential":
        return np.expm1(t * math.log(_EXP_RANGE)) / (_EXP_RANGE - 1)
    if curve == "logarithmic":
        return np.log1p((_EXP_RANGE - 1) * t) / math.log(_EXP_RANGE)
    if curve == "equal_power":
        return np.sin(0.5 * np.pi * t)
    if curve == "s_curve":
        return 0.5 - 0.5 * np.cos(np.pi * t)
    raise ToolError(f"unknown fade curve {curve!r}; choose one of {', '.join(FADE_CURVES)}.")


def _fade_in_ramp(frames: int, curve: FadeCurve) -> np.ndarray:
    """Per-sample gains of a fade-in over `frames` samples: sample i sits at t = i / frames, so
    the first sample is silent and the sample after the ramp is at full level."""
    return fade_gain(np.arange(frames) / frames, curve).astype(np.float32)


def fade(
    samples: np.ndarray,
    sr: int,
    in_s: float = 0.0,
    out_s: float = 0.0,
    curve: FadeCurve = "linear",
) -> np.ndarray:
    """Fade in over the first `in_s` seconds and out over the last `out_s` seconds.

    The fade-out is the fade-in mirrored in time (the last sample is silent), so both ends of
    a clip sound alike with any curve.
    """
    n = samples.shape[-1]
    if in_s < 0 or out_s < 0:
        raise ToolError("fade lengths must be >= 0 seconds.")
    fade_in, fade_out = round(in_s * sr), round(out_s * sr)
    if fade_in + fade_out > n:
        raise ToolError(
            f"fades of {in_s} s in + {out_s} s out are longer than the clip "
            f"({n / sr:.3f} s); shorten them."
        )
    if curve not in FADE_CURVES:
        raise ToolError(f"unknown fade curve {curve!r}; choose one of {', '.join(FADE_CURVES)}.")
    out = samples.astype(np.float32, copy=True)
    if fade_in:
        out[:, :fade_in] *= _fade_in_ramp(fade_in, curve)
    if fade_out:
        out[:, n - fade_out :] *= _fade_in_ramp(fade_out, curve)[::-1]
    return out


# --- channels and the stereo field -----------------------------------------------------------


def pan_gains(position: float) -> tuple[float, float]:
    """Constant-power pan law: θ = (p + 1)·π/4, L = cos θ, R = sin θ, so L² + R² = 1 and the
    centre (p = 0) sits at −3.01 dB on each side."""
    if not -1.0 <= position <= 1.0:
        raise ToolError(f"pan position must be in [-1, 1] (got {position}); -1 = left, 1 = right.")
    theta = (position + 1.0) * math.pi / 4.0
    return math.cos(theta), math.sin(theta)


def pan(samples: np.ndarray, sr: int, position: float) -> np.ndarray:
    """Place audio in the stereo field; always returns stereo.

    Mono: the constant-power law of `pan_gains`. Stereo: a balance control built on the same
    law but unity at the centre — each side's gain is min(1, √2·law), so the side the sound
    moves toward stays untouched and the other side fades out.
    """
    left, right = pan_gains(position)
    if samples.shape[0] == 1:
        return np.concatenate([samples * np.float32(left), samples * np.float32(right)])
    if samples.shape[0] != 2:
        raise ToolError(f"pan needs mono or stereo audio (got {samples.shape[0]} channels).")
    gains = np.minimum(1.0, math.sqrt(2.0) * np.array([left, right]))
    return samples * gains.astype(np.float32)[:, None]


def _require_stereo(samples: np.ndarray, what: str) -> None:
    if samples.shape[0] != 2:
        raise ToolError(f"{what} needs stereo audio (got {samples.shape[0]} channel(s)).")


def mid_side(samples: np.ndarray, sr: int, mode: Literal["encode", "decode"]) -> np.ndarray:
    """encode: L/R → M = (L + R)/2, S = (L − R)/2 in channels 0/1.
    decode: M/S → L = M + S, R = M − S. decode(encode(x)) == x up to float rounding."""
    _require_stereo(samples, "mid_side")
    a, b = samples[0], samples[1]
    if mode == "encode":
        return np.stack([(a + b) * np.float32(0.5), (a - b) * np.float32(0.5)])
    if mode == "decode":
        return np.stack([a + b, a - b])
    raise ToolError(f"mode must be 'encode' or 'decode' (got {mode!r}).")


def stereo_width(samples: np.ndarray, sr: int, width: float) -> np.ndarray:
    """Scale the side signal: 0 = mono, 1 = unchanged, 2 = side doubled. Mid is untouched, so
    the mono fold-down does not change."""
    if not 0.0 <= width <= 2.0:
        raise ToolError(f"width must be in [0, 2] (got {width}); 1 leaves the audio unchanged.")
    encoded = mid_side(samples, sr, "encode")
    encoded[1] *= np.float32(width)
    return mid_side(encoded, sr, "decode")


# --- joining ---------------------------------------------------------------------------------


def _conform(items: Sequence[tuple[np.ndarray, int]], target_sr: int | None) -> tuple[list, int]:
    """Bring every input to one rate (given, else the first input's) and the first input's
    channel count (mono ↔ stereo, 5.1 → stereo; other changes are refused)."""
    if not items:
        raise ToolError("no inputs given; pass at least one.")
    sr = int(target_sr or items[0][1])
    channels = items[0][0].shape[0]
    return [remix(resample(x, rate, sr), channels) for x, rate in items], sr


def concat(
    items: Sequence[tuple[np.ndarray, int]],
    target_sr: int | None = None,
    crossfade_s: float = 0.0,
) -> tuple[np.ndarray, int]:
    """Join clips end to end, optionally overlapping each joint by `crossfade_s` with an
    equal-power crossfade. Returns `(samples, sr)`; the rate is `target_sr` or the first
    input's, the channel count the first input's."""
    parts, sr = _conform(items, target_sr)
    overlap = round(crossfade_s * sr)
    if overlap < 0:
        raise ToolError("crossfade_s must be >= 0.")
    shortest = min(p.shape[-1] for p in parts)
    if overlap and len(parts) > 1 and overlap > shortest:
        raise ToolError(
            f"crossfade of {crossfade_s} s is longer than the shortest input "
            f"({shortest / sr:.3f} s); shorten it."
        )
    if not overlap or len(parts) == 1:
        return np.concatenate(parts, axis=1), sr
    # complementary gains at every sample of the overlap: in² + out² = 1
    t = np.arange(overlap) / overlap
    ramp_in = fade_gain(t, "equal_power").astype(np.float32)
    ramp_out = fade_gain(1.0 - t, "equal_power").astype(np.float32)
    total = sum(p.shape[-1] for p in parts) - overlap * (len(parts) - 1)
    out = np.zeros((parts[0].shape[0], total), dtype=np.float32)
    pos = 0
    for i, part in enumerate(parts):
        part = part.astype(np.float32, copy=True)
        if i > 0:
            part[:, :overlap] *= ramp_in
        if i < len(parts) - 1:
            part[:, -overlap:] *= ramp_out
        out[:, pos : pos + part.shape[-1]] += part
        pos += part.shape[-1] - overlap
    return out, sr


class MixTrack(NamedTuple):
    """One input of `mix`; plain `(samples, sr, gain_db, pan, offset_s)` tuples work too."""

    samples: np.ndarray
    sr: int
    gain_db: float = 0.0
    pan: float | None = None
    offset_s: float = 0.0


@dataclass(frozen=True)
class MixReport:
    """What `mix` did to the level of the sum."""

    peak_before_db: float | None
    gain_db: float
    peak_db: float | None
    action: Literal["none", "normalized", "reduced_to_avoid_clipping"]


def peak_db(samples: np.ndarray) -> float | None:
    """Sample peak in dBFS rounded to 0.01 dB, None for digital silence."""
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    return round(20 * math.log10(peak), 2) if peak > 0 else None


def mix(
    tracks: Sequence[MixTrack | tuple],
    normalize: bool = False,
    ceiling_db: float = -1.0,
    target_sr: int | None = None,
) -> tuple[np.ndarray, int, MixReport]:
    """Sum tracks, each with its gain, pan and start offset. Returns `(samples, sr, report)`.

    Layout: stereo if any track is stereo or panned, else mono; the rate is `target_sr` or the
    first track's. Level policy (reported in `MixReport.action`):
    - `normalize=True`: the sum is scaled so its sample peak equals `ceiling_db`.
    - otherwise the sum is left as is unless it would clip (peak above 0 dBFS); then it is
      scaled down to `ceiling_db`. Individual track balance is always preserved.
    """
    tracks = [MixTrack(*t) for t in tracks]
    if not tracks:
        raise ToolError("mix needs at least one track.")
    sr = int(target_sr or tracks[0].sr)
    stereo = any(t.samples.shape[0] == 2 or t.pan is not None for t in tracks)
    placed = []
    for t in tracks:
        if t.offset_s < 0:
            raise ToolError(f"offset_s must be >= 0 (got {t.offset_s}).")
        if t.samples.shape[0] > 2:
            raise ToolError(f"mix takes mono or stereo tracks (got {t.samples.shape[0]} channels).")
        audio = resample(t.samples, t.sr, sr)
        if t.pan is not None:
            audio = pan(audio, sr, t.pan)
        audio = remix(audio, 2 if stereo else 1)
        placed.append((round(t.offset_s * sr), audio * np.float32(10 ** (t.gain_db / 20))))
    length = max(offset + a.shape[-1] for offset, a in placed)
    if length > LONGEST_RESULT_S * sr:
        raise ToolError(f"the mix would last {length / sr / 3600:.1f} h; reduce the offsets.")
    out = np.zeros((2 if stereo else 1, length), dtype=np.float32)
    for offset, audio in placed:
        out[:, offset : offset + audio.shape[-1]] += audio
    before = peak_db(out)
    action = "none"
    gain = 0.0
    if before is not None and (normalize or before > 0.0):
        gain = ceiling_db - before
        out *= np.float32(10 ** (gain / 20))
        action = "normalized" if normalize else "reduced_to_avoid_clipping"
    return out, sr, MixReport(before, round(gain, 2), peak_db(out), action)


# --- speed -----------------------------------------------------------------------------------


def change_speed(
    samples: np.ndarray,
    sr: int,
    factor: float,
    *,
    progress: ProgressFn = no_progress,
    cancel: CancelToken = NEVER,
) -> np.ndarray:
    """Play faster or slower like tape: duration ÷ factor, pitch × factor (factor 2 = twice as
    fast, an octave up). The result has round(frames / factor) frames."""
    if not 0.25 <= factor <= 4.0:
        raise ToolError(f"factor must be between 0.25 and 4 (got {factor}).")
    if factor == 1.0:
        return samples.copy()
    # the samples are read as if recorded at sr × factor and brought back to sr
    out = resample(samples, sr * factor, sr, progress=progress, cancel=cancel)
    want = round(samples.shape[-1] / factor)
    have = out.shape[-1]
    if have >= want:
        return np.ascontiguousarray(out[:, :want])
    return np.pad(out, ((0, 0), (0, want - have)))


# --- silence ---------------------------------------------------------------------------------


def _window_levels_db(samples: np.ndarray, sr: int) -> tuple[np.ndarray, int]:
    """RMS level in dBFS of consecutive 10 ms windows (loudest channel), and the window size."""
    hop = max(1, round(SILENCE_HOP_S * sr))
    n = samples.shape[-1]
    count = -(-n // hop)
    padded = np.zeros((samples.shape[0], count * hop), dtype=np.float32)
    padded[:, :n] = samples
    windows = padded.reshape(samples.shape[0], count, hop)
    power = np.einsum("cwh,cwh->cw", windows, windows) / hop
    # the last window is only partly filled: average over the samples it really has
    power[:, -1] *= hop / (n - (count - 1) * hop)
    return 10 * np.log10(np.maximum(power.max(axis=0), 1e-20)), hop


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index pairs of the True runs in a boolean array."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def detect_silence(
    samples: np.ndarray, sr: int, threshold_db: float = -50.0, min_duration_s: float = 0.5
) -> list[Span]:
    """Regions at least `min_duration_s` long whose 10 ms RMS stays below `threshold_db` dBFS
    on every channel. Bounds fall on 10 ms steps (clamped to the signal's end)."""
    if min_duration_s < 0:
        raise ToolError("min_duration_s must be >= 0.")
    levels, hop = _window_levels_db(samples, sr)
    n = samples.shape[-1]
    spans = []
    for a, b in _runs(levels < threshold_db):
        start, end = a * hop, min(n, b * hop)
        if end - start >= min_duration_s * sr:
            spans.append(Span.of(start, end, sr))
    return spans


def _sounding(frames: int, silences: list[Span]) -> list[tuple[int, int]]:
    """The frame ranges of a `frames`-long signal between the given (sorted) silences."""
    bounds, pos = [], 0
    for s in silences:
        if s.start_frame > pos:
            bounds.append((pos, s.start_frame))
        pos = s.end_frame
    if pos < frames:
        bounds.append((pos, frames))
    return bounds


def _padded(bounds: list[tuple[int, int]], pad: int, n: int) -> list[tuple[int, int]]:
    """Widen each range by `pad` frames on both sides, never past the signal's ends nor past
    the middle of the silence it shares with a neighbour."""
    out = []
    for i, (a, b) in enumerate(bounds):
        lo, hi = max(0, a - pad), min(n, b + pad)
        if i > 0:
            lo = max(lo, (bounds[i - 1][1] + a) // 2)
        if i < len(bounds) - 1:
            hi = min(hi, (b + bounds[i + 1][0]) // 2)
        out.append((lo, hi))
    return out


def split(
    samples: np.ndarray,
    sr: int,
    mode: Literal["equal", "silence"] = "equal",
    parts: int = 2,
    threshold_db: float = -50.0,
    min_silence_s: float = 0.5,
    pad_s: float = 0.1,
) -> list[Span]:
    """Where to cut a recording: `equal` gives `parts` spans of equal length (±1 frame);
    `silence` gives the sounding regions between silences of at least `min_silence_s`, each
    widened by `pad_s` of the silence around it."""
    n = samples.shape[-1]
    if mode == "equal":
        if not 1 <= parts <= n:
            raise ToolError(f"parts must be between 1 and the number of frames (got {parts}).")
        edges = [round(i * n / parts) for i in range(parts + 1)]
        return [Span.of(a, b, sr) for a, b in pairwise(edges)]
    if mode != "silence":
        raise ToolError(f"mode must be 'equal' or 'silence' (got {mode!r}).")
    bounds = _sounding(n, detect_silence(samples, sr, threshold_db, min_silence_s))
    if not bounds:
        raise ToolError(f"the audio is silent below {threshold_db} dBFS; lower threshold_db.")
    return [Span.of(a, b, sr) for a, b in _padded(bounds, round(pad_s * sr), n)]


def strip_silence(
    samples: np.ndarray,
    sr: int,
    mode: Literal["edges", "all"] = "edges",
    threshold_db: float = -50.0,
    min_silence_s: float = 0.5,
    pad_s: float = 0.05,
) -> np.ndarray:
    """Remove silence below `threshold_db` dBFS. `edges`: leading and trailing silence of any
    length; `all`: also every inner silence of at least `min_silence_s`, which shrinks to
    2 × `pad_s`. `pad_s` of silence is kept next to the sound so onsets and tails survive."""
    if mode not in ("edges", "all"):
        raise ToolError(f"mode must be 'edges' or 'all' (got {mode!r}).")
    n = samples.shape[-1]
    silences = [
        s
        for s in detect_silence(samples, sr, threshold_db, 0.0)
        if s.start_frame == 0 or s.end_frame == n or (mode == "all" and s.frames >= min_silence_s * sr)
    ]
    bounds = _sounding(n, silences)
    if not bounds:
        raise ToolError(f"the audio is silent below {threshold_db} dBFS; nothing would remain.")
    pad = round(pad_s * sr)
    return np.concatenate([samples[:, a:b] for a, b in _padded(bounds, pad, n)], axis=1)


def slice_points_at_beats(
    beat_times: Sequence[float], sr: int, frames: int, beats_per_slice: int = 1
) -> list[Span]:
    """Spans from beat to beat (every `beats_per_slice` beats, e.g. 4 for bars in 4/4). Audio
    before the first beat becomes its own span when longer than 10 ms; the last span runs to
    the end."""
    if beats_per_slice < 1:
        raise ToolError("beats_per_slice must be at least 1.")
    cuts = sorted({round(t * sr) for t in beat_times if 0 <= t * sr < frames})
    if not cuts:
        raise ToolError("no beats fall inside the audio; nothing to slice.")
    cuts = cuts[::beats_per_slice]
    if cuts[0] < SILENCE_HOP_S * sr:
        cuts[0] = 0
    else:
        cuts.insert(0, 0)
    cuts.append(frames)
    return [Span.of(a, b, sr) for a, b in pairwise(cuts)]


# --- thumbnail -------------------------------------------------------------------------------

_FEATURE_FRAME_S = 0.093  # analysis hop (and half the window): about 11 feature frames a second
_SMOOTH_FRAMES = 11  # ≈ 1 s moving average, so single notes do not dominate
_SHARPNESS = 10.0  # κ: similarity 0.9 counts 0.37, 0.7 counts 0.05


def _feature_hop(sr: int) -> int:
    """A power-of-two hop near 93 ms (2048 at 22.05 kHz, 4096 at 44.1/48 kHz)."""
    return 1 << round(math.log2(sr * _FEATURE_FRAME_S))


def _pitch_classes(freqs: np.ndarray) -> np.ndarray:
    """(12, bins) 0/1 matrix folding FFT bins of 55 Hz–5 kHz onto their nearest pitch class."""
    audible = (freqs >= 55.0) & (freqs <= 5000.0)
    classes = np.round(12 * np.log2(np.where(audible, freqs, 440.0) / 440.0)).astype(int) % 12
    return (np.arange(12)[:, None] == classes[None, :]) & audible[None, :]


def _band_energies(power: np.ndarray, freqs: np.ndarray, bands: int = 24) -> np.ndarray:
    """Power summed in `bands` mel-spaced bands from 60 Hz to 11 kHz (or Nyquist)."""
    top = min(11025.0, float(freqs[-1]))
    mel = np.linspace(2595 * np.log10(1 + 60 / 700), 2595 * np.log10(1 + top / 700), bands + 1)
    edges = np.unique(np.searchsorted(freqs, 700 * (10 ** (mel / 2595) - 1)))
    return np.add.reduceat(power[: edges[-1]], edges[:-1], axis=0)


def _features(samples: np.ndarray, sr: int, cancel: CancelToken) -> np.ndarray:
    """Per-frame chroma (harmony) and a spectral-envelope shape (timbre, like MFCCs without the
    level term), each smoothed over ≈ 1 s and unit-normalised; rows are frames."""
    from scipy.ndimage import uniform_filter1d

    from .mir_features import stft_magnitude

    hop = _feature_hop(sr)
    power = stft_magnitude(samples.mean(axis=0, dtype=np.float32), 2 * hop, hop) ** 2
    cancel.check()
    freqs = np.arange(power.shape[0]) * sr / (2 * hop)
    chroma = _pitch_classes(freqs) @ power
    timbre = np.log10(_band_energies(power, freqs) + 1e-10)
    timbre -= timbre.mean(axis=0, keepdims=True)  # each frame's overall level
    timbre -= timbre.mean(axis=1, keepdims=True)  # the track's average envelope
    feats = []
    for f in (chroma, timbre):
        f = uniform_filter1d(f, _SMOOTH_FRAMES, axis=1, mode="nearest")
        feats.append(f / np.maximum(np.linalg.norm(f, axis=0, keepdims=True), 1e-9))
    return (np.concatenate(feats).T / math.sqrt(2.0)).astype(np.float32)


def _off_band_row_sums(similarity: np.ndarray, width: int) -> np.ndarray:
    """Row sums of a square matrix leaving out the band |i − j| < width around the diagonal."""
    rows = similarity.sum(axis=1, dtype=np.float64)
    for k in range(-(width - 1), width):
        band = np.diagonal(similarity, k)
        rows[max(0, -k) : max(0, -k) + band.size] -= band
    return rows


def thumbnail(
    samples: np.ndarray,
    sr: int,
    duration_s: float = 30.0,
    *,
    progress: ProgressFn = no_progress,
    cancel: CancelToken = NEVER,
) -> Span:
    """The most representative `duration_s` segment: the window whose frames are, summed,
    most similar (sharpened cosine of chroma + spectral envelope) to the frames elsewhere in the
    track — the part that recurs most, like a chorus."""
    n = samples.shape[-1]
    if duration_s <= 0:
        raise ToolError("duration_s must be > 0.")
    if duration_s * sr >= n:
        return Span.of(0, n, sr)
    progress(0, 2, "features")
    feats = _features(samples, sr, cancel)
    progress(1, 2, "self-similarity")
    hop = _feature_hop(sr)
    frames = feats.shape[0]
    win = max(1, min(frames, round(duration_s * sr / hop)))
    # each frame's summed similarity to the frames at least one window away (so a long static
    # stretch does not count as its own repeat), then summed over every window;
    # exp(κ(cos − 1)) keeps near-repeats (cos ≈ 1) and discounts merely related material
    similarity = feats @ feats.T
    similarity -= 1.0
    similarity *= _SHARPNESS
    np.exp(similarity, out=similarity)
    rows = _off_band_row_sums(similarity, win)
    cumulative = np.concatenate([[0.0], rows.cumsum()])
    score = cumulative[win:] - cumulative[:-win]
    best = int(np.argmax(score))
    progress(2, 2, "done")
    start = min(best * hop, n - round(duration_s * sr))
    return Span.of(start, start + round(duration_s * sr), sr)
