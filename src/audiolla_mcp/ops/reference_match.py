"""matchering's mastering stages (`matchering.stages.main`, limited result) on float32 arrays.

matchering 2.0.6 works in float64 on (frames, 2) arrays, convolves the whole track with its
correction FIRs in one FFT and rewrites the track at each of its level steps: about 3 s of CPU
for a 3-min track. This is the same algorithm with the same settings (matchering's `Config`),
its FIR design (`get_fir`) and limiter (`limit`) called as they are, with the full-length work
cut down:
- gains commute with the (linear) convolution, so the level match and the RMS correction steps
  only compute gains, and the product is applied once, to the final left/right pair; each
  correction step measures `clip(gain * mid)` without rewriting the track;
- the FIRs are applied in float32 by overlap-add (scipy `oaconvolve`), mid and side in one call;
- RMS of all pieces at once over a (pieces, frames) view of the track.
The result differs from matchering's by float32 rounding (under 1e-6 of full scale on music).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matchering import Config
from matchering.limiter import limit
from matchering.stage_helpers import get_fir
from scipy.signal import oaconvolve

from ..errors import ToolError
from ..progress import NEVER, CancelToken, ProgressFn, no_progress

STEPS = 4


@dataclass(frozen=True)
class _Pieces:
    """How matchering cuts a track for its level analysis: `count` equal pieces of `size`
    frames, none longer than `Config.max_piece_size`; the frames left over are not measured."""

    count: int
    size: int

    @classmethod
    def of(cls, frames: int, config: Config) -> _Pieces:
        count = int(frames / config.max_piece_size) + 1
        return cls(count, int(frames / count))

    def split(self, signal: np.ndarray) -> np.ndarray:
        return signal[: self.count * self.size].reshape(self.count, self.size)

    def rms(self, signal: np.ndarray) -> np.ndarray:
        """RMS of every piece, accumulated in float64 as matchering's are."""
        return np.sqrt(np.square(self.split(signal)).sum(axis=1, dtype=np.float64) / self.size)


@dataclass(frozen=True)
class _Levels:
    """A track as matchering's level analysis sees it."""

    mid_side: np.ndarray
    """(2, frames) float32: mid = (L + R) / 2, side = mid - R."""
    pieces: _Pieces
    loudest: np.ndarray
    """Indices of the pieces whose RMS is at least the RMS of all pieces' RMS."""
    match_rms: float
    """RMS of the loudest pieces' RMS: the level matchering matches."""

    def loudest_pieces(self, channel: int, gain: float = 1.0) -> np.ndarray:
        return self.pieces.split(self.mid_side[channel])[self.loudest] * np.float32(gain)


def _rms(values: np.ndarray) -> float:
    return float(np.sqrt(values @ values / values.size))


def _loudest(rmses: np.ndarray) -> tuple[np.ndarray, float]:
    loudest = np.flatnonzero(rmses >= _rms(rmses))
    return loudest, _rms(rmses[loudest])


def _mid_side(stereo: np.ndarray) -> np.ndarray:
    out = np.empty(stereo.shape, np.float32)
    np.add(stereo[0], stereo[1], out=out[0])
    out[0] *= np.float32(0.5)
    np.subtract(out[0], stereo[1], out=out[1])
    return out


def _levels(stereo: np.ndarray, what: str, config: Config) -> _Levels:
    """The analysis, refused where matchering's fails (it takes the log of a zero level)."""
    mid_side = _mid_side(stereo)
    pieces = _Pieces.of(stereo.shape[-1], config)
    loudest, match_rms = _loudest(pieces.rms(mid_side[0]))
    if match_rms == 0:
        raise ToolError(f"the {what} is silent, or its left and right channels cancel out; "
                        "matchering needs a signal in both tracks to match them")
    return _Levels(mid_side, pieces, loudest, match_rms)


def _peak_normalizer(reference: np.ndarray, config: Config) -> float:
    """matchering's `normalize_reference` coefficient: a reference quieter than the threshold is
    measured as if brought up to it, and the result is scaled back by the same factor at the end."""
    peak = float(np.abs(reference).max())
    return max(config.min_value, peak / config.threshold) if peak < config.threshold else 1.0


def _gain_to(level: float, reference_level: float, config: Config) -> float:
    return reference_level / max(config.min_value, level)


def _corrected_gain(mid: np.ndarray, gain: float, pieces: _Pieces, reference_rms: float,
                    config: Config) -> float:
    """matchering's RMS correction steps: the loudest pieces of the clipped mid, once amplified,
    should sit at the reference's level; each step re-measures after the previous gain."""
    for _ in range(config.rms_correction_steps):
        clipped = np.clip(mid * np.float32(gain), -1.0, 1.0)
        _, level = _loudest(pieces.rms(clipped))
        gain *= _gain_to(level, reference_rms, config)
    return gain


def _left_right(mid_side: np.ndarray, gain: float) -> np.ndarray:
    out = np.empty(mid_side.shape, np.float32)
    np.add(mid_side[0], mid_side[1], out=out[0])
    np.subtract(mid_side[0], mid_side[1], out=out[1])
    out *= np.float32(gain)
    return out


def match_reference(target: np.ndarray, reference: np.ndarray, *, progress: ProgressFn = no_progress,
                    cancel: CancelToken = NEVER) -> np.ndarray:
    """Master `target` after `reference`, both (2, frames) float32 at 44.1 kHz and longer than
    matchering's FFT size: what `matchering.stages.main` returns with the limiter, as (2, frames)
    float32."""
    config = Config()
    _stage(0, "matching levels", progress, cancel)
    final_gain = _peak_normalizer(reference, config)
    theirs = _levels(reference / np.float32(final_gain), "reference", config)
    mine = _levels(target, "target", config)
    gain = _gain_to(mine.match_rms, theirs.match_rms, config)
    _stage(1, "matching frequencies", progress, cancel)
    firs = np.stack([get_fir(mine.loudest_pieces(ch, gain), theirs.loudest_pieces(ch), name, config)
                     for ch, name in enumerate(("mid", "side"))])
    equalized = oaconvolve(mine.mid_side, firs.astype(np.float32), "same", axes=-1)
    _stage(2, "correcting levels", progress, cancel)
    gain = _corrected_gain(equalized[0], gain, mine.pieces, theirs.match_rms, config)
    _stage(3, "limiting", progress, cancel)
    limited = limit(_left_right(equalized, gain).T, config)
    out = np.empty(target.shape, np.float32)
    np.multiply(limited.T, final_gain, out=out, casting="same_kind")
    progress(STEPS, STEPS, "limiting")
    return out


def _stage(done: int, name: str, progress: ProgressFn, cancel: CancelToken) -> None:
    cancel.check()
    progress(done, STEPS, name)
