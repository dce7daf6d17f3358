"""Voice activity detection with Silero VAD's bundled ONNX model, through onnxruntime alone.

The model scores 32 ms frames (512 samples at 16 kHz, with 64 samples of context carried
over and a recurrent state); segments come from those scores with hysteresis, minimum
speech / silence durations, padding and merging — the same rules silero-vad applies, without
the torch dependency its Python helpers carry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import models
from ..errors import ToolError
from ..progress import NEVER, CancelToken, ProgressFn, chunks, no_progress
from .base import ENGINES, Engine

RATE = 16000
FRAME = 512
CONTEXT = 64
FRAME_S = FRAME / RATE


class SileroVad(Engine):
    family = "silero"

    def load(self) -> None:
        import onnxruntime

        path = models.require(self.model, "silero") / "data" / "silero_vad.onnx"
        self.weights_bytes = path.stat().st_size
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def unload(self) -> None:
        self.session = None

    def memory_bytes(self) -> int:
        return self.weights_bytes

    def probabilities(
        self, mono16k: np.ndarray, progress: ProgressFn = no_progress, cancel: CancelToken = NEVER
    ) -> np.ndarray:
        """Speech probability of every 512-sample frame of a 16 kHz mono signal."""
        frames = -(-mono16k.size // FRAME)
        padded = np.zeros(CONTEXT + frames * FRAME, dtype=np.float32)
        padded[CONTEXT : CONTEXT + mono16k.size] = mono16k
        state = np.zeros((2, 1, 128), dtype=np.float32)
        rate = np.array(RATE, dtype=np.int64)
        probs = np.empty(frames, dtype=np.float32)
        for start, stop in chunks(frames, 500, progress, cancel, "voice activity"):
            for i in range(start, stop):
                window = padded[i * FRAME : (i + 1) * FRAME + CONTEXT][None, :]
                out, state = self.session.run(None, {"input": window, "state": state, "sr": rate})
                probs[i] = out[0, 0]
        return probs


@dataclass(frozen=True)
class VoiceActivity:
    segments: list[dict]
    speech_s: float
    duration_s: float
    speech_ratio: float
    segment_count: int
    truncated: bool


def speech_runs(probs: np.ndarray, threshold: float, neg_threshold: float) -> list[tuple[int, int]]:
    """Frame runs of speech with hysteresis: enter at `threshold`, leave below `neg_threshold`."""
    runs, start = [], None
    for i, p in enumerate(probs):
        if start is None and p >= threshold:
            start = i
        elif start is not None and p < neg_threshold:
            runs.append((start, i))
            start = None
    if start is not None:
        runs.append((start, len(probs)))
    return runs


def shape_segments(
    runs: list[tuple[float, float]],
    duration_s: float,
    *,
    min_speech_s: float,
    min_silence_s: float,
    pad_s: float,
    merge_gap_s: float,
) -> list[tuple[float, float]]:
    """Close short silences, drop short blips, pad each side, then merge what touches."""
    closed: list[list[float]] = []
    for start, end in runs:
        if closed and start - closed[-1][1] < min_silence_s:
            closed[-1][1] = end
        else:
            closed.append([start, end])
    kept = [(s, e) for s, e in closed if e - s >= min_speech_s]
    merged: list[list[float]] = []
    for start, end in kept:
        start, end = max(0.0, start - pad_s), min(duration_s, end + pad_s)
        if merged and start - merged[-1][1] <= merge_gap_s:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def to_16k_mono(audio: np.ndarray, sr: int) -> np.ndarray:
    import soxr

    mono = audio.mean(axis=0, dtype=np.float32) if audio.ndim == 2 else audio.astype(np.float32)
    if sr == RATE:
        return np.ascontiguousarray(mono, dtype=np.float32)
    return soxr.resample(mono, sr, RATE).astype(np.float32)


def detect_voice(
    audio: np.ndarray,
    sr: int,
    *,
    threshold: float = 0.5,
    neg_threshold: float | None = None,
    min_speech_s: float = 0.25,
    min_silence_s: float = 0.1,
    pad_s: float = 0.03,
    merge_gap_s: float = 0.0,
    max_segments: int = 1000,
    model: str = "silero-vad",
    progress: ProgressFn = no_progress,
    cancel: CancelToken = NEVER,
) -> VoiceActivity:
    """Speech segments (seconds) of `audio` (channels, frames) and the share of time that is speech."""
    if not 0.0 < threshold < 1.0:
        raise ToolError(f"threshold must be between 0 and 1, got {threshold}")
    if audio.shape[-1] == 0:
        raise ToolError("the audio is empty")
    mono = to_16k_mono(audio, sr)
    with ENGINES.use(SileroVad, model) as vad:
        probs = vad.probabilities(mono, progress, cancel)
    exit_level = max(threshold - 0.15, 0.01) if neg_threshold is None else neg_threshold
    runs = [(a * FRAME_S, b * FRAME_S) for a, b in speech_runs(probs, threshold, exit_level)]
    duration = audio.shape[-1] / sr
    segments = shape_segments(
        runs,
        duration,
        min_speech_s=min_speech_s,
        min_silence_s=min_silence_s,
        pad_s=pad_s,
        merge_gap_s=merge_gap_s,
    )
    speech = sum(e - s for s, e in segments)
    return VoiceActivity(
        segments=[
            {"start_s": round(s, 3), "end_s": round(e, 3), "duration_s": round(e - s, 3)}
            for s, e in segments[:max_segments]
        ],
        speech_s=round(speech, 3),
        duration_s=round(duration, 3),
        speech_ratio=round(speech / duration, 4),
        segment_count=len(segments),
        truncated=len(segments) > max_segments,
    )
