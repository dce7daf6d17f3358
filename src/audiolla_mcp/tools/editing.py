"""Editing tools: cut, join, convert and reshape audio."""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from . import tool
from .common import (
    AudioOutput,
    BackgroundArg,
    Backgroundable,
    BitDepthArg,
    BitrateArg,
    FormatArg,
    InlineArg,
    InputArg,
    InputBase64Arg,
    InputFormatArg,
    OutputArg,
    OverwriteArg,
    Reply,
    Run,
    derived,
    execute,
    source_ext,
)


class TrimResult(BaseModel):
    output: AudioOutput
    start_s: float
    end_s: float


class ConvertResult(Backgroundable):
    output: AudioOutput | None = None
    source_sample_rate: int | None = None
    source_channels: int | None = None


@tool
async def trim(
    ctx: Context,
    input: InputArg = None,
    start_s: Annotated[float, Field(ge=0, description="Start of the kept range, in seconds.")] = 0.0,
    end_s: Annotated[float | None, Field(gt=0, description="End of the kept range in seconds; omit for the end of the file.")] = None,
    output: OutputArg = None,
    format: FormatArg = None,
    bit_depth: BitDepthArg = None,
    bitrate_kbps: BitrateArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, TrimResult]:
    def work(run: Run) -> Reply:
        from ..ops.edit import trim as trim_op

        audio = run.load(input, input_base64, input_format)
        samples = trim_op(audio.samples, audio.sr, start_s, end_s)
        out = run.save_audio(
            samples, audio.sr, output=output, default=derived(audio.name, "trim", source_ext(input)),
            format=format, overwrite=overwrite, bit_depth=bit_depth, bitrate_kbps=bitrate_kbps,
        )
        start = round(round(start_s * audio.sr) / audio.sr, 6)
        result = TrimResult(output=out, start_s=start, end_s=round(start + out.duration_s, 6))
        summary = f"Wrote {out.path}: {result.start_s:.3f}–{result.end_s:.3f} s ({out.duration_s:.3f} s)."
        return Reply(result=result, summary=summary, inline_audio=[run.written[-1]])

    return await execute(ctx, work, inline=inline)


@tool
async def convert(
    ctx: Context,
    input: InputArg = None,
    format: Annotated[
        Literal["wav", "flac", "mp3", "ogg", "opus", "m4a", "aiff"], Field(description="Target format.")
    ] = "wav",
    sample_rate: Annotated[int | None, Field(ge=8000, le=384000, description="Resample to this rate (Hz); omit to keep.")] = None,
    channels: Annotated[Literal[1, 2] | None, Field(description="1 = downmix to mono, 2 = stereo; omit to keep.")] = None,
    bit_depth: BitDepthArg = None,
    bitrate_kbps: BitrateArg = None,
    output: OutputArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    background: BackgroundArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, ConvertResult]:
    def work(run: Run) -> Reply:
        from ..ops.resample import remix, resample

        audio = run.load(input, input_base64, input_format)
        samples = remix(audio.samples, channels) if channels else audio.samples
        sr = sample_rate or audio.sr
        if sr != audio.sr:
            samples = resample(samples, audio.sr, sr, progress=run.progress, cancel=run.cancel)
        out = run.save_audio(
            samples, sr, output=output, default=derived(audio.name, "", format),
            format=format, overwrite=overwrite, bit_depth=bit_depth, bitrate_kbps=bitrate_kbps,
        )
        result = ConvertResult(output=out, source_sample_rate=audio.sr, source_channels=audio.channels)
        summary = f"Wrote {out.path}: {out.format}, {out.sample_rate} Hz, {out.channels} ch, {out.bytes / 1e6:.2f} MB."
        return Reply(result=result, summary=summary, inline_audio=[run.written[-1]])

    return await execute(ctx, work, inline=inline, background=background, result_type=ConvertResult)
