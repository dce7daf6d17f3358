"""Mastering: match a reference track (matchering) or run a named chain to a loudness target.

The reference mode runs matchering's processing stages on arrays (`reference_match`, the part of
`matchering.process` after it has read its two files): the checks `process` makes first
(length, channels, sample rate, equality) are made here, and no file is written or read.
Inputs are resampled to 44.1 kHz here first, so matchering never falls back to its own, much
slower resampler. matchering is imported by the reference mode alone: the chains do not need
its import time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ToolError
from ..progress import NEVER, CancelToken, ProgressFn, no_progress
from . import effect_specs as fx_specs
from .effect_specs import ChainName
from .fx import fx_chain
from .loudness import measure, normalize
from .resample import remix, resample

MATCHERING_SR = 44100
MIN_SECONDS, MAX_SECONDS = 0.1, 15 * 60
CHAIN_DRIVE_LUFS = -18.0
"""Every chain is fed at this loudness, so its thresholds act alike on quiet and loud mixes."""


@dataclass(frozen=True)
class Chain:
    effects: tuple[fx_specs._Spec, ...]
    target_lufs: float
    description: str


CHAINS: dict[str, Chain] = {
    "transparent": Chain(
        (fx_specs.HighpassFilter(type="highpass_filter", cutoff_frequency_hz=20),
         fx_specs.Compressor(type="compressor", threshold_db=-14, ratio=1.5, attack_ms=30, release_ms=250)),
        -14.0, "gentle glue compression, tonal balance untouched; streaming loudness",
    ),
    "warm": Chain(
        (fx_specs.HighpassFilter(type="highpass_filter", cutoff_frequency_hz=25),
         fx_specs.LowShelfFilter(type="low_shelf_filter", cutoff_frequency_hz=120, gain_db=1.5),
         fx_specs.HighShelfFilter(type="high_shelf_filter", cutoff_frequency_hz=9000, gain_db=-1.5),
         fx_specs.Compressor(type="compressor", threshold_db=-16, ratio=2, attack_ms=25, release_ms=200),
         fx_specs.Distortion(type="distortion", drive_db=3)),
        -14.0, "fuller lows, softer highs, light tape-like saturation",
    ),
    "loud": Chain(
        (fx_specs.HighpassFilter(type="highpass_filter", cutoff_frequency_hz=30),
         fx_specs.Compressor(type="compressor", threshold_db=-20, ratio=3, attack_ms=10, release_ms=120),
         fx_specs.HighShelfFilter(type="high_shelf_filter", cutoff_frequency_hz=10000, gain_db=1.0),
         fx_specs.Limiter(type="limiter", threshold_db=-6, release_ms=80)),
        -9.0, "dense and loud for club or competitive releases",
    ),
    "broadcast": Chain(
        (fx_specs.HighpassFilter(type="highpass_filter", cutoff_frequency_hz=40),
         fx_specs.Compressor(type="compressor", threshold_db=-20, ratio=3, attack_ms=5, release_ms=150)),
        -23.0, "EBU R128 programme loudness with controlled dynamics",
    ),
    "podcast": Chain(
        (fx_specs.HighpassFilter(type="highpass_filter", cutoff_frequency_hz=80),
         fx_specs.Compressor(type="compressor", threshold_db=-22, ratio=3, attack_ms=5, release_ms=120),
         fx_specs.PeakFilter(type="peak_filter", cutoff_frequency_hz=3000, gain_db=1.5, q=0.8)),
        -16.0, "speech: rumble cut, even level, presence lift",
    ),
}


@dataclass(frozen=True)
class MasterResult:
    audio: np.ndarray
    sr: int
    output_lufs: float | None
    output_true_peak_dbtp: float | None
    reference_lufs: float | None = None
    limiter_reduction_db: float | None = None


def _check_length(samples: np.ndarray, sr: int, what: str) -> None:
    seconds = samples.shape[-1] / sr
    if seconds < MIN_SECONDS:
        raise ToolError(f"the {what} is {seconds:.3f} s long; matchering needs at least {MIN_SECONDS} s")
    if seconds > MAX_SECONDS:
        raise ToolError(f"the {what} is {seconds / 60:.1f} min long; matchering takes at most 15 min, "
                        "so trim or split it first")


def _as_matchering_input(samples: np.ndarray, sr: int) -> np.ndarray:
    return resample(remix(samples, 2) if samples.shape[0] == 1 else samples, sr, MATCHERING_SR)


def _same_audio(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal within float tolerance; different tracks mostly differ in their first second, which
    is compared first."""
    if a.shape != b.shape:
        return False
    head = slice(0, MATCHERING_SR)
    return np.allclose(a[:, head], b[:, head]) and np.allclose(a, b)


def master_reference(target: np.ndarray, target_sr: int, reference: np.ndarray, reference_sr: int,
                     *, progress: ProgressFn = no_progress, cancel: CancelToken = NEVER) -> MasterResult:
    """Make `target` sound like `reference`: matchering matches loudness, frequency balance and
    stereo width, then limits. The result is 44.1 kHz stereo."""
    from .reference_match import STEPS, match_reference

    _check_length(target, target_sr, "target")
    _check_length(reference, reference_sr, "reference")
    if target.shape[0] > 2 or reference.shape[0] > 2:
        raise ToolError("matchering takes mono or stereo; downmix the input first (convert channels=2)")
    mine, theirs = _as_matchering_input(target, target_sr), _as_matchering_input(reference, reference_sr)
    if _same_audio(mine, theirs):
        raise ToolError("the target and the reference are the same audio; pick a different reference")
    total = STEPS + 1
    audio = match_reference(mine, theirs, progress=lambda done, _, message: progress(done, total, message),
                            cancel=cancel)
    cancel.check()
    mastered, ref = measure(audio, MATCHERING_SR), measure(theirs, MATCHERING_SR)
    progress(total, total, "measuring")
    return MasterResult(audio, MATCHERING_SR, mastered.integrated_lufs, mastered.true_peak_dbtp,
                        reference_lufs=ref.integrated_lufs)


def master_chain(samples: np.ndarray, sr: int, chain: ChainName = "transparent",
                 target_lufs: float | None = None, ceiling_dbtp: float = -1.0, *,
                 progress: ProgressFn = no_progress, cancel: CancelToken = NEVER) -> MasterResult:
    """Run a named chain (fed at −18 LUFS), then normalise to `target_lufs` (the chain's own
    target when None) under a true-peak ceiling."""
    preset = CHAINS[chain]
    level = measure(samples, sr, cancel=cancel).integrated_lufs
    if level is None:
        raise ToolError("the input is silent or shorter than 0.4 s; there is nothing to master")
    driven = samples * np.float32(10 ** ((CHAIN_DRIVE_LUFS - level) / 20))
    progress(1, 3, f"{chain} chain")
    processed = fx_chain(driven, sr, preset.effects)
    cancel.check()
    progress(2, 3, "loudness")
    audio, report = normalize(processed, sr, preset.target_lufs if target_lufs is None else target_lufs,
                              ceiling_dbtp, cancel=cancel)
    progress(3, 3, "loudness")
    return MasterResult(audio, sr, report.output_lufs, report.output_true_peak_dbtp,
                        limiter_reduction_db=report.limiter_max_reduction_db)
