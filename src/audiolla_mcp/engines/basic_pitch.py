"""Audio → MIDI with Spotify's basic-pitch, run on its bundled ONNX model (no TensorFlow).

basic-pitch's own `predict` reads a file path and prints to stdout (the MCP stdio stream), so
this module does its thin part itself: mono 22.05 kHz audio, the same overlapping 2 s windows,
the ONNX session (loaded once), then basic-pitch's own note creation with two stricter choices
(see `_decode`). The first call in a new environment compiles numba kernels for ~15 s; `warm()`
does that at install time.
"""

from __future__ import annotations

import importlib.util
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mido
import numpy as np

from ..errors import ToolError
from ..ops.midi import note_name
from ..progress import NEVER, CancelToken, ProgressFn, chunks, no_progress
from .base import ENGINES, Engine

log = logging.getLogger(__name__)

SAMPLE_RATE = 22050
"""basic-pitch's input rate."""
_WINDOW = SAMPLE_RATE * 2 - 256
"""Samples per model window (basic_pitch.constants.AUDIO_N_SAMPLES)."""
_OVERLAP_FRAMES = 30
_FFT_HOP = 256
_OVERLAP = _OVERLAP_FRAMES * _FFT_HOP
_HOP = _WINDOW - _OVERLAP
_FRAMES_PER_SECOND = SAMPLE_RATE / _FFT_HOP
_OUTPUTS = {"note": "StatefulPartitionedCall:1", "onset": "StatefulPartitionedCall:2",
            "contour": "StatefulPartitionedCall:0"}  # fmt: skip
_INPUT = "serving_default_input_2:0"
_WINDOWS_PER_RUN = 4
_LOWEST_PITCH = 21
"""MIDI note of the activations' first pitch bin (basic_pitch.constants.MIDI_OFFSET)."""
_ONSETLESS_MIN_AMPLITUDE = 0.5
"""Mean note activation a note needs when the model saw no onset for it."""
MAX_SECONDS = 20 * 60
MODEL = "icassp-2022"
"""The model basic-pitch ships (nmp.onnx); the registry key of the engine."""


@dataclass(frozen=True)
class Transcription:
    midi: mido.MidiFile
    duration_s: float
    note_count: int
    pitch_min: int | None
    pitch_max: int | None
    notes: list[dict[str, Any]]
    """The first notes in time order: start_s, end_s, pitch, name, velocity."""
    notes_truncated: bool


def model_path() -> Path:
    """The ONNX model shipped inside the basic-pitch package."""
    spec = importlib.util.find_spec("basic_pitch")
    if spec is None or spec.origin is None:
        raise ToolError(
            "basic-pitch is not installed; run `pip install --no-deps basic-pitch==0.4.0` "
            "(it runs on onnxruntime, TensorFlow is not needed)"
        )
    return Path(spec.origin).parent / "saved_models" / "icassp_2022" / "nmp.onnx"


class _BackendNotices(logging.Filter):
    """basic-pitch announces at import every backend it did not find (TensorFlow, CoreML,
    TFLite); only ONNX is used here, so those notices are noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "reinstall basic-pitch" not in record.getMessage()


class BasicPitch(Engine):
    """The ONNX session plus basic-pitch's note-creation functions."""

    family = "basic-pitch"

    def load(self) -> None:
        path = model_path()
        import onnxruntime

        notices = _BackendNotices()
        logging.getLogger().addFilter(notices)
        try:
            from basic_pitch import note_creation
            from basic_pitch.inference import unwrap_output
        finally:
            logging.getLogger().removeFilter(notices)
        self.notes, self.unwrap = note_creation, unwrap_output
        self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def unload(self) -> None:
        self.session = None

    def memory_bytes(self) -> int:
        return model_path().stat().st_size

    def infer(
        self, mono: np.ndarray, progress: ProgressFn, cancel: CancelToken
    ) -> dict[str, np.ndarray]:
        """basic-pitch's note, onset and contour activations for 22.05 kHz mono audio."""
        padded = np.concatenate([np.zeros(_OVERLAP // 2, np.float32), mono])
        starts = range(0, len(padded), _HOP)
        windows = np.zeros((len(starts), _WINDOW, 1), np.float32)
        for i, start in enumerate(starts):
            piece = padded[start : start + _WINDOW]
            windows[i, : len(piece), 0] = piece
        parts: dict[str, list[np.ndarray]] = {key: [] for key in _OUTPUTS}
        names = list(_OUTPUTS.values())
        for lo, hi in chunks(len(windows), _WINDOWS_PER_RUN, progress, cancel, "transcribing"):
            for key, value in zip(
                _OUTPUTS, self.session.run(names, {_INPUT: windows[lo:hi]}), strict=True
            ):
                parts[key].append(value)
        return {
            key: self.unwrap(np.concatenate(values), len(mono), _OVERLAP_FRAMES)
            for key, values in parts.items()
        }


def transcribe(
    audio: np.ndarray,
    sr: int,
    *,
    onset_threshold: float = 0.7,
    frame_threshold: float = 0.3,
    minimum_note_length_ms: float = 127.7,
    minimum_frequency: float | None = None,
    maximum_frequency: float | None = None,
    midi_tempo: float = 120.0,
    max_notes: int = 50,
    progress: ProgressFn = no_progress,
    cancel: CancelToken = NEVER,
) -> Transcription:
    """Polyphonic notes of `audio` ((channels, frames) float32) as a one-track MIDI file.

    onset_threshold (0–1): how sure the model must be that a note starts; lower finds more
    notes (basic-pitch's own default, 0.5, also finds many that are not there).
    frame_threshold (0–1): how sure it must be that a note still sounds; lower makes notes
    longer. Notes shorter than minimum_note_length_ms or outside the frequency limits are
    dropped. midi_tempo only sets the tempo written to the file (note times are in seconds).
    `notes` lists the first `max_notes` notes.
    """
    _check(audio, sr, onset_threshold, frame_threshold, minimum_frequency, maximum_frequency)
    mono = _mono_22k(audio, sr)
    with ENGINES.use(BasicPitch, MODEL, "cpu") as engine:
        output = engine.infer(mono, progress, cancel)
        with np.errstate(divide="ignore", invalid="ignore"):  # silent input: 0/0 rescaling
            frames = _decode(
                engine.notes,
                output,
                onset_threshold,
                frame_threshold,
                min_note_len=max(round(minimum_note_length_ms / 1000 * _FRAMES_PER_SECOND), 1),
                min_freq=minimum_frequency,
                max_freq=maximum_frequency,
            )
            bent = engine.notes.get_pitch_bends(output["contour"], frames)
            seconds = engine.notes.model_frames_to_time(output["contour"].shape[0])
            events = [(seconds[start], seconds[end], *rest) for start, end, *rest in bent]
            pretty = engine.notes.note_events_to_midi(events, midi_tempo=midi_tempo)
    buffer = io.BytesIO()
    pretty.write(buffer)
    ordered = sorted(events, key=lambda e: (e[0], e[2]))
    pitches = [int(e[2]) for e in ordered]
    return Transcription(
        midi=mido.MidiFile(file=io.BytesIO(buffer.getvalue())),
        duration_s=round(audio.shape[-1] / sr, 3),
        note_count=len(ordered),
        pitch_min=min(pitches, default=None),
        pitch_max=max(pitches, default=None),
        notes=[_note_summary(e) for e in ordered[:max_notes]],
        notes_truncated=len(ordered) > max_notes,
    )


def _decode(
    notes: Any,
    output: dict[str, np.ndarray],
    onset_threshold: float,
    frame_threshold: float,
    **limits: Any,
) -> list[tuple[int, int, int, float]]:
    """basic-pitch's note creation, (start frame, end frame, pitch, amplitude) per note, made
    stricter in two ways: onsets come from the onset activations only (basic-pitch also infers
    them from jumps in the note activations, which fire when neighbouring notes start or stop),
    and a note traced from the note activations alone (its "melodia trick", which finds notes
    with soft attacks) needs a mean activation of `_ONSETLESS_MIN_AMPLITUDE`: without that,
    octave partials of low notes and the decay of held ones come back as notes. Together with
    the 0.7 onset threshold this raised the onset F-measure of rendered pieces on piano,
    electric piano, guitar, flute, violin and organ alike (precision up 0.1–0.4, recall
    −0.03 to +0.17)."""
    import scipy.signal

    found = notes.output_to_notes_polyphonic(
        output["note"],
        output["onset"],
        onset_thresh=onset_threshold,
        frame_thresh=frame_threshold,
        infer_onsets=False,
        melodia_trick=True,
        **limits,
    )
    onsets = output["onset"]
    peaks = np.zeros_like(onsets)
    at = scipy.signal.argrelmax(onsets, axis=0)
    peaks[at] = onsets[at]
    return [
        note
        for note in found
        if peaks[note[0], note[2] - _LOWEST_PITCH] >= onset_threshold
        or note[3] >= _ONSETLESS_MIN_AMPLITUDE
    ]


def _check(
    audio: np.ndarray,
    sr: int,
    onset_threshold: float,
    frame_threshold: float,
    minimum_frequency: float | None,
    maximum_frequency: float | None,
) -> None:
    if audio.ndim != 2 or audio.shape[-1] == 0:
        raise ToolError("the audio is empty")
    if audio.shape[-1] / sr > MAX_SECONDS:
        raise ToolError(
            f"the audio is {audio.shape[-1] / sr / 60:.1f} min long; transcribe at most "
            f"{MAX_SECONDS // 60} min at a time (trim or split it first)"
        )
    for name, value in (("onset_threshold", onset_threshold), ("frame_threshold", frame_threshold)):
        if not 0 < value < 1:
            raise ToolError(f"{name} {value} is outside 0–1 (exclusive)")
    if minimum_frequency and maximum_frequency and minimum_frequency >= maximum_frequency:
        raise ToolError("minimum_frequency must be below maximum_frequency")


def _mono_22k(audio: np.ndarray, sr: int) -> np.ndarray:
    import soxr

    mono = np.asarray(audio, np.float32).mean(axis=0)
    if sr != SAMPLE_RATE:
        mono = soxr.resample(mono, sr, SAMPLE_RATE, quality="HQ").astype(np.float32)
    return mono


def _note_summary(event: tuple) -> dict[str, Any]:
    start, end, pitch, amplitude, _ = event
    return {
        "start_s": round(float(start), 3),
        "end_s": round(float(end), 3),
        "pitch": int(pitch),
        "name": note_name(int(pitch)),
        "velocity": round(127 * float(amplitude)),
    }


def warm() -> None:
    """Load the model and compile the numba kernels on half a second of A4."""
    t = np.arange(SAMPLE_RATE // 2) / SAMPLE_RATE
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
    transcribe(tone, SAMPLE_RATE)
