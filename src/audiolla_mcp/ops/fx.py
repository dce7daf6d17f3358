"""Effects: a pedalboard chain built only from the allowlisted specs, and convolution reverb.

`fx_chain` turns each spec of `effect_specs.EffectSpec` into the pedalboard effect of the same
name; nothing here can load a plug-in (no `load_plugin`, VST3 or AU). A convolution step runs
here rather than in pedalboard, whose JUCE convolution rescales every IR to one fixed energy
(−18 dB on white noise): an IR then means the same in the chain as in `convolution_reverb`,
unit energy at the audio's rate. Impulse responses arrive as decoded arrays keyed by the spec's
`ir` name: the tool layer resolves them in the workspace, so this module never opens a path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pedalboard
from scipy.signal import oaconvolve

from ..errors import ToolError
from ..progress import NEVER, CancelToken, ProgressFn, no_progress
from . import effect_specs as specs
from .resample import resample

PEAK_CEILING = 10 ** (-0.1 / 20)
"""Convolution output is scaled under −0.1 dBFS when the reverb would push it over."""

_FREQUENCY_FIELDS = ("cutoff_frequency_hz", "cutoff_hz", "centre_frequency_hz")
_LADDER_MODES = {name.lower(): mode for name, mode in pedalboard.LadderFilter.Mode.__members__.items()}
_RESAMPLE_QUALITY = {
    "zero_order_hold": pedalboard.Resample.Quality.ZeroOrderHold,
    "linear": pedalboard.Resample.Quality.Linear,
    "catmull_rom": pedalboard.Resample.Quality.CatmullRom,
    "lagrange": pedalboard.Resample.Quality.Lagrange,
    "windowed_sinc": pedalboard.Resample.Quality.WindowedSinc32,
}
_PLUGINS: dict[type[specs._Spec], type[pedalboard.Plugin]] = {
    specs.Compressor: pedalboard.Compressor,
    specs.Limiter: pedalboard.Limiter,
    specs.NoiseGate: pedalboard.NoiseGate,
    specs.Gain: pedalboard.Gain,
    specs.Clipping: pedalboard.Clipping,
    specs.Distortion: pedalboard.Distortion,
    specs.Bitcrush: pedalboard.Bitcrush,
    specs.Reverb: pedalboard.Reverb,
    specs.Chorus: pedalboard.Chorus,
    specs.Delay: pedalboard.Delay,
    specs.Phaser: pedalboard.Phaser,
    specs.PitchShift: pedalboard.PitchShift,
    specs.HighpassFilter: pedalboard.HighpassFilter,
    specs.LowpassFilter: pedalboard.LowpassFilter,
    specs.HighShelfFilter: pedalboard.HighShelfFilter,
    specs.LowShelfFilter: pedalboard.LowShelfFilter,
    specs.PeakFilter: pedalboard.PeakFilter,
    specs.LadderFilter: pedalboard.LadderFilter,
    specs.GSMFullRateCompressor: pedalboard.GSMFullRateCompressor,
    specs.MP3Compressor: pedalboard.MP3Compressor,
    specs.Resample: pedalboard.Resample,
    specs.Invert: pedalboard.Invert,
}

ImpulseResponse = tuple[np.ndarray, int]
"""Decoded IR: (channels, frames) float32 and its sample rate."""


def _plugin(spec: specs._Spec, sr: int) -> pedalboard.Plugin:
    kwargs = spec.model_dump(exclude={"type"})
    for name in _FREQUENCY_FIELDS:
        if name in kwargs and kwargs[name] >= sr / 2:
            raise ToolError(
                f"{spec.type}: {name}={kwargs[name]:g} is at or above the Nyquist frequency "
                f"({sr / 2:g} Hz) of this {sr} Hz audio; choose a lower frequency"
            )
    if isinstance(spec, specs.LadderFilter):
        kwargs["mode"] = _LADDER_MODES[spec.mode]
    elif isinstance(spec, specs.Resample):
        kwargs["quality"] = _RESAMPLE_QUALITY[spec.quality]
    return _PLUGINS[type(spec)](**kwargs)


def fx_chain(samples: np.ndarray, sr: int, effects: Sequence[specs._Spec],
             irs: Mapping[str, ImpulseResponse] | None = None, tail_s: float = 0.0) -> np.ndarray:
    """Run the effects in order (pedalboard compensates each effect's latency).

    `tail_s` seconds of silence are appended first so reverbs and delays can ring out.
    """
    irs = irs or {}
    missing = [s.ir for s in effects if isinstance(s, specs.Convolution) and s.ir not in irs]
    if missing:
        raise ToolError(f"convolution: impulse response {missing[0]!r} was not provided")
    steps = [spec if isinstance(spec, specs.Convolution) else _plugin(spec, sr) for spec in effects]
    audio = np.ascontiguousarray(np.pad(samples, ((0, 0), (0, round(max(tail_s, 0) * sr)))), np.float32)
    plugins: list[pedalboard.Plugin] = []
    for step in [*steps, None]:
        if isinstance(step, pedalboard.Plugin):
            plugins.append(step)
            continue
        if plugins:
            audio = pedalboard.Pedalboard(plugins)(audio, sr)
            plugins = []
        if step is not None:
            ir, ir_sr = irs[step.ir]
            wet = _convolve(audio, _fit_ir(ir, ir_sr, sr, audio.shape[0]))[:, : audio.shape[-1]]
            audio = ((1 - step.mix) * audio + step.mix * wet).astype(np.float32)
    return audio


@dataclass(frozen=True)
class ReverbResult:
    audio: np.ndarray
    gain_db: float
    """Gain applied to keep the output under −0.1 dBFS (0 when it already was)."""
    tail_s: float


def _fit_ir(ir: np.ndarray, ir_sr: int, sr: int, channels: int) -> np.ndarray:
    """IR at the audio's rate, scaled to unit energy per channel on average so a wet level of 1
    keeps white noise at its level. It keeps its channels when they match the audio's or the
    audio is mono (a stereo room widens a mono source); otherwise it is folded to mono."""
    if ir.ndim != 2 or ir.shape[-1] == 0:
        raise ToolError("the impulse response is empty; give an audio file with the room's response")
    ir = resample(np.ascontiguousarray(ir, np.float32), ir_sr, sr)
    if ir.shape[0] != channels and channels != 1:
        ir = ir.mean(axis=0, keepdims=True)
    energy = float(np.mean(np.sum(ir.astype(np.float64) ** 2, axis=-1)))
    if energy == 0:
        raise ToolError("the impulse response is silent; give an audio file with the room's response")
    return (ir / np.sqrt(energy)).astype(np.float32)


def _convolve(audio: np.ndarray, kernel: np.ndarray, progress: ProgressFn = no_progress,
              cancel: CancelToken = NEVER) -> np.ndarray:
    """Full FFT convolution (overlap-add), channels in parallel threads (the FFTs release the
    GIL); a mono side is shared by all channels."""
    channels = max(audio.shape[0], kernel.shape[0])
    out = np.empty((channels, audio.shape[-1] + kernel.shape[-1] - 1), np.float32)

    def one(c: int) -> np.ndarray:
        return oaconvolve(audio[min(c, audio.shape[0] - 1)], kernel[min(c, kernel.shape[0] - 1)])

    cancel.check()
    with ThreadPoolExecutor(max_workers=min(channels, os.cpu_count() or 1)) as pool:
        for c, wet in enumerate(pool.map(one, range(channels))):
            out[c] = wet
            progress(c + 1, channels, "convolving")
    cancel.check()
    return out


def convolution_reverb(samples: np.ndarray, sr: int, ir: np.ndarray, ir_sr: int, wet: float = 0.3,
                       dry: float = 1.0, pre_delay_ms: float = 0.0, *,
                       progress: ProgressFn = no_progress,
                       cancel: CancelToken = NEVER) -> ReverbResult:
    """Convolve with a measured room (FFT overlap-add), keeping the whole tail.

    The IR is resampled to `sr`; a mono IR is applied to every channel, a stereo IR to mono
    input gives stereo out. The output is `dry`·input + `wet`·reverb, lengthened by the IR and
    the pre-delay, and scaled down as a whole if it would peak above −0.1 dBFS.
    """
    wet_part = _convolve(samples, _fit_ir(ir, ir_sr, sr, samples.shape[0]), progress, cancel)
    delay = round(pre_delay_ms * sr / 1000)
    length = delay + wet_part.shape[-1]
    out = np.zeros((wet_part.shape[0], length), np.float32)
    out[:, delay:] = wet * wet_part
    out[:, : samples.shape[-1]] += dry * samples
    peak = float(np.abs(out).max(initial=0.0))
    gain = min(1.0, PEAK_CEILING / peak) if peak > 0 else 1.0
    return ReverbResult(out * np.float32(gain), round(20 * float(np.log10(gain)), 2),
                        round((length - samples.shape[-1]) / sr, 3))
