"""Typed settings of the effects: EQ bands, compressor bands and the fx-chain allowlist.

Only pydantic here, so the tool layer can use these models and names as parameter types
without importing scipy, numba or pedalboard. Each fx spec is one member of a discriminated union on
`type`: an effect outside the allowlist cannot even be expressed, and nothing here can name a
plug-in file.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

BUTTERWORTH_Q = 1 / math.sqrt(2)

Scale = Literal[
    "chromatic", "major", "minor", "harmonic_minor", "melodic_minor", "dorian", "phrygian", "lydian",
    "mixolydian", "pentatonic_major", "pentatonic_minor", "blues",
]
"""Note sets for pitch correction (ops.pitch.SCALES holds their steps)."""
ChainName = Literal["transparent", "warm", "loud", "broadcast", "podcast"]
"""Mastering chains (ops.mastering.CHAINS holds their effects and targets)."""

Hz = Annotated[float, Field(ge=10, le=40000, description="Frequency in Hz (below half the sample rate).")]
Mix = Annotated[float, Field(ge=0, le=1, description="Wet share: 0 = dry only, 1 = effect only.")]
Q = Annotated[float, Field(ge=0.1, le=40, description="Bandwidth: 0.707 is flat, 1-2 musical, 10+ surgical.")]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EqBand(_Spec):
    """One band of the parametric EQ."""

    type: Literal["peak", "low_shelf", "high_shelf", "high_pass", "low_pass", "notch", "band_pass"] = Field(
        "peak",
        description="peak: bell boost/cut; low_shelf/high_shelf: tilt below/above freq_hz; "
        "high_pass/low_pass: 12 dB/octave cut; notch: remove a narrow band; "
        "band_pass: keep only a band around freq_hz.",
    )
    freq_hz: Annotated[float, Field(ge=10, le=40000, description="Centre, corner or cutoff frequency in Hz.")]
    gain_db: Annotated[
        float, Field(ge=-30, le=30, description="Boost (+) or cut (-) in dB; used by peak and the shelves.")
    ] = 0.0
    q: Q = BUTTERWORTH_Q


class BandCompressor(_Spec):
    """Settings of one band of the multiband compressor."""

    threshold_db: Annotated[float, Field(ge=-60, le=0, description="Level above which the band is compressed, dBFS.")] = -20.0
    ratio: Annotated[float, Field(ge=1, le=20, description="Compression ratio; 1 leaves the band untouched.")] = 2.0
    attack_ms: Annotated[float, Field(ge=0.1, le=200, description="How fast reduction sets in (ms).")] = 10.0
    release_ms: Annotated[float, Field(ge=5, le=3000, description="How fast it lets go (ms).")] = 150.0
    makeup_db: Annotated[float, Field(ge=-24, le=24, description="Gain added to the band after compression.")] = 0.0
    knee_db: Annotated[float, Field(ge=0, le=24, description="Soft-knee width in dB; 0 is a hard knee.")] = 6.0


# -- the fx_chain allowlist (pedalboard's built-in effects; field names are pedalboard's) ------

Threshold = Annotated[float, Field(ge=-60, le=0, description="Level in dBFS where the effect starts to act.")]
Ratio = Annotated[float, Field(ge=1, le=30, description="Input dB over the threshold per output dB.")]
Attack = Annotated[float, Field(ge=0.1, le=500, description="How fast it reacts, ms.")]
Release = Annotated[float, Field(ge=1, le=5000, description="How fast it recovers, ms.")]
Boost = Annotated[float, Field(ge=-30, le=30, description="Boost (+) or cut (-) in dB.")]
Rate = Annotated[float, Field(ge=0, le=99, description="Modulation speed in Hz.")]
Depth = Annotated[float, Field(ge=0, le=1, description="Modulation depth, 0-1.")]
Feedback = Annotated[float, Field(ge=-0.95, le=0.95, description="Share of the output fed back in (resonance).")]
Level = Annotated[float, Field(ge=0, le=1, description="Level, 0-1.")]


def _kind(name: str, what: str) -> object:
    """The `type` discriminator of one effect, described for the schema."""
    return Field(description=f"{name}: {what}")


class Compressor(_Spec):
    type: Literal["compressor"] = _kind("compressor", "evens out level above the threshold.")
    threshold_db: Threshold = -18.0
    ratio: Ratio = 4.0
    attack_ms: Attack = 10.0
    release_ms: Release = 100.0


class Limiter(_Spec):
    type: Literal["limiter"] = _kind("limiter", "holds peaks under the threshold.")
    threshold_db: Threshold = -1.0
    release_ms: Release = 100.0


class NoiseGate(_Spec):
    type: Literal["noise_gate"] = _kind("noise_gate", "mutes what falls below the threshold.")
    threshold_db: Annotated[float, Field(ge=-100, le=0, description="dBFS below which the signal is cut.")] = -50.0
    ratio: Annotated[float, Field(ge=1, le=100, description="How hard quiet parts are pushed down.")] = 10.0
    attack_ms: Attack = 1.0
    release_ms: Release = 100.0


class Gain(_Spec):
    type: Literal["gain"] = _kind("gain", "changes the level.")
    gain_db: Annotated[float, Field(ge=-60, le=24, description="Level change in dB.")] = 0.0


class Clipping(_Spec):
    type: Literal["clipping"] = _kind("clipping", "hard-clips at the threshold.")
    threshold_db: Threshold = -6.0


class Distortion(_Spec):
    type: Literal["distortion"] = _kind("distortion", "tanh saturation.")
    drive_db: Annotated[float, Field(ge=0, le=60, description="Drive into the saturation, dB.")] = 25.0


class Bitcrush(_Spec):
    type: Literal["bitcrush"] = _kind("bitcrush", "reduces the bit depth (lo-fi grit).")
    bit_depth: Annotated[float, Field(ge=1, le=32, description="Bits kept (fractions allowed).")] = 8.0


class Reverb(_Spec):
    type: Literal["reverb"] = _kind("reverb", "algorithmic room.")
    room_size: Annotated[float, Field(ge=0, le=1, description="Room size, 0 small to 1 huge.")] = 0.5
    damping: Annotated[float, Field(ge=0, le=1, description="High-frequency absorption, 0-1.")] = 0.5
    wet_level: Level = 0.33
    dry_level: Level = 0.4
    width: Annotated[float, Field(ge=0, le=1, description="Stereo width of the reverb, 0-1.")] = 1.0
    freeze_mode: Annotated[float, Field(ge=0, le=1, description="≥ 0.5 holds the tail forever.")] = 0.0


class Chorus(_Spec):
    type: Literal["chorus"] = _kind("chorus", "thickens with modulated delayed copies.")
    rate_hz: Rate = 1.0
    depth: Depth = 0.25
    centre_delay_ms: Annotated[float, Field(ge=1, le=100, description="Centre of the modulated delay, ms.")] = 7.0
    feedback: Feedback = 0.0
    mix: Mix = 0.5


class Delay(_Spec):
    type: Literal["delay"] = _kind("delay", "echoes.")
    delay_seconds: Annotated[float, Field(ge=0.001, le=10, description="Time between echoes, s.")] = 0.5
    feedback: Annotated[float, Field(ge=0, le=0.99, description="Share of each echo fed back (more repeats).")] = 0.0
    mix: Mix = 0.5


class Phaser(_Spec):
    type: Literal["phaser"] = _kind("phaser", "sweeping notches.")
    rate_hz: Rate = 1.0
    depth: Depth = 0.5
    centre_frequency_hz: Hz = 1300.0
    feedback: Feedback = 0.0
    mix: Mix = 0.5


class PitchShift(_Spec):
    type: Literal["pitch_shift"] = _kind("pitch_shift", "transposes in real time (use time_stretch for quality).")
    semitones: Annotated[float, Field(ge=-24, le=24, description="Transposition in semitones.")] = 0.0


class HighpassFilter(_Spec):
    type: Literal["highpass_filter"] = _kind("highpass_filter", "gentle 6 dB/octave low cut.")
    cutoff_frequency_hz: Hz = 50.0


class LowpassFilter(_Spec):
    type: Literal["lowpass_filter"] = _kind("lowpass_filter", "gentle 6 dB/octave high cut.")
    cutoff_frequency_hz: Hz = 10000.0


class HighShelfFilter(_Spec):
    type: Literal["high_shelf_filter"] = _kind("high_shelf_filter", "tilts everything above the corner.")
    cutoff_frequency_hz: Hz = 8000.0
    gain_db: Boost = 0.0
    q: Q = BUTTERWORTH_Q


class LowShelfFilter(_Spec):
    type: Literal["low_shelf_filter"] = _kind("low_shelf_filter", "tilts everything below the corner.")
    cutoff_frequency_hz: Hz = 120.0
    gain_db: Boost = 0.0
    q: Q = BUTTERWORTH_Q


class PeakFilter(_Spec):
    type: Literal["peak_filter"] = _kind("peak_filter", "bell boost or cut.")
    cutoff_frequency_hz: Hz = 1000.0
    gain_db: Boost = 0.0
    q: Q = BUTTERWORTH_Q


class LadderFilter(_Spec):
    type: Literal["ladder_filter"] = _kind("ladder_filter", "Moog-style resonant synth filter.")
    mode: Literal["lpf12", "hpf12", "bpf12", "lpf24", "hpf24", "bpf24"] = Field(
        "lpf12", description="Low/high/band pass, 12 or 24 dB/octave.")
    cutoff_hz: Hz = 1000.0
    resonance: Annotated[float, Field(ge=0, le=1, description="Emphasis at the cutoff, 0-1.")] = 0.0
    drive: Annotated[float, Field(ge=1, le=100, description="Input drive (saturation).")] = 1.0


class GSMFullRateCompressor(_Spec):
    type: Literal["gsm_compressor"] = _kind("gsm_compressor", "sounds like a GSM phone call.")


class MP3Compressor(_Spec):
    type: Literal["mp3_compressor"] = _kind("mp3_compressor", "adds MP3 coding artefacts.")
    vbr_quality: Annotated[float, Field(ge=0, le=9.99, description="LAME VBR quality: 0 best, 9.99 worst.")] = 2.0


class Resample(_Spec):
    type: Literal["resample"] = _kind("resample", "passes the audio through a lower sample rate (lo-fi).")
    target_sample_rate: Annotated[float, Field(ge=1000, le=192000, description="Rate to pass through, Hz.")] = 8000.0
    quality: Literal["zero_order_hold", "linear", "catmull_rom", "lagrange", "windowed_sinc"] = Field(
        "windowed_sinc", description="Interpolation: zero_order_hold is crunchiest, windowed_sinc cleanest.")


class Invert(_Spec):
    type: Literal["invert"] = _kind("invert", "flips the polarity.")


class Convolution(_Spec):
    type: Literal["convolution"] = _kind("convolution", "a real room, cabinet or effect from an impulse response.")
    ir: Annotated[
        str, Field(description="Impulse response: a workspace audio file (e.g. 'irs/hall.wav').", min_length=1)
    ]
    mix: Mix = 1.0


EffectSpec = Annotated[
    Compressor | Limiter | NoiseGate | Gain | Clipping | Distortion | Bitcrush | Reverb | Chorus | Delay | Phaser | PitchShift | HighpassFilter | LowpassFilter | HighShelfFilter | LowShelfFilter | PeakFilter | LadderFilter | GSMFullRateCompressor | MP3Compressor | Resample | Invert | Convolution,
    Field(discriminator="type"),
]
