"""EBU R128 loudness: measure and normalize."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from . import tool
from .common import (
    AudioOutput,
    Backgroundable,
    BackgroundArg,
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


class Loudness(BaseModel):
    integrated_lufs: float | None = Field(description="Gated integrated loudness (None if all below −70 LUFS).")
    loudness_range_lu: float | None = Field(description="EBU Tech 3342 loudness range.")
    true_peak_dbtp: float | None = Field(description="Max true peak, 4x oversampled.")
    sample_peak_dbfs: float | None
    max_momentary_lufs: float | None = Field(description="Highest 400 ms loudness.")
    max_short_term_lufs: float | None = Field(description="Highest 3 s loudness.")
    duration_s: float


class LoudnessResult(Loudness):
    path: str | None = Field(description="The measured file (None for an inline upload).")


class NormalizeResult(Backgroundable):
    output: AudioOutput | None = None
    input_lufs: float | None = None
    output_lufs: float | None = None
    gain_db: float | None = Field(default=None, description="Static gain applied before limiting.")
    limiter_reduction_db: float | None = Field(
        default=None, description="Largest gain reduction of the true-peak limiter (0 = untouched)."
    )
    output_true_peak_dbtp: float | None = None


def _loudness(report: object) -> Loudness:
    return Loudness(**{name: getattr(report, name) for name in Loudness.model_fields})


def _fmt(value: float | None, unit: str) -> str:
    return "n/a" if value is None else f"{value:.1f} {unit}"


@tool
async def measure_loudness(
    ctx: Context,
    input: InputArg = None,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, LoudnessResult]:
    def work(run: Run) -> Reply:
        from ..ops import loudness

        audio = run.load(input, input_base64, input_format)
        report = loudness.measure(audio.samples, audio.sr, progress=run.progress, cancel=run.cancel)
        result = LoudnessResult(path=input, **_loudness(report).model_dump())
        summary = (
            f"Integrated {_fmt(result.integrated_lufs, 'LUFS')}, true peak {_fmt(result.true_peak_dbtp, 'dBTP')}, "
            f"LRA {_fmt(result.loudness_range_lu, 'LU')}, max short-term {_fmt(result.max_short_term_lufs, 'LUFS')}."
        )
        return Reply(result=result, summary=summary)

    return await execute(ctx, work)


@tool
async def normalize_loudness(
    ctx: Context,
    input: InputArg = None,
    target_lufs: Annotated[
        float, Field(ge=-50, le=-5, description="Target integrated loudness: −14 streaming, −16 podcasts, −23 broadcast.")
    ] = -14.0,
    true_peak_db: Annotated[float, Field(ge=-9, le=0, description="True-peak ceiling in dBTP.")] = -1.0,
    output: OutputArg = None,
    format: FormatArg = None,
    bit_depth: BitDepthArg = None,
    bitrate_kbps: BitrateArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    background: BackgroundArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, NormalizeResult]:
    def work(run: Run) -> Reply:
        from ..ops import loudness

        audio = run.load(input, input_base64, input_format)
        samples, report = loudness.normalize(
            audio.samples, audio.sr, target_lufs, true_peak_db, progress=run.progress, cancel=run.cancel
        )
        out = run.save_audio(
            samples,
            audio.sr,
            output=output,
            default=derived(audio.name, f"{target_lufs:g}LUFS", source_ext(input)),
            format=format,
            overwrite=overwrite,
            bit_depth=bit_depth,
            bitrate_kbps=bitrate_kbps,
        )
        result = NormalizeResult(
            output=out,
            input_lufs=report.input_lufs,
            output_lufs=report.output_lufs,
            gain_db=report.gain_db,
            limiter_reduction_db=report.limiter_max_reduction_db,
            output_true_peak_dbtp=report.output_true_peak_dbtp,
        )
        limited = f", limited by up to {report.limiter_max_reduction_db:.1f} dB" if report.limiter_max_reduction_db > 0.05 else ""
        summary = (
            f"Wrote {out.path}: {report.input_lufs:.1f} → {report.output_lufs:.1f} LUFS "
            f"({report.gain_db:+.1f} dB{limited}), true peak {report.output_true_peak_dbtp:.1f} dBTP."
        )
        return Reply(result=result, summary=summary, inline_audio=[run.written[-1]])

    return await execute(ctx, work, inline=inline, background=background, result_type=NormalizeResult)
