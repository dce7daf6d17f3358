"""Pictures and videos of audio: spectrogram, waveform, loudness curve, visualizer video."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from ..audio_io import Audio
from ..errors import ToolError
from . import tool
from .common import (
    Backgroundable,
    BackgroundArg,
    FileOutput,
    InputArg,
    InputBase64Arg,
    InputFormatArg,
    OverwriteArg,
    Reply,
    Run,
    derived,
    execute,
)

ImageOutputArg = Annotated[
    str | None,
    Field(description="Workspace path for the PNG, e.g. 'plots/song.png'; omit to derive one from the input."),
]
WidthArg = Annotated[int, Field(ge=240, le=4096, description="Image width in pixels.")]
HeightArg = Annotated[int, Field(ge=160, le=4096, description="Image height in pixels.")]
TitleArg = Annotated[str | None, Field(max_length=200, description="Title drawn above the plot; default: the file name.")]


class ImageResult(BaseModel):
    image: FileOutput
    duration_s: float = Field(description="Duration of the audio shown.")


def _picture(
    ctx: Context,
    draw: Callable[[Run, Audio], bytes],
    tag: str,
    what: str,
    *,
    input: str | None,
    input_base64: str | None,
    input_format: str | None,
    output: str | None,
    overwrite: bool,
) -> Awaitable[CallToolResult]:
    """Load, draw a PNG with `draw(run, audio) -> bytes`, save it and return it as an image."""

    def work(run: Run) -> Reply:
        audio = run.load(input, input_base64, input_format)
        png = draw(run, audio)
        image = run.save_bytes(png, output=output, default=derived(audio.name, tag, "png"), overwrite=overwrite)
        summary = f"Wrote {image.path}: {what} of {audio.duration_s:.1f} s of audio."
        return Reply(result=ImageResult(image=image, duration_s=round(audio.duration_s, 3)), summary=summary,
                     images=[png])

    return execute(ctx, work)


@tool
async def spectrogram(
    ctx: Context,
    input: InputArg = None,
    width: WidthArg = 1200,
    height: HeightArg = 600,
    scale: Annotated[
        Literal["linear", "log", "mel"],
        Field(description="Frequency axis: log (musical, 20 Hz up), mel (perceptual) or linear (detail up high)."),
    ] = "log",
    range_db: Annotated[
        float, Field(ge=20, le=160, description="Colour range below 0 dBFS; quieter content is black.")
    ] = 90.0,
    fmax: Annotated[
        float | None, Field(gt=0, description="Highest frequency shown in Hz; default: half the sample rate.")
    ] = None,
    title: TitleArg = None,
    output: ImageOutputArg = None,
    overwrite: OverwriteArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, ImageResult]:
    def draw(run: Run, audio: Audio) -> bytes:
        from ..ops.visualize import spectrogram_png

        return spectrogram_png(audio.samples, audio.sr, width, height, scale, range_db, fmax, title or audio.name)

    return await _picture(ctx, draw, "spectrogram", f"{scale} spectrogram", input=input, input_base64=input_base64,
                          input_format=input_format, output=output, overwrite=overwrite)


@tool
async def waveform(
    ctx: Context,
    input: InputArg = None,
    width: WidthArg = 1200,
    height: HeightArg = 400,
    scale: Annotated[
        Literal["linear", "db"],
        Field(description="linear: amplitude −1…1; db: peak and RMS level in dBFS (shows quiet passages)."),
    ] = "linear",
    range_db: Annotated[float, Field(ge=20, le=160, description="Lowest level drawn when scale=db.")] = 60.0,
    title: TitleArg = None,
    output: ImageOutputArg = None,
    overwrite: OverwriteArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, ImageResult]:
    def draw(run: Run, audio: Audio) -> bytes:
        from ..ops.visualize import waveform_png

        return waveform_png(audio.samples, audio.sr, width, height, scale, range_db, title or audio.name)

    return await _picture(ctx, draw, "waveform", "waveform", input=input, input_base64=input_base64,
                          input_format=input_format, output=output, overwrite=overwrite)


@tool
async def plot_loudness(
    ctx: Context,
    input: InputArg = None,
    target_lufs: Annotated[
        float | None, Field(ge=-50, le=0, description="Draw a target line, e.g. −14 (streaming) or −23 (EBU R128).")
    ] = None,
    width: WidthArg = 1200,
    height: HeightArg = 400,
    title: TitleArg = None,
    output: ImageOutputArg = None,
    overwrite: OverwriteArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, ImageResult]:
    def draw(run: Run, audio: Audio) -> bytes:
        from ..ops import loudness
        from ..ops.visualize import loudness_png

        momentary = loudness.curve(audio.samples, audio.sr, "momentary", points=width, cancel=run.cancel)
        short_term = loudness.curve(audio.samples, audio.sr, "short_term", points=width, cancel=run.cancel)
        if len(momentary.times_s) != len(short_term.times_s):
            # fewer short-term blocks on a short clip: place both on the momentary times
            short_term_lufs = _resample_curve(short_term.times_s, short_term.lufs, momentary.times_s)
        else:
            short_term_lufs = short_term.lufs
        integrated = loudness.measure(audio.samples, audio.sr, cancel=run.cancel).integrated_lufs
        return loudness_png(momentary.times_s, momentary.lufs, short_term_lufs, target_lufs, title or audio.name,
                            width, height, integrated)

    return await _picture(ctx, draw, "loudness", "loudness curve", input=input, input_base64=input_base64,
                          input_format=input_format, output=output, overwrite=overwrite)


def _resample_curve(times: list[float], values: list[float | None], at: list[float]) -> list[float | None]:
    """The value of the last point at or before each time in `at` (None before the first)."""
    out, i = [], -1
    for t in at:
        while i + 1 < len(times) and times[i + 1] <= t:
            i += 1
        out.append(values[i] if i >= 0 else None)
    return out


class VideoResult(Backgroundable):
    video: FileOutput | None = None
    mode: str | None = None


@tool
async def visualize_video(
    ctx: Context,
    input: InputArg = None,
    mode: Annotated[
        Literal["spectrum", "waves", "vectorscope", "cqt"],
        Field(description="spectrum: frequency bars; waves: scrolling waveform per channel; vectorscope: stereo "
              "image (Lissajous); cqt: piano-roll-like constant-Q spectrum with note names."),
    ] = "spectrum",
    width: Annotated[int, Field(ge=64, le=3840, description="Video width in pixels (rounded down to even).")] = 1280,
    height: Annotated[int, Field(ge=64, le=2160, description="Video height in pixels (rounded down to even).")] = 720,
    fps: Annotated[int, Field(ge=1, le=60, description="Frames per second.")] = 30,
    video_format: Annotated[
        Literal["mp4", "webm"], Field(description="mp4 (H.264 + AAC, plays everywhere) or webm (VP9 + Opus).")
    ] = "mp4",
    output: Annotated[
        str | None, Field(description="Workspace path for the video; omit to derive one from the input.")
    ] = None,
    overwrite: OverwriteArg = False,
    background: BackgroundArg = False,
) -> Annotated[CallToolResult, VideoResult]:
    def work(run: Run) -> Reply:
        from ..ops.video import visualize_video as render

        if not input:
            raise ToolError("No input given: pass a workspace path (see list_files).")
        source = run.path(input)
        video = run.save_file(
            lambda tmp: render(source, tmp, mode, width, height, fps, video_format, progress=run.progress, cancel=run.cancel),
            output=output,
            default=derived(source.name, mode, video_format),
            overwrite=overwrite,
        )
        summary = f"Wrote {video.path}: {mode} visualizer, {width - width % 2}x{height - height % 2} at {fps} fps."
        return Reply(result=VideoResult(video=video, mode=mode), summary=summary)

    return await execute(ctx, work, background=background, result_type=VideoResult)
