"""Speaker diarization with a pyannote pipeline loaded from a local directory.

The directory is laid out like the hub's speaker-diarization-community-1 (config.yaml with
`$model/segmentation`, `$model/embedding`, `$model/plda`); pyannote resolves those inside it,
so nothing is fetched at run time. A Hugging Face token is only needed to pull it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import models
from ..errors import Cancelled, ToolError
from ..progress import NEVER, CancelToken, ProgressFn, no_progress
from .base import ENGINES, Engine, module_bytes, torch_runtime
from .process import in_engine_process

RATE = 16000


class PyannoteEngine(Engine):
    family = "pyannote"

    def load(self) -> None:
        models.keep_libraries_offline()
        folder = models.require(self.model, "pyannote")
        self.torch = torch_runtime()
        from pyannote.audio import Pipeline

        try:
            pipeline = Pipeline.from_pretrained(str(folder))
        except Exception as exc:  # pyannote raises many kinds for a bad dir or checkpoint
            raise ToolError(f"{self.model} could not be loaded from {folder} ({exc}); run "
                            f"`audiolla-mcp models verify {self.model}`") from exc
        if pipeline is None:
            raise ToolError(f"{folder} holds no pyannote pipeline (config.yaml)")
        self.pipeline = pipeline.to(self.torch.device(self.device))

    def unload(self) -> None:
        self.pipeline = None

    def memory_bytes(self) -> int:
        parts = [getattr(self.pipeline, "_segmentation", None), getattr(self.pipeline, "_embedding", None)]
        nets = [getattr(p, "model", getattr(p, "model_", None)) for p in parts]
        return module_bytes(*(n for n in nets if hasattr(n, "parameters")))

    def diarize(self, mono16k: np.ndarray, speakers: dict, progress: ProgressFn,
                cancel: CancelToken):
        steps = ["segmentation", "speaker_counting", "embeddings", "discrete_diarization"]

        def hook(step: str, artifact=None, file=None, total=None, completed=None) -> None:
            cancel.check()
            index = steps.index(step) if step in steps else 0
            fraction = completed / total if total and completed is not None else 1.0
            progress(index + fraction, len(steps), step.replace("_", " "))

        waveform = self.torch.from_numpy(mono16k[None, :].copy())
        try:
            with self.torch.inference_mode():
                return self.pipeline({"waveform": waveform, "sample_rate": RATE}, hook=hook,
                                     **speakers)
        except Cancelled:
            raise
        except (ValueError, RuntimeError) as exc:
            raise ToolError(f"diarization failed: {exc}") from exc


@dataclass(frozen=True)
class Diarization:
    model: str
    num_speakers: int
    speakers: list[dict]
    segments: list[dict]
    segment_count: int
    truncated: bool


@in_engine_process
def diarize(audio: np.ndarray, sr: int, *, model: str = "pyannote-diarization",
            num_speakers: int | None = None, min_speakers: int | None = None,
            max_speakers: int | None = None, max_segments: int = 500, device: str | None = None,
            progress: ProgressFn = no_progress, cancel: CancelToken = NEVER) -> Diarization:
    """Who spoke when: speaker-labelled segments (seconds) and each speaker's total time."""
    import soxr

    if audio.shape[-1] == 0:
        raise ToolError("the audio is empty")
    if min_speakers and max_speakers and min_speakers > max_speakers:
        raise ToolError("min_speakers is larger than max_speakers")
    mono = audio.mean(axis=0).astype(np.float32)
    if sr != RATE:
        mono = soxr.resample(mono, sr, RATE).astype(np.float32)
    bounds = {k: v for k, v in (("num_speakers", num_speakers), ("min_speakers", min_speakers),
                                ("max_speakers", max_speakers)) if v is not None}
    with ENGINES.use(PyannoteEngine, model, device) as engine:
        output = engine.diarize(mono, bounds, progress, cancel)
    annotation = getattr(output, "speaker_diarization", output)
    segments = [(turn.start, turn.end, str(label))
                for turn, _, label in annotation.itertracks(yield_label=True)]
    segments.sort()
    totals: dict[str, float] = {}
    for start, end, label in segments:
        totals[label] = totals.get(label, 0.0) + end - start
    return Diarization(
        model=model, num_speakers=len(totals),
        speakers=[{"speaker": k, "speech_s": round(v, 3)}
                  for k, v in sorted(totals.items(), key=lambda kv: -kv[1])],
        segments=[{"start_s": round(s, 3), "end_s": round(e, 3), "speaker": label}
                  for s, e, label in segments[:max_segments]],
        segment_count=len(segments), truncated=len(segments) > max_segments)
