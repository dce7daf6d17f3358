"""Music videos of a track's spectrum, waveform, stereo image or constant-Q spectrum, rendered
by ffmpeg's visualisation filters (file to file: ffmpeg does the decoding and encoding)."""

from __future__ import annotations

import functools
import logging
import subprocess
import threading
from pathlib import Path
from typing import Literal

from ..errors import ToolError
from ..progress import NEVER, CancelToken, ProgressFn, no_progress

log = logging.getLogger(__name__)

VideoMode = Literal["spectrum", "waves", "vectorscope", "cqt"]
VideoFormat = Literal["mp4", "webm"]

_FILTERS: dict[str, str] = {
    "spectrum": "aformat=channel_layouts=mono,showfreqs=s={w}x{h}:mode=bar:fscale=log:ascale=log"
    ":win_size=4096:rate={fps}:averaging=2:colors=0x3b8eea",
    "waves": "showwaves=s={w}x{h}:mode=cline:rate={fps}:split_channels=1:colors=0x3b8eea|0xf0a030",
    "vectorscope": "aformat=channel_layouts=stereo,avectorscope=s={w}x{h}:rate={fps}:zoom=1.5"
    ":draw=line:mode=lissajous_xy",
    "cqt": "showcqt=s={w}x{h}:fps={fps}:count=1:axis=1",
}
_ENCODERS: dict[str, tuple[tuple[str, ...], ...]] = {
    # (video codec args, audio codec args), best first
    "mp4": (("-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-c:a", "aac", "-b:a", "192k"),
            ("-c:v", "mpeg4", "-q:v", "4", "-c:a", "aac", "-b:a", "192k")),
    "webm": (("-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "2M",
              "-c:a", "libopus", "-b:a", "160k"),
             ("-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "2M",
              "-c:a", "libopus", "-b:a", "160k")),
}


@functools.cache
def _available_encoders() -> frozenset[str]:
    out = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True,
                         check=False, timeout=30).stdout
    return frozenset(line.split()[1] for line in out.splitlines() if line.startswith(" ") and
                     len(line.split()) > 1)


def _codec_args(fmt: str) -> tuple[str, ...]:
    encoders = _available_encoders()
    for args in _ENCODERS[fmt]:
        if args[1] in encoders and args[args.index("-c:a") + 1] in encoders:
            return args
    raise ToolError(f"this ffmpeg build has no encoder for {fmt}; choose another format.")


def probe_duration(path: Path) -> float:
    """Duration in seconds from ffprobe; ToolError when the file is not audio ffmpeg can read."""
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=False, timeout=60,
    )
    try:
        return float(result.stdout.strip())
    except ValueError:
        raise ToolError(f"{path.name} is not audio that ffmpeg can read.") from None


def visualize_video(
    in_path: Path,
    out_path: Path,
    mode: VideoMode = "spectrum",
    width: int = 1280,
    height: int = 720,
    fps: int = 30,
    fmt: VideoFormat | None = None,
    timeout_s: float = 600.0,
    *,
    progress: ProgressFn = no_progress,
    cancel: CancelToken = NEVER,
) -> None:
    """Render `in_path`'s audio as a video with its sound track into `out_path`.

    `fmt` defaults to `out_path`'s extension (mp4: H.264 + AAC, MPEG-4 Part 2 when there is no
    H.264 encoder; webm: VP9 or VP8 + Opus). Odd sizes are rounded down to even (4:2:0 video).
    Progress follows ffmpeg's own position; cancelling or passing `timeout_s` stops ffmpeg.
    """
    if mode not in _FILTERS:
        raise ToolError(f"mode must be one of {', '.join(_FILTERS)} (got {mode!r}).")
    fmt = fmt or out_path.suffix.lstrip(".").lower()
    if fmt not in _ENCODERS:
        raise ToolError(f"video format must be mp4 or webm (got {fmt!r}).")
    if not (64 <= width <= 3840 and 64 <= height <= 2160 and 1 <= fps <= 60):
        raise ToolError("video size must be 64–3840 × 64–2160 px and fps 1–60.")
    w, h = width - width % 2, height - height % 2
    total = probe_duration(in_path)
    graph = f"[0:a]{_FILTERS[mode].format(w=w, h=h, fps=fps)},format=yuv420p[v]"
    cmd = [
        "ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(in_path),
        "-filter_complex", graph, "-map", "[v]", "-map", "0:a",
        *_codec_args(fmt), "-shortest", "-f", fmt, "-progress", "pipe:1", "-nostats",
        str(out_path),
    ]
    _run_with_progress(cmd, total, timeout_s, progress, cancel)


def _run_with_progress(
    cmd: list[str], total_s: float, timeout_s: float, progress: ProgressFn, cancel: CancelToken
) -> None:
    """Run ffmpeg, turning its `-progress` lines into progress calls; kill it on cancel or
    timeout and remove what it wrote (the last argument) on any failure."""
    out_path = Path(cmd[-1])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    timed_out = threading.Event()

    def expire() -> None:
        timed_out.set()
        proc.kill()

    timer = threading.Timer(timeout_s, expire)
    timer.start()
    try:
        for line in proc.stdout:
            if cancel.cancelled:
                proc.kill()
                break
            if line.startswith("out_time_us=") and line[12:].strip().isdigit():
                progress(min(total_s, int(line[12:]) / 1e6), total_s, "rendering video")
        stderr = proc.stderr.read()
        code = proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.returncode != 0:
            out_path.unlink(missing_ok=True)
    cancel.check()
    if code == 0:
        progress(total_s, total_s, "video rendered")
    if timed_out.is_set():
        raise ToolError(f"video rendering took longer than {timeout_s:.0f} s; use a shorter "
                        "clip, a smaller size or fewer fps.")
    if code != 0:
        log.warning("ffmpeg failed (%s): %s", code, stderr[-2000:])
        raise ToolError(f"ffmpeg could not render the video: {stderr.strip()[-300:] or code}")
