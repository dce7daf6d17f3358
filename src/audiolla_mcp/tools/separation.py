"""Stem separation (demucs, UVR/Roformer via audio-separator) and UVR restoration."""

from __future__ import annotations

import time
from typing import Annotated, Literal

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from . import tool
from .common import (
    AudioOutput,
    Backgroundable,
    BackgroundArg,
    BitDepthArg,
    FormatArg,
    InlineArg,
    InputArg,
    InputBase64Arg,
    InputFormatArg,
    OutputArg,
    OverwriteArg,
    Reply,
    Run,
    derived,
    execute,
    source_ext,
)

StemName = Annotated[str, Field(description=(
    "vocals, drums, bass, other, guitar, piano (6-stem models), instrumental (everything but "
    "vocals), lead_vocals (karaoke models), a count — '2' (vocals + instrumental), '4', '6' — "
    "or a UVR model's own stem name (e.g. 'no reverb')."))]

_COUNTS = {"2": ["vocals", "instrumental"], "4": ["drums", "bass", "other", "vocals"],
           "6": ["drums", "bass", "other", "vocals", "guitar", "piano"]}


class StemFile(BaseModel):
    stem: str
    model: str
    output: AudioOutput


class TrackAnalysis(BaseModel):
    bpm: float | None = None
    key: str | None = None
    integrated_lufs: float | None = None


class SeparateResult(Backgroundable):
    outputs: list[StemFile] = Field(default_factory=list)
    models: list[str] = Field(default_factory=list)
    track: TrackAnalysis | None = Field(default=None, description="BPM, key and loudness of the input mix.")
    elapsed_s: float | None = None


class RestoreResult(Backgroundable):
    output: AudioOutput | None = None
    removed: AudioOutput | None = Field(default=None, description="What was taken out (with keep_removed=true).")
    model: str | None = None
    kind: str | None = None


def _requested(stems: list[str] | None, name: str) -> list[str] | None:
    """Stem names as users say them (counts, lead_vocals) → the names the engines know."""
    from .. import models
    from ..errors import ToolError

    if not stems:
        return None
    out: list[str] = []
    for stem in (s.strip().lower() for s in stems):
        if stem in _COUNTS:
            out += _COUNTS[stem]
        elif stem == "lead_vocals":
            if "karaoke" not in models.spec(name).tasks:
                raise ToolError("lead_vocals needs a karaoke model: mel_roformer_karaoke, mdx_karaoke_2 "
                                "or vr_karaoke (their vocals are the lead; backing vocals stay with the band)")
            out.append("vocals")
        else:
            out.append(stem)
    return list(dict.fromkeys(out))


def _run_model(name: str, samples, sr: int, stems: list[str] | None, run: Run, index: int, count: int):
    """Separate with one model of either family; progress is scaled to its share of the call."""
    from .. import models

    def progress(done: float, total: float, message: str | None = None) -> None:
        run.progress(index + (done / total if total else 0.0), count, f"{name}: {message or ''}".strip())

    family = models.spec(name).family
    if family == "demucs":
        from ..engines.demucs import separate

        return separate(samples, sr, model=name, stems=stems, progress=progress, cancel=run.cancel).stems
    if family == "uvr":
        from ..engines.uvr import separate as uvr_separate

        return uvr_separate(samples, sr, model=name, stems=stems, progress=progress, cancel=run.cancel).stems
    from ..errors import ToolError

    raise ToolError(f"{name} is a {family} model, not a separation model; see list_models(family='demucs') "
                    "or list_models(family='uvr')")


def _analysis(samples, sr: int) -> TrackAnalysis:
    """The mix's BPM, key and LUFS, as cloud stem splitters report them (skipped if unavailable)."""
    try:
        from ..ops.beats import detect_beats
        from ..ops.key import detect_key
        from ..ops.loudness import measure
        from ..ops.mir_features import MusicFeatures
    except ImportError:
        return TrackAnalysis()
    features = MusicFeatures(samples, sr)
    return TrackAnalysis(bpm=detect_beats(samples, sr, features=features).bpm,
                         key=detect_key(samples, sr, features=features).key,
                         integrated_lufs=measure(samples, sr).integrated_lufs)


@tool
async def separate_stems(
    ctx: Context,
    input: InputArg = None,
    model: Annotated[str, Field(description=(
        "htdemucs (4 stems, best all-round), htdemucs_ft (cleaner, slower), htdemucs_6s (+ guitar, piano), "
        "mdx_extra, bs_roformer (best vocals/instrumental), mel_roformer_karaoke / mdx_karaoke_2 (lead "
        "vocals vs backing + band); list_models shows what is installed."))] = "htdemucs",
    stems: Annotated[list[StemName] | None, Field(description=(
        "Stems to write; omit for all the model gives. ['vocals', 'instrumental'] is the 2-stem split."))] = None,
    models: Annotated[list[str] | None, Field(description=(
        "Several models to compare on the same input; each model's stems go to stems/<model>/. "
        "Overrides `model`."))] = None,
    output_names: Annotated[dict[str, str] | None, Field(description=(
        "Custom workspace paths per stem, e.g. {'vocals': 'out/lead.wav'} (single model only)."))] = None,
    analyze: Annotated[bool, Field(description="Also report the mix's BPM, key and integrated LUFS.")] = True,
    format: FormatArg = None,
    bit_depth: BitDepthArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    background: BackgroundArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, SeparateResult]:
    def work(run: Run) -> Reply:
        from ..errors import ToolError

        chosen = list(dict.fromkeys(models or [model]))
        if output_names and len(chosen) > 1:
            raise ToolError("output_names works with one model; drop it or compare models without it")
        started = time.monotonic()
        audio = run.load(input, input_base64, input_format)
        ext = format or source_ext(input)
        outputs = []
        for index, name in enumerate(chosen):
            separated = _run_model(name, audio.samples, audio.sr, _requested(stems, name), run, index,
                                   len(chosen))
            unknown = set(output_names or {}) - set(separated)
            if unknown:
                raise ToolError(f"output_names has {', '.join(sorted(unknown))}, which {name} did not "
                                f"produce ({', '.join(separated)})")
            folder = "stems" if len(chosen) == 1 else f"stems/{name}"
            for stem, samples in separated.items():
                out = run.save_audio(samples, audio.sr, output=(output_names or {}).get(stem),
                                     default=derived(audio.name, stem.replace(" ", "_"), ext, folder=folder),
                                     format=format, overwrite=overwrite, bit_depth=bit_depth)
                outputs.append(StemFile(stem=stem, model=name, output=out))
        track = _analysis(audio.samples, audio.sr) if analyze else None
        result = SeparateResult(outputs=outputs, models=chosen, track=track,
                                elapsed_s=round(time.monotonic() - started, 2))
        facts = ""
        if track and track.bpm:
            facts = f" Track: {track.bpm:g} BPM, {track.key or 'key unknown'}, {track.integrated_lufs} LUFS."
        summary = (f"Wrote {len(outputs)} stem(s) with {', '.join(chosen)}: "
                   + ", ".join(o.output.path for o in outputs[:8]) + ("…" if len(outputs) > 8 else "") + "." + facts)
        return Reply(result=result, summary=summary, inline_audio=list(run.written))

    return await execute(ctx, work, inline=inline, background=background, result_type=SeparateResult)


_RESTORERS = {
    ("dereverb", False): ["roformer_dereverb", "vr_deecho_dereverb"],
    ("dereverb", True): ["vr_deecho_dereverb", "roformer_dereverb"],
    ("deecho", False): ["vr_deecho", "vr_deecho_dereverb"],
    ("deecho", True): ["vr_deecho_aggressive", "vr_deecho_dereverb"],
    ("denoise", False): ["vr_denoise", "roformer_denoise"],
    ("denoise", True): ["roformer_denoise", "vr_denoise"],
}


def _restorer(kind: str, aggressive: bool, model: str | None) -> str:
    """The model to use: the caller's, else the first installed candidate, else the first one
    (whose "not installed" error then says how to get it)."""
    from .. import models

    if model:
        return model
    candidates = _RESTORERS[(kind, aggressive)]
    installed = [c for c in candidates if models.is_installed(models.spec(c))]
    return (installed or candidates)[0]


def _clean_stem(stems: dict, model: str) -> str:
    """The stem without the artefact: registry models list it first; else 'no …' / 'dry'."""
    from .. import models

    listed = models.spec(model).stems
    if listed and listed[0] in stems:
        return listed[0]
    clean = [s for s in stems if s.startswith("no") or s == "dry"]
    return clean[0] if clean else next(iter(stems))


@tool
async def restore(
    ctx: Context,
    input: InputArg = None,
    kind: Annotated[Literal["dereverb", "deecho", "denoise"], Field(description="What to remove.")] = "dereverb",
    aggressive: Annotated[bool, Field(description="Prefer the stronger model (removes more, may add artefacts).")] = False,
    model: Annotated[str | None, Field(description="A specific UVR model from list_models(family='uvr').")] = None,
    keep_removed: Annotated[bool, Field(description="Also write what was removed (the reverb, echo or noise).")] = False,
    output: OutputArg = None,
    format: FormatArg = None,
    bit_depth: BitDepthArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    background: BackgroundArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, RestoreResult]:
    def work(run: Run) -> Reply:
        from ..engines.uvr import separate

        name = _restorer(kind, aggressive, model)
        audio = run.load(input, input_base64, input_format)
        stems = separate(audio.samples, audio.sr, model=name, progress=run.progress, cancel=run.cancel).stems
        clean = _clean_stem(stems, name)
        ext = format or source_ext(input)
        out = run.save_audio(stems[clean], audio.sr, output=output, format=format, overwrite=overwrite,
                             default=derived(audio.name, kind, ext), bit_depth=bit_depth)
        removed = None
        if keep_removed:
            rest = sum(v for k, v in stems.items() if k != clean)
            removed = run.save_audio(rest, audio.sr, output=None, format=format, overwrite=overwrite,
                                     default=derived(audio.name, f"{kind}.removed", ext), bit_depth=bit_depth)
        result = RestoreResult(output=out, removed=removed, model=name, kind=kind)
        return Reply(result=result, summary=f"Wrote {out.path}: {kind} with {name}.",
                     inline_audio=[run.written[0]])

    return await execute(ctx, work, inline=inline, background=background, result_type=RestoreResult)
