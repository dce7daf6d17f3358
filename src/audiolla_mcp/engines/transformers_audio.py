"""Audio tagging (AST on AudioSet) and text-audio embeddings (CLAP) with Hugging Face models
loaded from the model cache, never from the hub.

Long audio is scored in 10 s windows: AST tag probabilities are averaged over windows, CLAP
window embeddings are averaged and re-normalised. `EmbeddingCache` keeps file embeddings keyed
by the file's content hash, so a workspace search only embeds files it has not seen.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import models
from ..errors import ToolError
from ..progress import NEVER, CancelToken, ProgressFn, chunks, no_progress
from .base import ENGINES, Engine, module_bytes, torch_runtime
from .process import in_engine_process

WINDOW_S = 10.0
AST_RATE = 16000
CLAP_RATE = 48000


def _mono(audio: np.ndarray, sr: int, rate: int) -> np.ndarray:
    import soxr

    mono = audio.mean(axis=0) if audio.ndim == 2 else audio
    mono = mono.astype(np.float32, copy=False)
    return soxr.resample(mono, sr, rate).astype(np.float32) if sr != rate else mono


def _windows(signal: np.ndarray, rate: int) -> list[np.ndarray]:
    size = int(WINDOW_S * rate)
    pieces = [signal[i:i + size] for i in range(0, max(signal.size, 1), size)]
    # A short tail says little on its own: fold it into the previous window's score only if
    # it holds at least a second of audio.
    return [p for i, p in enumerate(pieces) if i == 0 or p.size >= rate]


class _HubEngine(Engine):
    """Shared loading: the model dir from the cache, libraries kept offline."""

    def folder(self) -> Path:
        models.keep_libraries_offline()
        return models.require(self.model, self.family)

    def _load_failed(self, folder: Path, exc: Exception) -> ToolError:
        return ToolError(f"{self.model} could not be loaded from {folder} ({exc}); run "
                         f"`audiolla-mcp models verify {self.model}`")

    def unload(self) -> None:
        self.net = self.processor = None

    def memory_bytes(self) -> int:
        return module_bytes(self.net)


class AstEngine(_HubEngine):
    family = "ast"

    def load(self) -> None:
        folder = self.folder()
        self.torch = torch_runtime()
        from transformers import ASTFeatureExtractor, ASTForAudioClassification

        try:
            self.processor = ASTFeatureExtractor.from_pretrained(folder)
            self.net = ASTForAudioClassification.from_pretrained(folder).to(self.device).eval()
        except (OSError, ValueError, RuntimeError) as exc:
            raise self._load_failed(folder, exc) from exc
        self.labels = [self.net.config.id2label[i] for i in range(self.net.config.num_labels)]

    def probabilities(self, mono16k: np.ndarray, progress: ProgressFn, cancel: CancelToken) -> np.ndarray:
        """Mean sigmoid probability of every label over the 10 s windows."""
        pieces = _windows(mono16k, AST_RATE)
        total = np.zeros(len(self.labels), dtype=np.float64)
        for start, stop in chunks(len(pieces), 4, progress, cancel, "tagging"):
            batch = self.processor([p for p in pieces[start:stop]], sampling_rate=AST_RATE,
                                   return_tensors="pt")
            with self.torch.inference_mode():
                logits = self.net(**{k: v.to(self.device) for k, v in batch.items()}).logits
            total += self.torch.sigmoid(logits).double().sum(dim=0).cpu().numpy()
        return total / len(pieces)


class ClapEngine(_HubEngine):
    family = "clap"

    def load(self) -> None:
        folder = self.folder()
        self.torch = torch_runtime()
        from transformers import ClapModel, ClapProcessor

        try:
            self.processor = ClapProcessor.from_pretrained(folder)
            self.net = ClapModel.from_pretrained(folder).to(self.device).eval()
        except (OSError, ValueError, RuntimeError) as exc:
            raise self._load_failed(folder, exc) from exc

    def embed_audio(self, mono48k: np.ndarray, progress: ProgressFn = no_progress,
                    cancel: CancelToken = NEVER) -> np.ndarray:
        """Unit-norm embedding of the whole signal: the mean of its 10 s window embeddings."""
        pieces = _windows(mono48k, CLAP_RATE)
        total = None
        for start, stop in chunks(len(pieces), 4, progress, cancel, "embedding"):
            batch = self.processor.feature_extractor(pieces[start:stop], sampling_rate=CLAP_RATE,
                                                     return_tensors="pt", truncation="rand_trunc")
            with self.torch.inference_mode():
                out = self.net.get_audio_features(**{k: v.to(self.device) for k, v in batch.items()})
            summed = out.pooler_output.double().sum(dim=0).cpu().numpy()
            total = summed if total is None else total + summed
        assert total is not None
        return (total / np.linalg.norm(total)).astype(np.float32)

    def embed_text(self, texts: list[str]) -> np.ndarray:
        batch = self.processor.tokenizer(texts, padding=True, return_tensors="pt")
        with self.torch.inference_mode():
            out = self.net.get_text_features(**{k: v.to(self.device) for k, v in batch.items()})
        return out.pooler_output.float().cpu().numpy()

    def logit_scale(self) -> float:
        return float(self.net.logit_scale_a.exp().item())


# ---------------------------------------------------------------------------------------------
# Ops
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tags:
    model: str
    tags: list[dict]
    windows: int


@in_engine_process
def tag_audio(audio: np.ndarray, sr: int, *, model: str = "ast-audioset", top_k: int = 10,
              threshold: float = 0.0, device: str | None = None, progress: ProgressFn = no_progress,
              cancel: CancelToken = NEVER) -> Tags:
    """The `top_k` AudioSet labels (sounds, instruments, genres) with their probabilities."""
    if audio.shape[-1] == 0:
        raise ToolError("the audio is empty")
    mono = _mono(audio, sr, AST_RATE)
    with ENGINES.use(AstEngine, model, device) as engine:
        probs = engine.probabilities(mono, progress, cancel)
        labels = engine.labels
    order = np.argsort(-probs)[:max(1, top_k)]
    tags = [{"label": labels[i], "score": round(float(probs[i]), 4)} for i in order
            if probs[i] >= threshold]
    return Tags(model=model, tags=tags, windows=len(_windows(mono, AST_RATE)))


@in_engine_process
def embed_audio(audio: np.ndarray, sr: int, *, model: str = "clap", device: str | None = None,
                progress: ProgressFn = no_progress, cancel: CancelToken = NEVER) -> np.ndarray:
    if audio.shape[-1] == 0:
        raise ToolError("the audio is empty")
    with ENGINES.use(ClapEngine, model, device) as engine:
        return engine.embed_audio(_mono(audio, sr, CLAP_RATE), progress, cancel)


@in_engine_process
def embed_text(texts: list[str], *, model: str = "clap", device: str | None = None) -> np.ndarray:
    if not texts or not all(t.strip() for t in texts):
        raise ToolError("give at least one non-empty text")
    with ENGINES.use(ClapEngine, model, device) as engine:
        return engine.embed_text(texts)


@dataclass(frozen=True)
class Classification:
    model: str
    labels: list[dict]
    best: str


@in_engine_process
def classify_audio(audio: np.ndarray, sr: int, labels: list[str], *, model: str = "clap",
                   device: str | None = None, progress: ProgressFn = no_progress,
                   cancel: CancelToken = NEVER) -> Classification:
    """Zero-shot: which of `labels` (free text) the audio matches, as probabilities."""
    labels = [label.strip() for label in labels]
    if len(labels) < 2 or not all(labels):
        raise ToolError("give at least two non-empty labels to choose between")
    with ENGINES.use(ClapEngine, model, device) as engine:
        audio_vec = engine.embed_audio(_mono(audio, sr, CLAP_RATE), progress, cancel)
        text_vecs = engine.embed_text(labels)
        scale = engine.logit_scale()
    cos = text_vecs @ audio_vec
    logits = scale * cos
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    ranked = sorted(zip(labels, probs, cos), key=lambda item: -item[1])
    return Classification(model=model, best=ranked[0][0], labels=[
        {"label": label, "probability": round(float(p), 4), "similarity": round(float(c), 4)}
        for label, p, c in ranked])


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# ---------------------------------------------------------------------------------------------
# Embedding cache and search
# ---------------------------------------------------------------------------------------------

def content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class EmbeddingCache:
    """Embeddings on disk under `<root>/<model>/<sha256 of the file>.npy`."""

    def __init__(self, root: Path | None = None) -> None:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        self.root = root or Path(base) / "audiolla-mcp" / "embeddings"

    def _path(self, model: str, key: str) -> Path:
        return self.root / model / f"{key}.npy"

    def get(self, model: str, key: str) -> np.ndarray | None:
        path = self._path(model, key)
        return np.load(path) if path.exists() else None

    def put(self, model: str, key: str, vector: np.ndarray) -> None:
        path = self._path(model, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, vector.astype(np.float32))
        tmp.replace(path)


Loader = Callable[[Path], tuple[np.ndarray, int]]


@dataclass(frozen=True)
class SearchResult:
    model: str
    matches: list[dict]
    searched: int
    embedded: int


@in_engine_process
def search_files(files: Iterable[tuple[str, Path]], load: Loader, *, query_text: str | None = None,
                 like: np.ndarray | None = None, top_k: int = 10, model: str = "clap",
                 cache: EmbeddingCache | None = None, device: str | None = None,
                 progress: ProgressFn = no_progress, cancel: CancelToken = NEVER) -> SearchResult:
    """Rank `files` ((name, path) pairs) by similarity to a text query or an embedding."""
    if (query_text is None) == (like is None):
        raise ToolError("give either query_text or like, not both")
    cache = cache or EmbeddingCache()
    files = list(files)
    embedded = 0
    scored = []
    with ENGINES.use(ClapEngine, model, device) as engine:
        target = engine.embed_text([query_text])[0] if query_text is not None else like
        for index, _ in chunks(len(files), 1, progress, cancel, "searching"):
            name, path = files[index]
            key = content_hash(path)
            vector = cache.get(model, key)
            if vector is None:
                try:
                    audio, sr = load(path)
                except ToolError:
                    continue
                vector = engine.embed_audio(_mono(audio, sr, CLAP_RATE))
                cache.put(model, key, vector)
                embedded += 1
            scored.append((name, cosine(vector, target)))
    scored.sort(key=lambda item: -item[1])
    return SearchResult(model=model, searched=len(scored), embedded=embedded,
                        matches=[{"path": n, "similarity": round(s, 4)} for n, s in scored[:top_k]])

