"""Speech tools: noise removal (DeepFilterNet3), voice activity (silero-vad), diarization (pyannote)."""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from . import tool
from .common import (
    AudioOutput,
    Backgroundable,
    BackgroundArg,
    BitDepthArg,
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


class EnhanceResult(Backgroundable):
    output: AudioOutput | None = None
    model: str | None = Field(default=None, description="deepfilternet3 (torch checkpoint) or deepfilternet3-onnx (bundled).")


class Segment(BaseModel):
    start_s: float
    end_s: float
    duration_s: float


class VoiceResult(BaseModel):
    segments: list[Segment]
    segment_count: int
    truncated: bool = Field(description="True when more segments were found than max_segments.")
    speech_s: float
    duration_s: float
    speech_ratio: float = Field(description="Share of the file that is speech, 0–1.")


class SpeakerTurn(BaseModel):
    start_s: float
    end_s: float
    speaker: str


class DiarizeResult(Backgroundable):
    num_speakers: int | None = None
    speakers: list[dict] = Field(default_factory=list, description="Each speaker with total speech_s, most talkative first.")
    segments: list[SpeakerTurn] = Field(default_factory=list)
    segment_count: int | None = None
    truncated: bool | None = None
    model: str | None = None


@tool
async def enhance_speech(
    ctx: Context,
    input: InputArg = None,
    atten_lim_db: Annotated[float | None, Field(ge=0, le=100, description=(
        "Limit the noise reduction to this many dB (e.g. 12 keeps some room tone); omit for full reduction."))] = None,
    model: Annotated[Literal["auto", "deepfilternet3", "deepfilternet3-onnx"], Field(description=(
        "auto: the torch checkpoint when installed, else the bundled ONNX model (always available)."))] = "auto",
    output: OutputArg = None,
    format: FormatArg = None,
    bit_depth: BitDepthArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    background: BackgroundArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, EnhanceResult]:
    def work(run: Run) -> Reply:
        from ..engines.deepfilter import enhance_speech as enhance

        audio = run.load(input, input_base64, input_format)
        samples, info = enhance(audio.samples, audio.sr, model=model, atten_lim_db=atten_lim_db,
                                progress=run.progress, cancel=run.cancel)
        out = run.save_audio(samples, audio.sr, output=output, format=format, overwrite=overwrite,
                             default=derived(audio.name, "enhanced", source_ext(input)), bit_depth=bit_depth)
        return Reply(result=EnhanceResult(output=out, model=info.model),
                     summary=f"Wrote {out.path} ({out.duration_s:.1f} s), speech enhanced with {info.model}.",
                     inline_audio=[run.written[-1]])

    return await execute(ctx, work, inline=inline, background=background, result_type=EnhanceResult)


@tool
async def detect_voice(
    ctx: Context,
    input: InputArg = None,
    threshold: Annotated[float, Field(gt=0, lt=1, description="Speech probability that starts a segment; lower finds quieter speech.")] = 0.5,
    min_speech_s: Annotated[float, Field(ge=0, le=10, description="Drop segments shorter than this.")] = 0.25,
    min_silence_s: Annotated[float, Field(ge=0, le=10, description="Pauses shorter than this do not split a segment.")] = 0.1,
    pad_s: Annotated[float, Field(ge=0, le=2, description="Extend each segment by this much on both sides.")] = 0.03,
    merge_gap_s: Annotated[float, Field(ge=0, le=10, description="Merge segments whose padded gap is at most this.")] = 0.0,
    max_segments: Annotated[int, Field(ge=1, le=10000, description="Cap on the returned segment list.")] = 500,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, VoiceResult]:
    def work(run: Run) -> Reply:
        from ..engines.silero import detect_voice as detect

        audio = run.load(input, input_base64, input_format)
        found = detect(audio.samples, audio.sr, threshold=threshold, min_speech_s=min_speech_s,
                       min_silence_s=min_silence_s, pad_s=pad_s, merge_gap_s=merge_gap_s,
                       max_segments=max_segments, progress=run.progress, cancel=run.cancel)
        result = VoiceResult(**vars(found))
        return Reply(result=result, summary=(
            f"{found.segment_count} speech segment(s), {found.speech_s:.1f} s of {found.duration_s:.1f} s "
            f"({found.speech_ratio:.0%} speech)."))

    return await execute(ctx, work)


@tool
async def diarize(
    ctx: Context,
    input: InputArg = None,
    num_speakers: Annotated[int | None, Field(ge=1, le=50, description="Exact number of speakers, when known.")] = None,
    min_speakers: Annotated[int | None, Field(ge=1, le=50, description="Lower bound on the number of speakers.")] = None,
    max_speakers: Annotated[int | None, Field(ge=1, le=50, description="Upper bound on the number of speakers.")] = None,
    model: Annotated[str, Field(description="A pyannote pipeline from list_models (family pyannote).")] = "pyannote-diarization",
    max_segments: Annotated[int, Field(ge=1, le=10000, description="Cap on the returned turn list.")] = 500,
    background: BackgroundArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, DiarizeResult]:
    def work(run: Run) -> Reply:
        from ..engines.pyannote import diarize as run_diarization

        audio = run.load(input, input_base64, input_format)
        found = run_diarization(audio.samples, audio.sr, model=model, num_speakers=num_speakers,
                                min_speakers=min_speakers, max_speakers=max_speakers,
                                max_segments=max_segments, progress=run.progress, cancel=run.cancel)
        result = DiarizeResult(**vars(found))
        talk = ", ".join(f"{s['speaker']} {s['speech_s']:.1f} s" for s in found.speakers[:5])
        return Reply(result=result, summary=f"{found.num_speakers} speaker(s) in {found.segment_count} turn(s)"
                     + (f": {talk}." if talk else "."))

    return await execute(ctx, work, background=background, result_type=DiarizeResult)
