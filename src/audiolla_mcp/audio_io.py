"""Decode and encode audio files.

Decoding tries libsndfile (wav, flac, ogg/vorbis/opus, aiff, mp3) and falls back to ffmpeg for
everything else (m4a/aac, wma, video containers…). Encoding uses libsndfile for the lossless
formats and ogg/vorbis, and ffmpeg for mp3, opus and m4a so bitrates can be chosen. Audio is
always float32 of shape (channels, frames).
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf

from .errors import ToolError

Format = Literal["wav", "flac", "mp3", "ogg", "opus", "m4a", "aiff"]
FORMATS: tuple[str, ...] = ("wav", "flac", "mp3", "ogg", "opus", "m4a", "aiff")
DECODABLE = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".aif", ".aiff", ".wma", ".mp4", ".webm", ".mkv")
FFMPEG_TIMEOUT_S = 600
_PCM_SUBTYPES = {16: "PCM_16", 24: "PCM_24", 32: "FLOAT"}
_LOSSY_DEFAULT_KBPS = {"mp3": 192, "opus": 128, "m4a": 192, "ogg": 192}
_FFMPEG_CODECS = {"mp3": ["-c:a", "libmp3lame"], "opus": ["-c:a", "libopus"], "m4a": ["-c:a", "aac"]}


@dataclass(frozen=True)
class AudioInfo:
    duration_s: float
    sample_rate: int
    channels: int
    frames: int
    codec: str
    container: str
    bit_depth: int | None
    bitrate_kbps: float | None
    bytes: int


@dataclass
class Audio:
    """Decoded audio plus where it came from (used to derive output names)."""

    samples: np.ndarray
    sr: int
    name: str = "audio"

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration_s(self) -> float:
        return self.samples.shape[1] / self.sr


def _ffmpeg(*args: str, stdin: bytes | None = None) -> bytes:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise ToolError("ffmpeg is not installed; install it (e.g. `apt-get install ffmpeg`) to use this format.")
    try:
        done = subprocess.run(
            [exe, "-hide_banner", "-nostdin", "-v", "error", *args],
            input=stdin,
            capture_output=True,
            timeout=FFMPEG_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ToolError(f"ffmpeg took longer than {FFMPEG_TIMEOUT_S} s and was stopped.") from exc
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        raise ToolError(f"ffmpeg failed: {reason[-1] if reason else 'unknown error'}")
    return done.stdout


def _ffprobe(path: Path) -> dict:
    exe = shutil.which("ffprobe")
    if exe is None:
        raise ToolError("ffprobe (ffmpeg) is not installed; it is needed to read this format.")
    done = subprocess.run(
        [exe, "-v", "error", "-print_format", "json", "-show_streams", "-show_format", "-select_streams", "a:0", str(path)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    data = json.loads(done.stdout or b"{}") if done.returncode == 0 else {}
    if not data.get("streams"):
        raise ToolError(f"{path.name!r} is not an audio file this server can read (no audio stream found).")
    return data


def _check_wav_complete(path: Path) -> None:
    """libsndfile silently reads a truncated WAV; say so instead of returning half a file."""
    with path.open("rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE" or head[:4] == b"RF64":
            return
        size = path.stat().st_size
        offset = 12
        while offset + 8 <= size:
            fh.seek(offset)
            chunk_id, chunk_len = struct.unpack("<4sI", fh.read(8))
            if chunk_id == b"data":
                if offset + 8 + chunk_len > size and chunk_len != 0xFFFFFFFF:
                    raise ToolError(
                        f"{path.name!r} is a truncated WAV: its header promises {chunk_len} bytes of audio but "
                        f"only {size - offset - 8} are there. Re-export or re-upload the file."
                    )
                return
            offset += 8 + chunk_len + (chunk_len & 1)


def probe(path: Path) -> AudioInfo:
    """Header facts without decoding the audio."""
    size = path.stat().st_size
    if size == 0:
        raise ToolError(f"{path.name!r} is empty (0 bytes).")
    try:
        info = sf.info(str(path))
        _check_wav_complete(path)
        depth = {"PCM_S8": 8, "PCM_U8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32, "FLOAT": 32, "DOUBLE": 64}
        duration = info.frames / info.samplerate if info.samplerate else 0.0
        bitrate = size * 8 / duration / 1000 if duration > 0 else None
        return AudioInfo(
            duration_s=round(duration, 6),
            sample_rate=int(info.samplerate),
            channels=int(info.channels),
            frames=int(info.frames),
            codec=info.subtype_info or info.subtype,
            container=info.format.lower(),
            bit_depth=depth.get(info.subtype),
            bitrate_kbps=round(bitrate, 1) if bitrate else None,
            bytes=size,
        )
    except sf.LibsndfileError:
        pass
    data = _ffprobe(path)
    stream, fmt = data["streams"][0], data.get("format", {})
    duration = float(stream.get("duration") or fmt.get("duration") or 0.0)
    sr = int(stream.get("sample_rate") or 0)
    bit_rate = stream.get("bit_rate") or fmt.get("bit_rate")
    depth = stream.get("bits_per_raw_sample") or stream.get("bits_per_sample")
    return AudioInfo(
        duration_s=round(duration, 6),
        sample_rate=sr,
        channels=int(stream.get("channels") or 0),
        frames=int(round(duration * sr)),
        codec=stream.get("codec_long_name") or stream.get("codec_name", "unknown"),
        container=fmt.get("format_name", "unknown"),
        bit_depth=int(depth) if depth and int(depth) > 0 else None,
        bitrate_kbps=round(int(bit_rate) / 1000, 1) if bit_rate else None,
        bytes=size,
    )


def decode(path: Path, *, max_duration_s: float | None = None) -> Audio:
    """Read a whole file as float32 (channels, frames)."""
    info = probe(path)
    if info.channels < 1 or info.sample_rate < 1:
        raise ToolError(f"{path.name!r} has no audio channels.")
    if max_duration_s is not None and info.duration_s > max_duration_s:
        raise ToolError(
            f"{path.name!r} is {_duration(info.duration_s)} long, over this server's limit of "
            f"{_duration(max_duration_s)}; trim it first or raise AUDIOLLA_MAX_DURATION_S."
        )
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
        samples = np.ascontiguousarray(data.T)
    except sf.LibsndfileError:
        raw = _ffmpeg("-i", str(path), "-map", "0:a:0", "-f", "f32le", "-acodec", "pcm_f32le", "-")
        sr = info.sample_rate
        samples = np.frombuffer(raw, dtype="<f4").reshape(-1, info.channels).T.copy()
    if samples.shape[1] == 0:
        raise ToolError(f"{path.name!r} contains no audio frames.")
    if not np.isfinite(samples).all():
        samples = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
    return Audio(samples=samples, sr=int(sr), name=path.stem)


def decode_samples(path: Path, *, max_duration_s: float | None = None) -> tuple[np.ndarray, int]:
    """`decode` as a (samples, rate) pair, for code that takes a loader function."""
    decoded = decode(path, max_duration_s=max_duration_s)
    return decoded.samples, decoded.sr


def _duration(seconds: float) -> str:
    """'90 s' or '4.5 min': a short limit must not read as '0 min'."""
    return f"{seconds:.3g} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def decode_bytes(data: bytes, fmt: str | None, *, max_duration_s: float | None = None) -> Audio:
    """Decode an uploaded clip through a private temp file (never the workspace)."""
    if not data:
        raise ToolError("input_base64 decoded to 0 bytes.")
    suffix = "." + (fmt or "bin").lower().lstrip(".")
    with tempfile.TemporaryDirectory(prefix="audiolla-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        audio = decode(path, max_duration_s=max_duration_s)
    audio.name = "upload"
    return audio


def format_for(path: Path, requested: str | None = None) -> str:
    """The output format: explicit, else from the extension."""
    fmt = (requested or path.suffix.lstrip(".")).lower()
    fmt = {"aif": "aiff", "oga": "ogg", "wave": "wav"}.get(fmt, fmt)
    if fmt not in FORMATS:
        raise ToolError(f"Unknown output format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    return fmt


def encode(
    samples: np.ndarray,
    sr: int,
    path: Path,
    fmt: str,
    *,
    bit_depth: int | None = None,
    bitrate_kbps: int | None = None,
) -> None:
    """Write (channels, frames) float audio to `path` in `fmt`."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 1:
        samples = samples[None, :]
    if samples.shape[1] == 0:
        raise ToolError("The result has no audio frames; nothing was written.")
    samples = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
    frames = np.ascontiguousarray(samples.T)
    if fmt in ("wav", "aiff", "flac"):
        depth = bit_depth or 24
        if fmt == "flac" and depth == 32:
            raise ToolError("FLAC stores at most 24-bit samples; choose bit_depth 16 or 24, or wav for 32-bit float.")
        container = {"wav": "WAV", "aiff": "AIFF", "flac": "FLAC"}[fmt]
        sf.write(str(path), frames, sr, format=container, subtype=_PCM_SUBTYPES[depth])
    elif fmt == "ogg":
        sf.write(str(path), frames, sr, format="OGG", subtype="VORBIS")
    else:
        kbps = bitrate_kbps or _LOSSY_DEFAULT_KBPS[fmt]
        container = {"mp3": "mp3", "opus": "ogg", "m4a": "ipod"}[fmt]
        _ffmpeg(
            "-f", "f32le", "-ar", str(sr), "-ac", str(samples.shape[0]), "-i", "pipe:0",
            *_FFMPEG_CODECS[fmt], "-b:a", f"{kbps}k", "-f", container, "-y", str(path),
            stdin=frames.tobytes(),
        )


def encode_bytes(samples: np.ndarray, sr: int, fmt: str, **options: int | None) -> bytes:
    """Encode to memory (for inline results and tests)."""
    with tempfile.TemporaryDirectory(prefix="audiolla-") as tmp:
        path = Path(tmp) / f"clip.{fmt}"
        encode(samples, sr, path, fmt, **options)
        return path.read_bytes()
