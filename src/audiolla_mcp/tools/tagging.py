"""Tagging and embeddings: AST AudioSet tags, CLAP embeddings, zero-shot labels, similarity,
and semantic search over the workspace."""

from __future__ import annotations

import functools
from typing import Annotated

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from . import tool
from .common import InputArg, InputBase64Arg, InputFormatArg, Reply, Run, execute

ClapModelArg = Annotated[str, Field(description="A CLAP model from list_models(family='clap').")]


class Tag(BaseModel):
    label: str
    score: float = Field(description="Mean probability over the clip's 10 s windows, 0–1.")


class TagsResult(BaseModel):
    tags: list[Tag]
    model: str
    windows: int


class EmbeddingResult(BaseModel):
    embedding: list[float] | None = Field(description="Unit-length CLAP vector (omitted with include_vector=false).")
    dimensions: int
    model: str
    query_similarity: float | None = Field(default=None, description="Cosine similarity to query_text, −1…1.")


class LabelScore(BaseModel):
    label: str
    probability: float
    similarity: float


class ClassifyResult(BaseModel):
    best: str
    labels: list[LabelScore]
    model: str


class SimilarityResult(BaseModel):
    similarity: float = Field(description="Cosine similarity of the two CLAP embeddings, −1…1 (1 = same sound).")
    model: str


class Match(BaseModel):
    path: str
    similarity: float


class SearchResult(BaseModel):
    matches: list[Match]
    searched: int = Field(description="Audio files compared.")
    embedded: int = Field(description="Files embedded in this call (the rest came from the cache).")
    model: str


@tool
async def tag_audio(
    ctx: Context,
    input: InputArg = None,
    top_k: Annotated[int, Field(ge=1, le=100, description="How many labels to return.")] = 10,
    model: Annotated[str, Field(description="An AST model from list_models(family='ast').")] = "ast-audioset",
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, TagsResult]:
    def work(run: Run) -> Reply:
        from ..engines.transformers_audio import tag_audio as tag

        audio = run.load(input, input_base64, input_format)
        found = tag(audio.samples, audio.sr, model=model, top_k=top_k, progress=run.progress, cancel=run.cancel)
        result = TagsResult(**vars(found))
        return Reply(result=result, summary="Tags: " + ", ".join(
            f"{t['label']} {t['score']:.2f}" for t in found.tags[:10]) + ".")

    return await execute(ctx, work)


@tool
async def embed_audio(
    ctx: Context,
    input: InputArg = None,
    query_text: Annotated[str | None, Field(description="Also score the clip against this description.")] = None,
    include_vector: Annotated[bool, Field(description="Return the embedding itself (512 numbers for LAION CLAP).")] = True,
    model: ClapModelArg = "clap",
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, EmbeddingResult]:
    def work(run: Run) -> Reply:
        from ..engines import transformers_audio as ta

        audio = run.load(input, input_base64, input_format)
        vector = ta.embed_audio(audio.samples, audio.sr, model=model, progress=run.progress, cancel=run.cancel)
        score = None
        if query_text:
            score = round(ta.cosine(vector, ta.embed_text([query_text], model=model)[0]), 4)
        result = EmbeddingResult(embedding=[round(float(v), 6) for v in vector] if include_vector else None,
                                 dimensions=int(vector.size), model=model, query_similarity=score)
        extra = f"; similarity to {query_text!r}: {score:.3f}" if score is not None else ""
        return Reply(result=result, summary=f"{vector.size}-dimensional CLAP embedding{extra}.")

    return await execute(ctx, work)


@tool
async def classify_audio(
    ctx: Context,
    labels: Annotated[list[str], Field(min_length=2, max_length=100, description=(
        "Candidate descriptions, e.g. ['acoustic guitar', 'piano', 'synth pad'].")) ],
    input: InputArg = None,
    model: ClapModelArg = "clap",
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, ClassifyResult]:
    def work(run: Run) -> Reply:
        from ..engines.transformers_audio import classify_audio as classify

        audio = run.load(input, input_base64, input_format)
        found = classify(audio.samples, audio.sr, labels, model=model, progress=run.progress, cancel=run.cancel)
        result = ClassifyResult(**vars(found))
        return Reply(result=result, summary=f"Best match: {found.best} ({found.labels[0]['probability']:.0%}).")

    return await execute(ctx, work)


@tool
async def audio_similarity(
    ctx: Context,
    a: Annotated[str, Field(description="First workspace audio file.")],
    b: Annotated[str, Field(description="Second workspace audio file.")],
    model: ClapModelArg = "clap",
) -> Annotated[CallToolResult, SimilarityResult]:
    def work(run: Run) -> Reply:
        from ..engines import transformers_audio as ta

        first, second = run.load(a, what="a"), run.load(b, what="b")
        score = ta.cosine(ta.embed_audio(first.samples, first.sr, model=model, cancel=run.cancel),
                          ta.embed_audio(second.samples, second.sr, model=model, cancel=run.cancel))
        return Reply(result=SimilarityResult(similarity=round(score, 4), model=model),
                     summary=f"CLAP similarity of {a} and {b}: {score:.3f}.")

    return await execute(ctx, work)


@tool
async def search_workspace(
    ctx: Context,
    query_text: Annotated[str | None, Field(description="Describe the sound, e.g. 'female vocals with reverb'.")] = None,
    like: Annotated[str | None, Field(description="Or: a workspace file to find similar-sounding files to.")] = None,
    prefix: Annotated[str | None, Field(description="Only search inside this folder.")] = None,
    top_k: Annotated[int, Field(ge=1, le=100, description="How many matches to return.")] = 10,
    model: ClapModelArg = "clap",
) -> Annotated[CallToolResult, SearchResult]:
    def work(run: Run) -> Reply:
        from .. import audio_io
        from ..engines import transformers_audio as ta
        from ..errors import ToolError

        if (query_text is None) == (like is None):
            raise ToolError("Give either query_text or like (a workspace file), not both.")
        entries = [e for e in run.workspace.list(prefix, None) if e.mime_type.startswith("audio/")]
        target = None
        if like is not None:
            example = run.load(like, what="like")
            target = ta.embed_audio(example.samples, example.sr, model=model)

        load = functools.partial(audio_io.decode_samples, max_duration_s=run.settings.max_duration_s)
        found = ta.search_files([(e.path, run.path(e.path)) for e in entries], load, query_text=query_text,
                                like=target, top_k=top_k, model=model, cache=_cache(run),
                                progress=run.progress, cancel=run.cancel)
        result = SearchResult(**vars(found))
        best = ", ".join(f"{m['path']} ({m['similarity']:.2f})" for m in found.matches[:5])
        return Reply(result=result, summary=f"Searched {found.searched} file(s) ({found.embedded} newly embedded)"
                     + (f"; best: {best}." if best else "."))

    return await execute(ctx, work)


def _cache(run: Run):
    """Embeddings live next to the model cache, keyed by content, so they survive renames."""
    from .. import models
    from ..engines.transformers_audio import EmbeddingCache

    return EmbeddingCache(models.models_dir().parent / "embeddings")
