"""The mastering tool: match a reference track or run a named chain to a loudness target."""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import Field

from ..errors import ToolError
from ..ops.effect_specs import ChainName
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
)


class MasterResult(Backgroundable):
    output: AudioOutput | None = None
    mode: str | None = None
    preset: str | None = Field(default=None, description="The chain used (mode=chain).")
    output_lufs: float | None = Field(default=None, description="Integrated loudness of the master.")
    output_true_peak_dbtp: float | None = None
    reference_lufs: float | None = Field(default=None, description="Integrated loudness of the reference (mode=reference).")
    limiter_reduction_db: float | None = Field(
        default=None, description="Deepest true-peak limiting on the way to the target (mode=chain)."
    )


@tool
async def master(
    ctx: Context,
    input: InputArg = None,
    mode: Annotated[
        Literal["chain", "reference"] | None,
        Field(description="reference: sound like `reference` (matchering); chain: a named preset. Default: reference "
              "when a reference is given, else chain."),
    ] = None,
    reference: Annotated[
        str | None, Field(description="Workspace path of a finished track whose sound to match (mode=reference).")
    ] = None,
    preset: Annotated[
        ChainName,
        Field(description="transparent: glue only, −14 LUFS; warm: fuller lows, softer highs, light saturation, "
              "−14; loud: dense, −9; broadcast: EBU R128, −23; podcast: speech, −16."),
    ] = "transparent",
    target_lufs: Annotated[
        float | None, Field(ge=-30, le=-5, description="Override the preset's loudness target (mode=chain).")
    ] = None,
    ceiling_dbtp: Annotated[float, Field(ge=-9, le=0, description="True-peak ceiling (mode=chain).")] = -1.0,
    output: OutputArg = None,
    format: FormatArg = None,
    bit_depth: BitDepthArg = None,
    bitrate_kbps: BitrateArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    background: BackgroundArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, MasterResult]:
    dest = Destination(output, format, overwrite, bit_depth, bitrate_kbps)
    chosen = mode or ("reference" if reference else "chain")

    def work(run: Run) -> Reply:
        from ..ops import mastering

        if chosen == "reference" and not reference:
            raise ToolError("mode=reference needs `reference`: the workspace path of a track to match.")
        if chosen == "chain" and reference:
            raise ToolError("`reference` is used only with mode=reference; drop it or set mode='reference'.")
        audio = run.load(input, input_base64, input_format)
        if chosen == "reference":
            ref = run.load(reference, what="reference")
            done = mastering.master_reference(audio.samples, audio.sr, ref.samples, ref.sr,
                                              progress=run.progress, cancel=run.cancel)
            how = f"matched to {ref.name} ({done.reference_lufs} LUFS)"
        else:
            done = mastering.master_chain(audio.samples, audio.sr, preset, target_lufs, ceiling_dbtp,
                                          progress=run.progress, cancel=run.cancel)
            how = f"'{preset}' chain"
        out = dest.save(run, done.audio, done.sr, audio.name, "master", input)
        summary = (f"Wrote {out.path}: {how}, {done.output_lufs} LUFS, true peak {done.output_true_peak_dbtp} dBTP.")
        result = MasterResult(
            output=out, mode=chosen, preset=preset if chosen == "chain" else None, output_lufs=done.output_lufs,
            output_true_peak_dbtp=done.output_true_peak_dbtp, reference_lufs=done.reference_lufs,
            limiter_reduction_db=done.limiter_reduction_db,
        )
        return Reply(result=result, summary=summary, inline_audio=[run.written[-1]])

    return await execute(ctx, work, inline=inline, background=background, result_type=MasterResult)
