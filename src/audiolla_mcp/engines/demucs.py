"""Music source separation with demucs models, loaded by demucs' own `get_model`.

Inference reproduces `demucs.apply.apply_model` (random time shift, 25 % overlapping
segments, triangle cross-fades, bag weighting) but runs the segments in batches under
`torch.inference_mode`, accumulates once in a preallocated buffer, reports progress per batch
and stops between batches when cancelled. A bag member whose weights are zero for every
requested stem (htdemucs_ft asked for vocals only) is skipped. On CPU the loaded models get the
equivalent faster modules of `cpu_inference` (self-attention by the flash kernel, pointwise
convolutions as matrix products, channels-last convolution weights).
"""

from __future__ import annotations

import logging
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import models
from ..errors import ToolError
from ..progress import NEVER, CancelToken, ProgressFn, no_progress
from .base import ENGINES, Engine, module_bytes, torch_runtime
from .chunking import overlap_add
from .process import in_engine_process

log = logging.getLogger(__name__)

MAX_SHIFT_S = 0.5


def default_batch_size() -> int:
    return max(1, int(os.environ.get("AUDIOLLA_DEMUCS_BATCH", "1")))


class DemucsEngine(Engine):
    family = "demucs"

    def load(self) -> None:
        torch = torch_runtime()
        from demucs.apply import BagOfModels
        from demucs.pretrained import get_model

        folder = models.require(self.model, "demucs")
        spec = models.spec(self.model, "demucs")
        bag_name = _bag_name(folder, spec)
        try:
            loaded = get_model(bag_name, repo=Path(folder))
        except (Exception, SystemExit) as exc:  # demucs raises its own errors and calls fatal()
            raise ToolError(f"{self.model} could not be loaded from {folder} ({exc}); run "
                            f"`audiolla-mcp models verify {self.model}` and pull or add it "
                            "again") from exc
        bag = loaded if isinstance(loaded, BagOfModels) else BagOfModels([loaded])
        self.members = [(self._for_inference(m), list(w)) for m, w in zip(bag.models, bag.weights)]
        self.sources: list[str] = list(bag.sources)
        self.samplerate = int(bag.samplerate)
        self.audio_channels = int(bag.audio_channels)
        self.torch = torch

    def _for_inference(self, model):
        model = model.to(self.device).eval()
        if self.device != "cpu":
            return model
        from .cpu_inference import for_cpu_inference

        return for_cpu_inference(model)

    def unload(self) -> None:
        self.members = []

    def memory_bytes(self) -> int:
        return module_bytes(*(m for m, _ in self.members))

    def separate(self, mix: np.ndarray, stems: list[str], *, shifts: int = 1, overlap: float = 0.25,
                 seed: int | None = 0, batch_size: int | None = None,
                 progress: ProgressFn = no_progress, cancel: CancelToken = NEVER) -> np.ndarray:
        """`stems` (in that order) of a normalised mix at the model rate, as one
        (len(stems), channels, frames) array: only what was asked for is accumulated."""
        rng = random.Random(seed) if seed is not None else random
        wanted = [self.sources.index(s) for s in stems]
        # Every shift comes from the seed, drawn up front. apply_model's first draw is the same;
        # its later ones differ (HTDemucs draws from `random` in every forward), so for one model
        # with shifts=1 a seed reproduces apply_model exactly, for bags it gives other shifts.
        offsets = [[rng.randint(0, int(MAX_SHIFT_S * m.samplerate)) for _ in range(shifts)]
                   for m, _ in self.members]
        active = [i for i, (_, w) in enumerate(self.members) if any(w[k] for k in wanted)]
        estimates: np.ndarray | None = None
        totals = [0.0] * len(wanted)
        for n, i in enumerate(active):
            model, weights = self.members[i]
            out = self._apply(model, mix, wanted, offsets[i] if shifts else [], overlap,
                              batch_size or default_batch_size(), _scaled(progress, n, len(active)),
                              cancel)
            for j, k in enumerate(wanted):
                if weights[k] != 1.0:
                    out[j] *= weights[k]
                totals[j] += weights[k]
            estimates = out if estimates is None else _add(estimates, out)
        assert estimates is not None
        for j, total in enumerate(totals):
            if total not in (0.0, 1.0):
                estimates[j] /= total
        return estimates

    def _apply(self, model, mix: np.ndarray, wanted: list[int], offsets: list[int], overlap: float,
               batch_size: int, progress: ProgressFn, cancel: CancelToken) -> np.ndarray:
        chunking = {"segment": int(model.samplerate * model.segment), "overlap": overlap,
                    "target": getattr(model, "valid_length", None), "batch_size": batch_size,
                    "cancel": cancel, "message": "separating"}
        every = wanted == list(range(len(self.sources)))

        def infer(batch: np.ndarray) -> np.ndarray:
            with self.torch.inference_mode():
                out = model(self.torch.from_numpy(batch).to(self.device))
                return (out if every else out[:, wanted]).float().cpu().numpy()

        if not offsets:
            return overlap_add(mix, infer, progress=progress, **chunking)
        max_shift = int(MAX_SHIFT_S * model.samplerate)
        out: np.ndarray | None = None
        for s, offset in enumerate(offsets):
            # demucs pads by max_shift, starts `offset` in and drops that lead afterwards.
            res = overlap_add(mix, infer, lead=max_shift - offset,
                              progress=_scaled(progress, s, len(offsets)), **chunking)
            out = res if out is None else _add(out, res)
        assert out is not None
        if len(offsets) > 1:
            out /= len(offsets)
        return out


def _add(total: np.ndarray, part: np.ndarray) -> np.ndarray:
    """Sum into `total` without a third full-length buffer."""
    total += part
    return total


def _scaled(progress: ProgressFn, index: int, count: int) -> ProgressFn:
    """Map one run's progress onto its share of the whole job."""
    def report(done: float, total: float, message: str | None = None) -> None:
        progress(index + done / total if total else index, count, message)
    return report


def _bag_name(folder: Path, spec: models.ModelSpec) -> str:
    """The name demucs' local repo resolves: a bag yaml (copied from demucs' own remote
    descriptions for registry models) or a lone checkpoint's signature."""
    if spec.entry and not (folder / f"{spec.entry}.yaml").exists():
        import demucs

        packaged = Path(demucs.__file__).parent / "remote" / f"{spec.entry}.yaml"
        if packaged.exists():
            shutil.copy(packaged, folder / packaged.name)
    if spec.entry and (folder / f"{spec.entry}.yaml").exists():
        return spec.entry
    yamls = list(folder.glob("*.yaml"))
    if len(yamls) == 1:
        return yamls[0].stem
    checkpoints = list(folder.glob("*.th"))
    if len(checkpoints) == 1:
        return checkpoints[0].stem.rsplit("-", 1)[0]
    raise ToolError(f"{spec.name}: {folder} holds no single demucs bag (.yaml) or checkpoint (.th)")


@dataclass(frozen=True)
class Separation:
    model: str
    sample_rate: int
    stems: dict[str, np.ndarray]
    sources: list[str]


INSTRUMENTAL = {"instrumental", "accompaniment", "no_vocals", "karaoke"}


def resolve_stems(requested: list[str] | None, sources: list[str], model: str) -> list[str]:
    """Requested names → the ones this model can give; `instrumental` = all but vocals."""
    if not requested:
        return list(sources)
    out = []
    for name in requested:
        name = name.strip().lower()
        if name in sources or (name in INSTRUMENTAL and "vocals" in sources):
            out.append("instrumental" if name in INSTRUMENTAL else name)
        else:
            hint = "; htdemucs_6s gives guitar and piano" if name in ("guitar", "piano") else ""
            raise ToolError(f"{model} has no stem {name!r}; it gives {', '.join(sources)}"
                            + (" and instrumental" if "vocals" in sources else "") + hint)
    return list(dict.fromkeys(out))


@in_engine_process
def separate(audio: np.ndarray, sr: int, *, model: str = "htdemucs", stems: list[str] | None = None,
             shifts: int = 1, overlap: float = 0.25, seed: int | None = 0,
             batch_size: int | None = None, device: str | None = None,
             progress: ProgressFn = no_progress, cancel: CancelToken = NEVER) -> Separation:
    """Split `audio` (channels, frames) into stems at the input's rate, length and channel count."""
    import soxr

    if audio.shape[-1] == 0:
        raise ToolError("the audio is empty")
    if not 0.0 <= overlap < 1.0 or shifts < 0:
        raise ToolError("overlap must be in [0, 1) and shifts ≥ 0")
    with ENGINES.use(DemucsEngine, model, device) as engine:
        names = resolve_stems(stems, engine.sources, model)
        needed = [s for s in engine.sources if s in names or ("instrumental" in names and s != "vocals")]
        mix = _to_model_layout(audio, sr, engine.samplerate, engine.audio_channels)
        ref = mix.mean(axis=0)
        mean, std = np.float32(ref.mean()), np.float32(ref.std(ddof=1) or 1.0)  # as demucs (torch)
        del ref
        mix -= mean
        mix /= std
        sources = engine.separate(mix, needed, shifts=shifts,
                                  overlap=overlap, seed=seed, batch_size=batch_size,
                                  progress=progress, cancel=cancel)
        del mix
        sources *= std
        sources += mean
        by_name = dict(zip(needed, sources))
        all_sources = list(engine.sources)
        model_sr = engine.samplerate
    if "instrumental" in names:
        by_name["instrumental"] = sum(v for k, v in by_name.items() if k != "vocals")
    result = {}
    for name in names:
        stem = by_name[name]
        if model_sr != sr:
            stem = soxr.resample(stem.T, model_sr, sr).T
        stem = stem[:, :audio.shape[-1]]
        if audio.shape[0] == 1:
            stem = stem.mean(axis=0, keepdims=True)
        result[name] = np.ascontiguousarray(stem, dtype=np.float32)
    return Separation(model=model, sample_rate=sr, stems=result, sources=all_sources)


def _to_model_layout(audio: np.ndarray, sr: int, model_sr: int, channels: int) -> np.ndarray:
    import soxr

    x = audio.astype(np.float32)  # a copy: the caller's audio is normalised in place
    if x.shape[0] == 1 and channels > 1:
        x = np.repeat(x, channels, axis=0)
    elif x.shape[0] > channels:
        x = x[:channels]
    if sr != model_sr:
        x = soxr.resample(x.T, sr, model_sr).T
    return np.ascontiguousarray(x, dtype=np.float32)
