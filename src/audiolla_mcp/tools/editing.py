"""Editing tools: cut, join, convert and reshape audio."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from .. import audio_io
from ..errors import ToolError
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
    derived,
    execute,
    source_ext,
)

if TYPE_CHECKING:
    import numpy as np


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


# -- reshaping one file ------------------------------------------------------------------------


class EditResult(BaseModel):
    output: AudioOutput


def _one_in_one_out(
    ctx: Context,
    edit: Callable[[Run, audio_io.Audio], tuple[np.ndarray, str]],
    tag: str,
    *,
    input: str | None,
    output: str | None,
    format: str | None,
    overwrite: bool,
    inline: bool,
    input_base64: str | None,
    input_format: str | None,
) -> Awaitable[CallToolResult]:
    """The body every audio-in, audio-out edit shares: load, apply `edit` (which returns the new
    samples and a few words on what it did), save, summarise."""

    def work(run: Run) -> Reply:
        audio = run.load(input, input_base64, input_format)
        samples, describe = edit(run, audio)
        out = Destination(output, format, overwrite).save(run, samples, audio.sr, audio.name, tag, input)
        summary = f"Wrote {out.path} ({out.duration_s:.2f} s, {out.channels} ch): {describe}."
        return Reply(result=EditResult(output=out), summary=summary, inline_audio=[run.written[-1]])

    return execute(ctx, work, inline=inline)


@tool
async def fade(
    ctx: Context,
    input: InputArg = None,
    fade_in_s: Annotated[float, Field(ge=0, le=600, description="Fade-in length in seconds (0 = none).")] = 0.0,
    fade_out_s: Annotated[float, Field(ge=0, le=600, description="Fade-out length in seconds (0 = none).")] = 0.0,
    curve: Annotated[
        Literal["linear", "exponential", "logarithmic", "equal_power", "s_curve"],
        Field(description="Gain shape: linear; exponential (slow start, 60 dB span); logarithmic (fast start); "
              "equal_power (sin/cos, for crossfades); s_curve (raised cosine, smooth at both ends)."),
    ] = "linear",
    output: OutputArg = None,
    format: FormatArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, EditResult]:
    def edit(run: Run, audio: audio_io.Audio) -> tuple[np.ndarray, str]:
        from ..ops.edit import fade as fade_op

        return fade_op(audio.samples, audio.sr, fade_in_s, fade_out_s, curve), f"{fade_in_s:g} s fade-in, {fade_out_s:g} s fade-out ({curve})"

    return await _one_in_one_out(
        ctx, edit, "fade", input=input,
        output=output, format=format, overwrite=overwrite, inline=inline, input_base64=input_base64,
        input_format=input_format)


@tool
async def reverse(
    ctx: Context,
    input: InputArg = None,
    output: OutputArg = None,
    format: FormatArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, EditResult]:
    def edit(run: Run, audio: audio_io.Audio) -> tuple[np.ndarray, str]:
        from ..ops.edit import reverse as reverse_op

        return reverse_op(audio.samples, audio.sr), "reversed"

    return await _one_in_one_out(
        ctx, edit, "reversed", input=input, output=output, format=format, overwrite=overwrite,
        inline=inline, input_base64=input_base64, input_format=input_format)


@tool
async def loop(
    ctx: Context,
    input: InputArg = None,
    count: Annotated[int, Field(ge=1, le=1000, description="How many times the clip plays in total.")] = 2,
    output: OutputArg = None,
    format: FormatArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, EditResult]:
    def edit(run: Run, audio: audio_io.Audio) -> tuple[np.ndarray, str]:
        from ..ops.edit import loop as loop_op

        return loop_op(audio.samples, audio.sr, count), f"played {count} times"

    return await _one_in_one_out(
        ctx, edit, f"x{count}", input=input, output=output, format=format,
        overwrite=overwrite, inline=inline, input_base64=input_base64, input_format=input_format)


@tool
async def change_speed(
    ctx: Context,
    input: InputArg = None,
    factor: Annotated[
        float, Field(ge=0.25, le=4, description="Speed factor: 2 = twice as fast and an octave up, 0.5 = half "
                     "speed and an octave down.")
    ] = 1.0,
    output: OutputArg = None,
    format: FormatArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, EditResult]:
    def edit(run: Run, audio: audio_io.Audio) -> tuple[np.ndarray, str]:
        from ..ops.edit import change_speed as change_speed_op

        return change_speed_op(audio.samples, audio.sr, factor, progress=run.progress, cancel=run.cancel), f"speed ×{factor:g}, pitch {12 * math.log2(factor):+.2f} semitones"

    return await _one_in_one_out(
        ctx, edit, f"speed{factor:g}",
        input=input, output=output, format=format, overwrite=overwrite, inline=inline,
        input_base64=input_base64, input_format=input_format)


@tool
async def pan(
    ctx: Context,
    input: InputArg = None,
    position: Annotated[
        float, Field(ge=-1, le=1, description="−1 = hard left, 0 = centre, 1 = hard right. Mono input uses the "
                     "constant-power law (−3 dB per side at centre); stereo input is balanced.")
    ] = 0.0,
    output: OutputArg = None,
    format: FormatArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, EditResult]:
    def edit(run: Run, audio: audio_io.Audio) -> tuple[np.ndarray, str]:
        from ..ops.edit import pan as pan_op

        return pan_op(audio.samples, audio.sr, position), f"panned to {position:+g}"

    return await _one_in_one_out(
        ctx, edit, f"pan{position:+g}", input=input, output=output, format=format,
        overwrite=overwrite, inline=inline, input_base64=input_base64, input_format=input_format)


@tool
async def stereo_width(
    ctx: Context,
    input: InputArg = None,
    width: Annotated[
        float, Field(ge=0, le=2, description="0 = mono, 1 = unchanged, 2 = side signal doubled (wide).")
    ] = 1.0,
    output: OutputArg = None,
    format: FormatArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, EditResult]:
    def edit(run: Run, audio: audio_io.Audio) -> tuple[np.ndarray, str]:
        from ..ops.edit import stereo_width as stereo_width_op

        return stereo_width_op(audio.samples, audio.sr, width), f"stereo width {width:g}"

    return await _one_in_one_out(
        ctx, edit, f"width{width:g}", input=input, output=output, format=format,
        overwrite=overwrite, inline=inline, input_base64=input_base64, input_format=input_format)


@tool
async def mid_side(
    ctx: Context,
    input: InputArg = None,
    mode: Annotated[
        Literal["encode", "decode"],
        Field(description="encode: L/R → M=(L+R)/2 in channel 1, S=(L−R)/2 in channel 2; decode: back to L/R."),
    ] = "encode",
    output: OutputArg = None,
    format: FormatArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, EditResult]:
    def edit(run: Run, audio: audio_io.Audio) -> tuple[np.ndarray, str]:
        from ..ops.edit import mid_side as mid_side_op

        return mid_side_op(audio.samples, audio.sr, mode), f"mid/side {mode}d"

    return await _one_in_one_out(
        ctx, edit, "ms" if mode == "encode" else "lr", input=input, output=output,
        format=format, overwrite=overwrite, inline=inline, input_base64=input_base64, input_format=input_format)


ThresholdArg = Annotated[
    float, Field(ge=-120, le=-10, description="Level (dBFS, 10 ms RMS) below which audio counts as silence.")
]
MinSilenceArg = Annotated[
    float, Field(ge=0.01, le=60, description="Shortest gap, in seconds, that counts as a silence to cut at.")
]
PadArg = Annotated[
    float, Field(ge=0, le=5, description="Seconds of the silence kept next to the sound, so onsets and tails survive.")
]


@tool
async def strip_silence(
    ctx: Context,
    input: InputArg = None,
    mode: Annotated[
        Literal["edges", "all"],
        Field(description="edges: leading and trailing silence only; all: also shorten every inner silence of at "
              "least min_silence_s to 2 × pad_s."),
    ] = "edges",
    threshold_db: ThresholdArg = -50.0,
    min_silence_s: MinSilenceArg = 0.5,
    pad_s: PadArg = 0.05,
    output: OutputArg = None,
    format: FormatArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, EditResult]:
    def edit(run: Run, audio: audio_io.Audio) -> tuple[np.ndarray, str]:
        from ..ops.edit import strip_silence as strip_silence_op

        out = strip_silence_op(audio.samples, audio.sr, mode, threshold_db, min_silence_s, pad_s)
        return out, f"{(audio.samples.shape[-1] - out.shape[-1]) / audio.sr:.2f} s of silence removed ({mode})"

    return await _one_in_one_out(
        ctx, edit, "trimmed" if mode == "edges" else "nosilence", input=input,
        output=output, format=format, overwrite=overwrite, inline=inline, input_base64=input_base64,
        input_format=input_format)


# -- several files in, one out -----------------------------------------------------------------


class ConcatResult(Backgroundable):
    output: AudioOutput | None = None
    inputs: int | None = Field(default=None, description="How many files were joined.")


@tool
async def concat(
    ctx: Context,
    inputs: Annotated[
        list[str], Field(min_length=1, max_length=200, description="Workspace paths of the files, in playing order.")
    ],
    crossfade_s: Annotated[
        float, Field(ge=0, le=30, description="Overlap each joint by this many seconds with an equal-power crossfade.")
    ] = 0.0,
    sample_rate: Annotated[
        int | None, Field(ge=8000, le=192000, description="Rate of the result; default: the first file's.")
    ] = None,
    output: OutputArg = None,
    format: FormatArg = None,
    bit_depth: BitDepthArg = None,
    bitrate_kbps: BitrateArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    background: BackgroundArg = False,
) -> Annotated[CallToolResult, ConcatResult]:
    def work(run: Run) -> Reply:
        from ..ops.edit import concat as concat_op

        clips = [run.load(path, what=f"inputs[{i}]") for i, path in enumerate(inputs)]
        samples, sr = concat_op([(c.samples, c.sr) for c in clips], sample_rate, crossfade_s)
        out = run.save_audio(
            samples, sr, output=output, default=derived(clips[0].name, "joined", source_ext(inputs[0])),
            format=format, overwrite=overwrite, bit_depth=bit_depth, bitrate_kbps=bitrate_kbps,
        )
        summary = f"Wrote {out.path}: {len(clips)} files joined, {out.duration_s:.2f} s at {sr} Hz."
        return Reply(result=ConcatResult(output=out, inputs=len(clips)), summary=summary,
                     inline_audio=[run.written[-1]])

    return await execute(ctx, work, inline=inline, background=background, result_type=ConcatResult)


class MixInput(BaseModel):
    input: str = Field(description="Workspace path of the track.")
    gain_db: float = Field(default=0.0, ge=-96, le=24, description="Track gain in dB.")
    pan: float | None = Field(
        default=None, ge=-1, le=1,
        description="−1 left … 1 right (constant-power for mono tracks, balance for stereo); omit to leave as is.",
    )
    offset_s: float = Field(default=0.0, ge=0, le=3600, description="Where the track starts in the mix, in seconds.")


class MixResult(Backgroundable):
    output: AudioOutput | None = None
    peak_before_db: float | None = Field(default=None, description="Sample peak of the plain sum, dBFS.")
    gain_db: float | None = Field(default=None, description="Gain applied to the whole mix afterwards.")
    peak_db: float | None = Field(default=None, description="Sample peak of the written mix, dBFS.")
    action: Literal["none", "normalized", "reduced_to_avoid_clipping"] | None = Field(
        default=None, description="none; normalized (peak set to ceiling_db); reduced_to_avoid_clipping (the sum "
        "went over 0 dBFS and was turned down to ceiling_db).",
    )


@tool
async def mix(
    ctx: Context,
    tracks: Annotated[list[MixInput], Field(min_length=1, max_length=64, description="The tracks to sum.")],
    normalize: Annotated[
        bool, Field(description="Scale the mix so its peak sits exactly at ceiling_db (up or down).")
    ] = False,
    ceiling_db: Annotated[
        float, Field(ge=-24, le=0, description="Peak level used when normalizing or when the sum would clip.")
    ] = -1.0,
    sample_rate: Annotated[
        int | None, Field(ge=8000, le=192000, description="Rate of the mix; default: the first track's.")
    ] = None,
    output: OutputArg = None,
    format: FormatArg = None,
    bit_depth: BitDepthArg = None,
    bitrate_kbps: BitrateArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    background: BackgroundArg = False,
) -> Annotated[CallToolResult, MixResult]:
    def work(run: Run) -> Reply:
        from ..ops.edit import MixTrack
        from ..ops.edit import mix as mix_op

        loaded = [run.load(t.input, what=f"tracks[{i}].input") for i, t in enumerate(tracks)]
        specs = [MixTrack(a.samples, a.sr, t.gain_db, t.pan, t.offset_s) for a, t in zip(loaded, tracks, strict=True)]
        samples, sr, report = mix_op(specs, normalize, ceiling_db, sample_rate)
        out = run.save_audio(
            samples, sr, output=output, default=derived(loaded[0].name, "mix", source_ext(tracks[0].input)),
            format=format, overwrite=overwrite, bit_depth=bit_depth, bitrate_kbps=bitrate_kbps,
        )
        result = MixResult(output=out, peak_before_db=report.peak_before_db, gain_db=report.gain_db,
                           peak_db=report.peak_db, action=report.action)
        level = "" if report.action == "none" else f", {report.action.replace('_', ' ')} ({report.gain_db:+.1f} dB)"
        summary = f"Wrote {out.path}: {len(tracks)} tracks, {out.duration_s:.2f} s, peak {report.peak_db} dBFS{level}."
        return Reply(result=result, summary=summary, inline_audio=[run.written[-1]])

    return await execute(ctx, work, inline=inline, background=background, result_type=MixResult)


# -- one file in, several out ------------------------------------------------------------------


class Part(BaseModel):
    path: str
    uri: str
    start_s: float
    end_s: float


class PartsResult(BaseModel):
    parts: list[Part]
    count: int


FolderArg = Annotated[
    str | None, Field(description="Workspace folder for the parts; default '<input name>.parts'.")
]
MaxPartsArg = Annotated[int, Field(ge=1, le=1000, description="Refuse to write more files than this.")]


def _save_parts(run: Run, audio: audio_io.Audio, spans: list, *, input: str | None, folder: str | None,
                max_parts: int, format: str | None, overwrite: bool) -> PartsResult:
    """Write each span of `audio` as `<folder>/<name>.NNN.<ext>`."""
    if len(spans) > max_parts:
        raise ToolError(f"that would write {len(spans)} files, over max_parts={max_parts}; raise max_parts or "
                        "choose longer parts.")
    folder = folder or f"{Path(audio.name).stem}.parts"
    parts = []
    for i, span in enumerate(spans, start=1):
        out = run.save_audio(
            audio.samples[:, span.start_frame : span.end_frame], audio.sr, output=None,
            default=f"{folder}/{derived(audio.name, f'{i:03d}', source_ext(input))}", format=format,
            overwrite=overwrite,
        )
        parts.append(Part(path=out.path, uri=out.uri, start_s=span.start_s, end_s=span.end_s))
    return PartsResult(parts=parts, count=len(parts))


@tool
async def split(
    ctx: Context,
    input: InputArg = None,
    mode: Annotated[
        Literal["equal", "silence"],
        Field(description="equal: `parts` pieces of equal length; silence: one piece per stretch of sound between "
              "silences of at least min_silence_s."),
    ] = "equal",
    parts: Annotated[int, Field(ge=1, le=1000, description="Number of pieces for mode=equal.")] = 2,
    threshold_db: ThresholdArg = -50.0,
    min_silence_s: MinSilenceArg = 0.5,
    pad_s: PadArg = 0.1,
    folder: FolderArg = None,
    max_parts: MaxPartsArg = 200,
    format: FormatArg = None,
    overwrite: OverwriteArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, PartsResult]:
    def work(run: Run) -> Reply:
        from ..ops.edit import split as split_op

        audio = run.load(input, input_base64, input_format)
        spans = split_op(audio.samples, audio.sr, mode, parts, threshold_db, min_silence_s, pad_s)
        result = _save_parts(run, audio, spans, input=input, folder=folder, max_parts=max_parts, format=format,
                             overwrite=overwrite)
        folder_name = result.parts[0].path.rsplit("/", 1)[0]
        summary = f"Wrote {result.count} parts to {folder_name}/ ({mode} split)."
        return Reply(result=result, summary=summary)

    return await execute(ctx, work)


@tool
async def slice_at_beats(
    ctx: Context,
    input: InputArg = None,
    beats_per_slice: Annotated[
        int, Field(ge=1, le=64, description="1 = one slice per beat, 4 = one per bar of 4/4, and so on.")
    ] = 1,
    start_bpm: Annotated[
        float | None, Field(ge=30, le=300, description="Tempo hint for the beat tracker, if known.")
    ] = None,
    folder: FolderArg = None,
    max_parts: MaxPartsArg = 500,
    format: FormatArg = None,
    overwrite: OverwriteArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, PartsResult]:
    def work(run: Run) -> Reply:
        from ..ops.beats import detect_beats
        from ..ops.edit import slice_points_at_beats

        audio = run.load(input, input_base64, input_format)
        beats = detect_beats(audio.samples, audio.sr, start_bpm=start_bpm, max_beats=100_000)
        if beats.bpm is None:
            raise ToolError("no steady beat was found in this audio; use split instead.")
        spans = slice_points_at_beats(beats.beats, audio.sr, audio.samples.shape[-1], beats_per_slice)
        result = _save_parts(run, audio, spans, input=input, folder=folder, max_parts=max_parts, format=format,
                             overwrite=overwrite)
        summary = f"Wrote {result.count} slices at {beats.bpm:g} BPM ({beats_per_slice} beat(s) each)."
        return Reply(result=result, summary=summary)

    return await execute(ctx, work)


class ThumbnailResult(BaseModel):
    output: AudioOutput
    start_s: float = Field(description="Where the excerpt starts in the input.")
    end_s: float


@tool
async def thumbnail(
    ctx: Context,
    input: InputArg = None,
    duration_s: Annotated[float, Field(ge=1, le=600, description="Length of the excerpt in seconds.")] = 30.0,
    output: OutputArg = None,
    format: FormatArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, ThumbnailResult]:
    def work(run: Run) -> Reply:
        from ..ops.edit import thumbnail as thumbnail_op

        audio = run.load(input, input_base64, input_format)
        span = thumbnail_op(audio.samples, audio.sr, duration_s, progress=run.progress, cancel=run.cancel)
        out = run.save_audio(
            audio.samples[:, span.start_frame : span.end_frame], audio.sr, output=output,
            default=derived(audio.name, "thumbnail", source_ext(input)), format=format, overwrite=overwrite,
        )
        result = ThumbnailResult(output=out, start_s=span.start_s, end_s=span.end_s)
        summary = f"Wrote {out.path}: the most representative {out.duration_s:.1f} s, {span.start_s:.2f}–{span.end_s:.2f} s."
        return Reply(result=result, summary=summary, inline_audio=[run.written[-1]])

    return await execute(ctx, work, inline=inline)
