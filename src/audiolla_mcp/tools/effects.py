"""Effects tools: EQ, fx chain, convolution reverb, tempo and pitch, repair, noise, HPSS."""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import Field

from ..errors import ToolError
from ..ops.effect_specs import EffectSpec, EqBand, Scale
from . import tool
from .common import (
    AudioOutput,
    Backgroundable,
    BackgroundArg,
    BitDepthArg,
    BitrateArg,
    Destination,
    FormatArg,
    InlineArg,
    InputArg,
    InputBase64Arg,
    InputFormatArg,
    OutputArg,
    OverwriteArg,
    Reply,
    Run,
    execute,
    peak_and_warning,
    peak_field,
)

ScaleArg = Annotated[
    Scale | None,
    Field(description="Allowed notes; default: the key's own mode (major/minor), chromatic without a key."),
]


# -- EQ, effect chains, convolution ------------------------------------------------------------


class EqResult(Backgroundable):
    output: AudioOutput | None = None
    bands: int | None = Field(default=None, description="How many bands were applied.")
    peak_dbfs: float | None = peak_field()


@tool
async def eq(
    ctx: Context,
    bands: Annotated[list[EqBand], Field(min_length=1, max_length=16, description="The EQ bands, applied in order.")],
    input: InputArg = None,
    output: OutputArg = None,
    format: FormatArg = None,
    bit_depth: BitDepthArg = None,
    bitrate_kbps: BitrateArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    background: BackgroundArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, EqResult]:
    dest = Destination(output, format, overwrite, bit_depth, bitrate_kbps)

    def work(run: Run) -> Reply:
        from ..ops.dsp import eq as eq_op

        audio = run.load(input, input_base64, input_format)
        samples = eq_op(audio.samples, audio.sr, bands)
        out = dest.save(run, samples, audio.sr, audio.name, "eq", input)
        peak, warning = peak_and_warning(samples, out)
        summary = f"Wrote {out.path}: {len(bands)} EQ band(s) applied.{warning}"
        return Reply(result=EqResult(output=out, bands=len(bands), peak_dbfs=peak), summary=summary,
                     inline_audio=[run.written[-1]])

    return await execute(ctx, work, inline=inline, background=background, result_type=EqResult)


class FxChainResult(Backgroundable):
    output: AudioOutput | None = None
    effects: list[str] | None = Field(default=None, description="The effects applied, in order.")
    peak_dbfs: float | None = peak_field()


@tool
async def fx_chain(
    ctx: Context,
    effects: Annotated[
        list[EffectSpec],
        Field(min_length=1, max_length=32, description="Effects in processing order; each picks its `type`."),
    ],
    input: InputArg = None,
    tail_s: Annotated[
        float, Field(ge=0, le=30, description="Seconds of silence appended so reverbs and delays can ring out.")
    ] = 0.0,
    output: OutputArg = None,
    format: FormatArg = None,
    bit_depth: BitDepthArg = None,
    bitrate_kbps: BitrateArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    background: BackgroundArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, FxChainResult]:
    dest = Destination(output, format, overwrite, bit_depth, bitrate_kbps)

    def work(run: Run) -> Reply:
        from ..ops.fx import fx_chain as fx_chain_op

        audio = run.load(input, input_base64, input_format)
        irs = {}
        for spec in effects:
            if spec.type == "convolution" and spec.ir not in irs:
                ir = run.load(spec.ir, what="ir")
                irs[spec.ir] = (ir.samples, ir.sr)
        samples = fx_chain_op(audio.samples, audio.sr, effects, irs, tail_s)
        out = dest.save(run, samples, audio.sr, audio.name, "fx", input)
        peak, warning = peak_and_warning(samples, out)
        names = [spec.type for spec in effects]
        summary = f"Wrote {out.path}: {' → '.join(names)}.{warning}"
        return Reply(result=FxChainResult(output=out, effects=names, peak_dbfs=peak), summary=summary,
                     inline_audio=[run.written[-1]])

    return await execute(ctx, work, inline=inline, background=background, result_type=FxChainResult)


class ConvolutionReverbResult(Backgroundable):
    output: AudioOutput | None = None
    tail_s: float | None = Field(default=None, description="Length added to the input: the IR's tail plus pre-delay.")
    gain_db: float | None = Field(default=None, description="Gain applied to keep the peak under −0.1 dBFS (0 = none).")


@tool
async def convolution_reverb(
    ctx: Context,
    ir: Annotated[str, Field(min_length=1, description="Impulse response: a workspace audio file (any rate; mono or stereo).")],
    input: InputArg = None,
    wet: Annotated[float, Field(ge=0, le=1, description="Level of the reverb (the IR is scaled to unit energy).")] = 0.3,
    dry: Annotated[float, Field(ge=0, le=1, description="Level of the original signal.")] = 1.0,
    pre_delay_ms: Annotated[float, Field(ge=0, le=500, description="Gap before the reverb starts.")] = 0.0,
    output: OutputArg = None,
    format: FormatArg = None,
    bit_depth: BitDepthArg = None,
    bitrate_kbps: BitrateArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    background: BackgroundArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, ConvolutionReverbResult]:
    dest = Destination(output, format, overwrite, bit_depth, bitrate_kbps)

    def work(run: Run) -> Reply:
        from ..ops.fx import convolution_reverb as reverb_op

        audio = run.load(input, input_base64, input_format)
        room = run.load(ir, what="ir")
        done = reverb_op(audio.samples, audio.sr, room.samples, room.sr, wet, dry, pre_delay_ms,
                         progress=run.progress, cancel=run.cancel)
        out = dest.save(run, done.audio, audio.sr, audio.name, "reverb", input)
        summary = f"Wrote {out.path}: {room.name} at wet {wet:g} / dry {dry:g}, {done.tail_s:.2f} s of tail kept."
        if done.gain_db < 0:
            summary += f" Lowered by {-done.gain_db:.1f} dB to stay under −0.1 dBFS."
        return Reply(result=ConvolutionReverbResult(output=out, tail_s=done.tail_s, gain_db=done.gain_db),
                     summary=summary, inline_audio=[run.written[-1]])

    return await execute(ctx, work, inline=inline, background=background, result_type=ConvolutionReverbResult)


# -- tempo and pitch ---------------------------------------------------------------------------


class StretchResult(Backgroundable):
    output: AudioOutput | None = None
    tempo_factor: float | None = Field(default=None, description="Speed change applied (> 1 is faster).")
    pitch_semitones: float | None = None


@tool
async def time_stretch(
    ctx: Context,
    input: InputArg = None,
    tempo_factor: Annotated[
        float, Field(ge=0.25, le=4, description="Speed: 1.1 = 10 % faster (shorter), 0.5 = half speed; pitch kept.")
    ] = 1.0,
    pitch_semitones: Annotated[
        float, Field(ge=-24, le=24, description="Transpose by this many semitones (fractions allowed); tempo kept.")
    ] = 0.0,
    output: OutputArg = None,
    format: FormatArg = None,
    bit_depth: BitDepthArg = None,
    bitrate_kbps: BitrateArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    background: BackgroundArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, StretchResult]:
    dest = Destination(output, format, overwrite, bit_depth, bitrate_kbps)

    def work(run: Run) -> Reply:
        from ..ops.pitch import time_stretch as stretch_op

        if tempo_factor == 1 and pitch_semitones == 0:
            raise ToolError("Nothing to do: set tempo_factor (≠ 1) and/or pitch_semitones (≠ 0).")
        audio = run.load(input, input_base64, input_format)
        samples = stretch_op(audio.samples, audio.sr, tempo_factor, pitch_semitones,
                             progress=run.progress, cancel=run.cancel)
        out = dest.save(run, samples, audio.sr, audio.name, "stretch", input)
        summary = (f"Wrote {out.path}: tempo ×{tempo_factor:g}, pitch {pitch_semitones:+g} semitones, "
                   f"{audio.duration_s:.2f} s → {out.duration_s:.2f} s.")
        return Reply(result=StretchResult(output=out, tempo_factor=tempo_factor, pitch_semitones=pitch_semitones),
                     summary=summary, inline_audio=[run.written[-1]])

    return await execute(ctx, work, inline=inline, background=background, result_type=StretchResult)


class PitchCorrectResult(Backgroundable):
    output: AudioOutput | None = None
    notes_found: int | None = Field(default=None, description="Steady notes detected and corrected.")
    mean_error_cents: float | None = Field(default=None, description="Average distance from the grid before correction.")
    notes: list[dict] | None = Field(
        default=None, description="Per note (up to max_notes): start_s, end_s, sung_hz, target, shift_cents."
    )


@tool
async def pitch_correct(
    ctx: Context,
    input: InputArg = None,
    strength: Annotated[
        float, Field(ge=0, le=1, description="1 puts each note on pitch, 0.5 halves its error, 0 changes nothing.")
    ] = 1.0,
    key: Annotated[
        str | None, Field(max_length=20, description="Key whose notes are allowed, e.g. 'A minor', 'F# major', 'Bb'.")
    ] = None,
    scale: ScaleArg = None,
    max_notes: Annotated[int, Field(ge=0, le=2000, description="Cap on the per-note list in the result.")] = 100,
    output: OutputArg = None,
    format: FormatArg = None,
    bit_depth: BitDepthArg = None,
    bitrate_kbps: BitrateArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    background: BackgroundArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, PitchCorrectResult]:
    dest = Destination(output, format, overwrite, bit_depth, bitrate_kbps)

    def work(run: Run) -> Reply:
        from ..ops.pitch import pitch_correct as correct_op

        audio = run.load(input, input_base64, input_format)
        done = correct_op(audio.samples, audio.sr, strength, key, scale, max_notes,
                          progress=run.progress, cancel=run.cancel)
        out = dest.save(run, done.audio, audio.sr, audio.name, "tuned", input)
        grid = f"{key} {scale or ''}".strip() if key else (scale or "chromatic")
        error = "" if done.mean_abs_error_cents is None else f", {done.mean_abs_error_cents:.0f} cents off on average"
        summary = f"Wrote {out.path}: {done.notes_found} notes pulled toward {grid} at strength {strength:g}{error}."
        result = PitchCorrectResult(output=out, notes_found=done.notes_found, mean_error_cents=done.mean_abs_error_cents,
                                    notes=done.notes)
        return Reply(result=result, summary=summary, inline_audio=[run.written[-1]])

    return await execute(ctx, work, inline=inline, background=background, result_type=PitchCorrectResult)


class BpmMatchResult(Backgroundable):
    output: AudioOutput | None = None
    source_bpm: float | None = None
    source_measured: bool | None = Field(default=None, description="True when source_bpm was detected, not given.")
    target_bpm: float | None = None
    tempo_factor: float | None = None


@tool
async def bpm_match(
    ctx: Context,
    target_bpm: Annotated[float, Field(ge=30, le=300, description="Tempo to reach, in BPM.")],
    input: InputArg = None,
    source_bpm: Annotated[
        float | None, Field(ge=30, le=300, description="The input's tempo if known; omitted, it is detected.")
    ] = None,
    output: OutputArg = None,
    format: FormatArg = None,
    bit_depth: BitDepthArg = None,
    bitrate_kbps: BitrateArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    background: BackgroundArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, BpmMatchResult]:
    dest = Destination(output, format, overwrite, bit_depth, bitrate_kbps)

    def work(run: Run) -> Reply:
        from ..ops.pitch import bpm_match as bpm_op

        audio = run.load(input, input_base64, input_format)
        source = source_bpm
        if source is None:
            from ..ops.beats import detect_beats

            source = detect_beats(audio.samples, audio.sr).bpm
            if source is None:
                raise ToolError("No steady beat found in the input; pass its tempo as source_bpm.")
        done = bpm_op(audio.samples, audio.sr, source, target_bpm, progress=run.progress, cancel=run.cancel)
        out = dest.save(run, done.audio, audio.sr, audio.name, f"{target_bpm:g}bpm", input)
        how = "detected" if source_bpm is None else "given"
        summary = f"Wrote {out.path}: {source:g} BPM ({how}) → {target_bpm:g} BPM (×{done.tempo_factor:.4f})."
        result = BpmMatchResult(output=out, source_bpm=source, source_measured=source_bpm is None,
                                target_bpm=target_bpm, tempo_factor=done.tempo_factor)
        return Reply(result=result, summary=summary, inline_audio=[run.written[-1]])

    return await execute(ctx, work, inline=inline, background=background, result_type=BpmMatchResult)


KeyArg = Annotated[str, Field(min_length=1, max_length=20, description="A key such as 'A minor', 'F# major', 'Bbm'.")]


class KeyMatchResult(Backgroundable):
    output: AudioOutput | None = None
    source_key: str | None = None
    source_measured: bool | None = Field(default=None, description="True when source_key was detected, not given.")
    target_key: str | None = None
    semitones: int | None = Field(default=None, description="Transposition applied (−6…+5).")


@tool
async def key_match(
    ctx: Context,
    target_key: KeyArg,
    input: InputArg = None,
    source_key: Annotated[
        str | None, Field(max_length=20, description="The input's key if known; omitted, it is detected.")
    ] = None,
    output: OutputArg = None,
    format: FormatArg = None,
    bit_depth: BitDepthArg = None,
    bitrate_kbps: BitrateArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    background: BackgroundArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, KeyMatchResult]:
    dest = Destination(output, format, overwrite, bit_depth, bitrate_kbps)

    def work(run: Run) -> Reply:
        from ..ops.pitch import key_match as key_op
        from ..ops.pitch import parse_key

        parse_key(target_key)  # a typo fails before the detection runs
        audio = run.load(input, input_base64, input_format)
        source = source_key
        if source is None:
            from ..ops.key import detect_key

            source = detect_key(audio.samples, audio.sr).key
            if source is None:
                raise ToolError("No key found in the input (no pitched content); pass it as source_key.")
        done = key_op(audio.samples, audio.sr, source, target_key, progress=run.progress, cancel=run.cancel)
        tag = target_key.replace(" ", "").replace("#", "sharp")
        out = dest.save(run, done.audio, audio.sr, audio.name, tag, input)
        how = "detected" if source_key is None else "given"
        summary = f"Wrote {out.path}: {source} ({how}) → {target_key}, {done.semitones:+d} semitones."
        result = KeyMatchResult(output=out, source_key=source, source_measured=source_key is None,
                                target_key=target_key, semitones=done.semitones)
        return Reply(result=result, summary=summary, inline_audio=[run.written[-1]])

    return await execute(ctx, work, inline=inline, background=background, result_type=KeyMatchResult)


# -- restoration -------------------------------------------------------------------------------


class RepairResult(Backgroundable):
    output: AudioOutput | None = None
    clipped_samples: int | None = Field(default=None, description="Samples rebuilt by declipping (0 if off).")
    clip_runs: int | None = Field(default=None, description="Flat-topped runs found.")
    hum_hz: float | None = Field(default=None, description="Mains hum removed (None: none found or dehum off).")
    notches_hz: list[float] | None = None
    gain_db: float | None = Field(default=None, description="Gain applied to keep rebuilt peaks under −0.1 dBFS.")


@tool
async def repair(
    ctx: Context,
    input: InputArg = None,
    declip: Annotated[bool, Field(description="Rebuild clipped (flat-topped) peaks.")] = True,
    dehum: Annotated[bool, Field(description="Notch out mains hum and its harmonics.")] = True,
    hum_hz: Annotated[
        Literal[50, 60, "auto"], Field(description="Mains frequency: 50 (Europe, Asia…), 60 (Americas…) or auto-detect.")
    ] = "auto",
    harmonics: Annotated[int, Field(ge=1, le=40, description="How many hum harmonics to notch (8 reaches 400/480 Hz).")] = 8,
    clip_threshold: Annotated[
        float | None,
        Field(ge=0.05, le=1, description="Clip level as a fraction of full scale; default: each channel's peak."),
    ] = None,
    output: OutputArg = None,
    format: FormatArg = None,
    bit_depth: BitDepthArg = None,
    bitrate_kbps: BitrateArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    background: BackgroundArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, RepairResult]:
    dest = Destination(output, format, overwrite, bit_depth, bitrate_kbps)

    def work(run: Run) -> Reply:
        from ..ops.restore import repair as repair_op

        audio = run.load(input, input_base64, input_format)
        done = repair_op(audio.samples, audio.sr, declip, dehum, hum_hz, harmonics, clip_threshold)
        out = dest.save(run, done.audio, audio.sr, audio.name, "repaired", input)
        parts = []
        if done.declip:
            parts.append(f"{done.declip.runs} clipped runs ({done.declip.clipped_samples} samples) rebuilt")
        if done.dehum:
            parts.append(f"{done.dehum.hum_hz:g} Hz hum notched ×{len(done.dehum.notches_hz)}"
                         if done.dehum.hum_hz else "no hum found")
        result = RepairResult(
            output=out,
            clipped_samples=done.declip.clipped_samples if done.declip else 0,
            clip_runs=done.declip.runs if done.declip else 0,
            hum_hz=done.dehum.hum_hz if done.dehum else None,
            notches_hz=done.dehum.notches_hz if done.dehum else [],
            gain_db=done.declip.gain_db if done.declip else 0.0,
        )
        return Reply(result=result, summary=f"Wrote {out.path}: {'; '.join(parts)}.", inline_audio=[run.written[-1]])

    return await execute(ctx, work, inline=inline, background=background, result_type=RepairResult)


class ReduceNoiseResult(Backgroundable):
    output: AudioOutput | None = None
    stationary: bool | None = None
    noise_profile_s: float | None = Field(default=None, description="Length of the noise-only excerpt used (0: none).")


@tool
async def reduce_noise(
    ctx: Context,
    input: InputArg = None,
    stationary: Annotated[
        bool,
        Field(description="true: one steady noise floor (hiss, hum, fans), best with noise_start_s/noise_end_s; "
              "false: a floor that follows changing noise, no excerpt needed."),
    ] = False,
    strength: Annotated[float, Field(ge=0, le=1, description="Share of the noise removed; lower keeps more air.")] = 0.9,
    noise_start_s: Annotated[
        float | None, Field(ge=0, description="Start of a noise-only stretch of the input (e.g. the silence before speech).")
    ] = None,
    noise_end_s: Annotated[float | None, Field(gt=0, description="End of that noise-only stretch.")] = None,
    output: OutputArg = None,
    format: FormatArg = None,
    bit_depth: BitDepthArg = None,
    bitrate_kbps: BitrateArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    background: BackgroundArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, ReduceNoiseResult]:
    dest = Destination(output, format, overwrite, bit_depth, bitrate_kbps)

    def work(run: Run) -> Reply:
        from ..ops.restore import reduce_noise as reduce_op

        if (noise_start_s is None) != (noise_end_s is None):
            raise ToolError("Give both noise_start_s and noise_end_s, or neither.")
        audio = run.load(input, input_base64, input_format)
        noise = None
        if noise_start_s is not None:
            first, last = round(noise_start_s * audio.sr), round(noise_end_s * audio.sr)
            if not 0 <= first < last <= audio.samples.shape[-1] or last - first < audio.sr // 10:
                raise ToolError(f"The noise excerpt must lie inside the {audio.duration_s:.2f} s input and last at least 0.1 s.")
            noise = audio.samples[:, first:last]
        samples = reduce_op(audio.samples, audio.sr, stationary, strength, noise,
                            progress=run.progress, cancel=run.cancel)
        out = dest.save(run, samples, audio.sr, audio.name, "denoised", input)
        profile = 0.0 if noise is None else round(noise.shape[-1] / audio.sr, 3)
        mode = "stationary" if stationary else "non-stationary"
        summary = f"Wrote {out.path}: {mode} noise reduction at strength {strength:g}" + (
            f", noise profile from {profile:g} s." if profile else ".")
        return Reply(result=ReduceNoiseResult(output=out, stationary=stationary, noise_profile_s=profile),
                     summary=summary, inline_audio=[run.written[-1]])

    return await execute(ctx, work, inline=inline, background=background, result_type=ReduceNoiseResult)


class HpssResult(Backgroundable):
    harmonic: AudioOutput | None = Field(default=None, description="Sustained, tonal part.")
    percussive: AudioOutput | None = Field(default=None, description="Transient part: drums, plucks, consonants.")


@tool
async def hpss(
    ctx: Context,
    input: InputArg = None,
    margin: Annotated[
        float,
        Field(ge=1, le=10, description="1: the two parts sum back to the input; 2-4: cleaner parts, the "
              "ambiguous rest goes to neither."),
    ] = 1.0,
    folder: Annotated[str, Field(min_length=1, max_length=200, description="Workspace folder for the two files.")] = "hpss",
    format: FormatArg = None,
    bit_depth: BitDepthArg = None,
    bitrate_kbps: BitrateArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    background: BackgroundArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, HpssResult]:
    dest = Destination(None, format, overwrite, bit_depth, bitrate_kbps)

    def work(run: Run) -> Reply:
        from ..ops.restore import hpss as hpss_op

        audio = run.load(input, input_base64, input_format)
        parts = hpss_op(audio.samples, audio.sr, margin, progress=run.progress, cancel=run.cancel)
        harmonic = dest.save(run, parts.harmonic, audio.sr, audio.name, "harmonic", input, folder=folder)
        percussive = dest.save(run, parts.percussive, audio.sr, audio.name, "percussive", input, folder=folder)
        summary = f"Wrote {harmonic.path} (harmonic) and {percussive.path} (percussive), margin {margin:g}."
        return Reply(result=HpssResult(harmonic=harmonic, percussive=percussive), summary=summary,
                     inline_audio=list(run.written))

    return await execute(ctx, work, inline=inline, background=background, result_type=HpssResult)
