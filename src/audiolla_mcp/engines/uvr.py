"""Separation and restoration with UVR models (Roformer, MDX-Net, VR) through audio-separator.

audio-separator finds a model by looking it up in `download_checks.json` inside its model dir
and downloads what is missing; we list the model there ourselves (seeding) so it only ever
loads local files. It separates files, so long inputs go through it in overlapping windows
written as float WAVs: memory stays bounded, progress is per window and a cancel takes effect
between windows.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
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

RATE = 44100
WINDOW_S = 60.0
CONTEXT_S = 2.0
# Keep the mix well under audio-separator's peak normalisation so it never rescales a window.
HEADROOM = 0.5

_LISTS = ("vr_download_list", "mdx_download_list", "mdx_download_vip_list", "demucs_download_list",
          "mdx23c_download_list", "mdx23c_download_vip_list", "roformer_download_list")


def seed_download_checks(folder: Path, weights: str, config: str | None) -> None:
    """List `weights` in `folder/download_checks.json` under the list its architecture uses."""
    path = folder / "download_checks.json"
    checks = json.loads(path.read_text()) if path.exists() else {}
    for key in _LISTS:
        checks.setdefault(key, {})
    suffix = Path(weights).suffix
    label = Path(weights).stem
    if suffix == ".ckpt" and config:
        checks["roformer_download_list"][f"Roformer Model: {label}"] = {weights: config}
    elif suffix == ".ckpt":
        raise ToolError(f"{weights} needs its YAML config next to it; add the model's directory")
    elif suffix == ".pth":
        checks["vr_download_list"][f"VR Arch Single Model v5: {label}"] = weights
    elif suffix == ".onnx":
        checks["mdx_download_list"][f"MDX-Net Model: {label}"] = weights
    else:
        raise ToolError(f"{weights}: audio-separator runs .ckpt (+ .yaml), .onnx or .pth models")
    path.write_text(json.dumps(checks, indent=1))


def _config_name(folder: Path, spec: models.ModelSpec) -> str | None:
    configs = [f.name for f in spec.files if f.name.endswith(".yaml")]
    if not configs:
        configs = [p.name for p in folder.glob("*.yaml")]
    return configs[0] if configs else None


class UvrEngine(Engine):
    family = "uvr"

    def load(self) -> None:
        torch_runtime()
        folder = models.require(self.model, "uvr")
        spec = models.spec(self.model, "uvr")
        if not spec.entry:
            raise ToolError(f"{self.model}: cannot tell which file in {folder} holds the weights; "
                            "add the weights file itself with `audiolla-mcp models add`")
        seed_download_checks(folder, spec.entry, _config_name(folder, spec))
        from audio_separator.separator import Separator

        self.scratch = Path(tempfile.mkdtemp(prefix="audiolla-uvr-"))
        self.separator = Separator(log_level=logging.WARNING, model_file_dir=str(folder),
                                   output_dir=str(self.scratch), output_format="WAV",
                                   normalization_threshold=1.0, use_soundfile=True,
                                   sample_rate=RATE)
        try:
            self.separator.load_model(spec.entry)
        except (Exception, SystemExit) as exc:  # the library exits or raises bare errors
            shutil.rmtree(self.scratch, ignore_errors=True)
            raise ToolError(f"{self.model} could not be loaded from {folder} ({exc}); run "
                            f"`audiolla-mcp models verify {self.model}` and pull or add it "
                            "again") from exc

    def unload(self) -> None:
        self.separator = None
        shutil.rmtree(self.scratch, ignore_errors=True)

    def memory_bytes(self) -> int:
        run = getattr(getattr(self.separator, "model_instance", None), "model_run", None)
        return module_bytes(run) if hasattr(run, "parameters") else 0

    def _one_window(self, window: np.ndarray) -> dict[str, np.ndarray]:
        import soundfile as sf

        source = self.scratch / "window.wav"
        sf.write(source, window.T, RATE, subtype="FLOAT")
        try:
            written = self.separator.separate(str(source))
            stems = {}
            for name in written:
                path = Path(name) if Path(name).is_absolute() else self.scratch / name
                match = re.search(r"_\(([^)]+)\)", path.name)
                stem = (match.group(1) if match else path.stem).strip().lower()
                data, _ = sf.read(path, dtype="float32", always_2d=True)
                stems[stem] = data.T
                path.unlink()
            return stems
        finally:
            source.unlink(missing_ok=True)

    def separate(self, mix: np.ndarray, progress: ProgressFn, cancel: CancelToken
                 ) -> dict[str, np.ndarray]:
        """Stems of a stereo 44.1 kHz mix, keyed by the model's own (lower-cased) names."""
        order: list[str] = []

        def infer(batch: np.ndarray) -> np.ndarray:
            outs = []
            for window in batch:
                stems = self._one_window(window)
                if not order:
                    order.extend(sorted(stems))
                if set(stems) != set(order):
                    raise ToolError(f"{self.model} returned stems {sorted(stems)}, then {order}")
                outs.append(np.stack([_fit(stems[s], window.shape[-1]) for s in order]))
            return np.stack(outs)

        segment = int(WINDOW_S * RATE)
        context = int(CONTEXT_S * RATE)
        out = overlap_add(mix, infer, segment=segment, overlap=context / segment,
                          target=lambda n: n + 2 * context if mix.shape[-1] > segment else n,
                          progress=progress, cancel=cancel, message="separating")
        return {name: out[i] for i, name in enumerate(order)}


def _fit(stem: np.ndarray, frames: int) -> np.ndarray:
    if stem.shape[0] == 1:
        stem = np.repeat(stem, 2, axis=0)
    if stem.shape[-1] >= frames:
        return stem[:, :frames]
    return np.pad(stem, ((0, 0), (0, frames - stem.shape[-1])))


@dataclass(frozen=True)
class UvrResult:
    model: str
    sample_rate: int
    stems: dict[str, np.ndarray]


@in_engine_process
def separate(audio: np.ndarray, sr: int, *, model: str = "bs_roformer",
             stems: list[str] | None = None, device: str | None = None,
             progress: ProgressFn = no_progress, cancel: CancelToken = NEVER) -> UvrResult:
    """Run a UVR model on `audio` (channels, frames); stems come back at the input's rate,
    length and channel count. `stems` picks among the model's outputs by name."""
    import soxr

    if audio.shape[-1] == 0:
        raise ToolError("the audio is empty")
    x = audio.astype(np.float32, copy=False)
    x = np.repeat(x, 2, axis=0) if x.shape[0] == 1 else x[:2]
    if sr != RATE:
        x = soxr.resample(x.T, sr, RATE).T
    peak = float(np.abs(x).max()) or 1.0
    gain = min(1.0, HEADROOM / peak)
    with ENGINES.use(UvrEngine, model, device) as engine:
        found = engine.separate(np.ascontiguousarray(x * gain, dtype=np.float32), progress, cancel)
    wanted = [s.lower() for s in stems] if stems else list(found)
    missing = [s for s in wanted if s not in found]
    if missing:
        raise ToolError(f"{model} gives {', '.join(found)}; it has no {', '.join(missing)}")
    result = {}
    for name in wanted:
        stem = found[name] / gain
        if sr != RATE:
            stem = soxr.resample(stem.T, RATE, sr).T
        stem = stem[:, :audio.shape[-1]]
        if audio.shape[0] == 1:
            stem = stem.mean(axis=0, keepdims=True)
        result[name] = np.ascontiguousarray(stem, dtype=np.float32)
    return UvrResult(model=model, sample_rate=sr, stems=result)
