"""Dynamics tools: multiband compressor, transient shaper, de-esser, sidechain ducking."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import Field

from ..errors import ToolError
from ..ops.effect_specs import BandCompressor
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

AttackArg = Annotated[float, Field(ge=0.1, le=500, description="How fast the gain moves in (ms, time constant).")]
ReleaseArg = Annotated[float, Field(ge=1, le=5000, description="How fast it moves back (ms, time constant).")]


class ReductionResult(Backgroundable):
    output: AudioOutput | None = None
    max_reduction_db: float | None = Field(default=None, description="Deepest gain reduction, dB.")
    mean_reduction_db: float | None = Field(default=None, description="Average gain reduction over the file, dB.")


class MultibandResult(Backgroundable):
    output: AudioOutput | None = None
    bands: list[dict] | None = Field(
        default=None, description="Per band, low to high: low_hz, high_hz, max/mean_reduction_db."
    )
    peak_dbfs: float | None = peak_field()


@tool
async def multiband_compress(
    ctx: Context,
    input: InputArg = None,
    crossovers_hz: Annotated[
        list[Annotated[float, Field(ge=20, le=20000)]],
        Field(min_length=1, max_length=3, description="1-3 increasing crossover frequencies: 2-4 bands."),
    ] = [200.0, 3000.0],  # noqa: B006 - pydantic copies defaults
    bands: Annotated[
        list[BandCompressor] | None,
        Field(min_length=2, max_length=4, description="One setting per band, low to high (one more than the "
              "crossovers); default: threshold −20 dBFS, ratio 2 on every band."),
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
) -> Annotated[CallToolResult, MultibandResult]:
    dest = Destination(output, format, overwrite, bit_depth, bitrate_kbps)

    def work(run: Run) -> Reply:
        from ..ops.dynamics import multiband_compress as multiband_op

        settings = bands or [BandCompressor()] * (len(crossovers_hz) + 1)
        audio = run.load(input, input_base64, input_format)
        done = multiband_op(audio.samples, audio.sr, crossovers_hz, settings)
        out = dest.save(run, done.audio, audio.sr, audio.name, "multiband", input)
        peak, warning = peak_and_warning(done.audio, out)
        worked = ", ".join(f"{b['low_hz']:g}-{b['high_hz']:g} Hz −{b['max_reduction_db']:.1f} dB" for b in done.bands)
        summary = f"Wrote {out.path}: {len(settings)} bands, deepest reduction {worked}.{warning}"
        return Reply(result=MultibandResult(output=out, bands=done.bands, peak_dbfs=peak), summary=summary,
                     inline_audio=[run.written[-1]])

    return await execute(ctx, work, inline=inline, background=background, result_type=MultibandResult)


class TransientResult(Backgroundable):
    output: AudioOutput | None = None
    peak_dbfs: float | None = peak_field()


@tool
async def transient_shaper(
    ctx: Context,
    input: InputArg = None,
    attack_db: Annotated[float, Field(ge=-24, le=24, description="Gain on the attack of each note or hit (+ = punchier).")] = 3.0,
    sustain_db: Annotated[float, Field(ge=-24, le=24, description="Gain on what follows the attack (− = drier, tighter).")] = 0.0,
    detect_ms: Annotated[float, Field(ge=1, le=200, description="How long an attack counts as one.")] = 20.0,
    release_ms: Annotated[float, Field(ge=10, le=2000, description="Envelope release; longer treats rolls as one hit.")] = 150.0,
    output: OutputArg = None,
    format: FormatArg = None,
    bit_depth: BitDepthArg = None,
    bitrate_kbps: BitrateArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    background: BackgroundArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, TransientResult]:
    dest = Destination(output, format, overwrite, bit_depth, bitrate_kbps)

    def work(run: Run) -> Reply:
        from ..ops.dynamics import transient_shaper as shaper_op

        if attack_db == 0 and sustain_db == 0:
            raise ToolError("Nothing to do: set attack_db and/or sustain_db.")
        audio = run.load(input, input_base64, input_format)
        samples = shaper_op(audio.samples, audio.sr, attack_db, sustain_db, detect_ms, release_ms)
        out = dest.save(run, samples, audio.sr, audio.name, "shaped", input)
        peak, warning = peak_and_warning(samples, out)
        summary = f"Wrote {out.path}: attacks {attack_db:+g} dB, sustain {sustain_db:+g} dB.{warning}"
        return Reply(result=TransientResult(output=out, peak_dbfs=peak), summary=summary,
                     inline_audio=[run.written[-1]])

    return await execute(ctx, work, inline=inline, background=background, result_type=TransientResult)


@tool
async def deess(
    ctx: Context,
    input: InputArg = None,
    freq_hz: Annotated[float, Field(ge=2000, le=16000, description="Sibilance band starts here (5-8 kHz for most voices).")] = 6000.0,
    threshold_db: Annotated[float, Field(ge=-60, le=0, description="Sibilance above this level (dBFS, in the band) is reduced.")] = -30.0,
    ratio: Annotated[float, Field(ge=1, le=20, description="How hard it is reduced.")] = 4.0,
    attack_ms: AttackArg = 1.0,
    release_ms: ReleaseArg = 60.0,
    output: OutputArg = None,
    format: FormatArg = None,
    bit_depth: BitDepthArg = None,
    bitrate_kbps: BitrateArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    background: BackgroundArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, ReductionResult]:
    dest = Destination(output, format, overwrite, bit_depth, bitrate_kbps)

    def work(run: Run) -> Reply:
        from ..ops.dynamics import deess as deess_op

        audio = run.load(input, input_base64, input_format)
        done = deess_op(audio.samples, audio.sr, freq_hz, threshold_db, ratio, attack_ms, release_ms)
        out = dest.save(run, done.audio, audio.sr, audio.name, "deessed", input)
        summary = (f"Wrote {out.path}: sibilance above {freq_hz:g} Hz reduced by up to "
                   f"{done.reduction.max_db:.1f} dB.")
        result = ReductionResult(output=out, max_reduction_db=done.reduction.max_db,
                                 mean_reduction_db=done.reduction.mean_db)
        return Reply(result=result, summary=summary, inline_audio=[run.written[-1]])

    return await execute(ctx, work, inline=inline, background=background, result_type=ReductionResult)


class DuckResult(ReductionResult):
    trigger_active_s: float | None = Field(default=None, description="Seconds the trigger was above the threshold.")


@tool
async def sidechain_duck(
    ctx: Context,
    trigger: Annotated[
        str, Field(min_length=1, description="Workspace audio that drives the ducking (voice-over, kick…); any rate.")
    ],
    input: InputArg = None,
    threshold_db: Annotated[float, Field(ge=-80, le=0, description="Trigger level (dBFS peak) that starts ducking.")] = -30.0,
    depth_db: Annotated[float, Field(ge=0, le=60, description="How far the input is lowered while triggered.")] = 12.0,
    attack_ms: AttackArg = 10.0,
    release_ms: ReleaseArg = 250.0,
    output: OutputArg = None,
    format: FormatArg = None,
    bit_depth: BitDepthArg = None,
    bitrate_kbps: BitrateArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    background: BackgroundArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, DuckResult]:
    dest = Destination(output, format, overwrite, bit_depth, bitrate_kbps)

    def work(run: Run) -> Reply:
        from ..ops.dynamics import sidechain_duck as duck_op

        audio = run.load(input, input_base64, input_format)
        key = run.load(trigger, what="trigger")
        done = duck_op(audio.samples, key.samples, audio.sr, threshold_db, depth_db, attack_ms, release_ms,
                       trigger_sr=key.sr)
        out = dest.save(run, done.audio, audio.sr, audio.name, "ducked", input)
        summary = (f"Wrote {out.path}: lowered by up to {done.reduction.max_db:.1f} dB while {key.name} was "
                   f"active ({done.active_s:.1f} s).")
        result = DuckResult(output=out, max_reduction_db=done.reduction.max_db,
                            mean_reduction_db=done.reduction.mean_db, trigger_active_s=done.active_s)
        return Reply(result=result, summary=summary, inline_audio=[run.written[-1]])

    return await execute(ctx, work, inline=inline, background=background, result_type=DuckResult)
