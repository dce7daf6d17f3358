"""Tags and acoustic fingerprints: what a file says about itself, and what it sounds like."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import BaseModel, ConfigDict, Field

from ..errors import ToolError
from . import tool
from .common import FileOutput, InputArg, OverwriteArg, Reply, Run, derived, execute


class Tags(BaseModel):
    """The common tag vocabulary, mapped to ID3 (mp3, wav, aiff), Vorbis comments (flac, ogg, opus)
    and MP4 atoms (m4a)."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, description="Track title.")
    artist: str | None = Field(default=None, description="Track artist.")
    album: str | None = Field(default=None, description="Album title.")
    albumartist: str | None = Field(default=None, description="Album artist.")
    date: str | None = Field(default=None, description="Release date or year, e.g. '2024' or '2024-05-01'.")
    genre: str | None = Field(default=None, description="Genre, e.g. 'Jazz'.")
    tracknumber: str | None = Field(default=None, description="'3' or '3/12'.")
    discnumber: str | None = Field(default=None, description="'1' or '1/2'.")
    comment: str | None = Field(default=None, description="Free-text comment.")
    bpm: str | None = Field(default=None, description="Tempo; m4a stores whole numbers.")
    key: str | None = Field(default=None, description="Musical key, e.g. 'Am' or 'F#'.")
    isrc: str | None = Field(default=None, description="International Standard Recording Code.")
    composer: str | None = Field(default=None, description="Composer.")


TagsFound = Annotated[dict[str, str], Field(description="The common tags the file carries (names as in Tags).")]


class ReadTagsResult(BaseModel):
    path: str
    tags: TagsFound


def _extension(path: str) -> str:
    return Path(path.split("://")[-1]).suffix.lower().lstrip(".")


@tool
async def read_tags(ctx: Context, input: InputArg = None) -> Annotated[CallToolResult, ReadTagsResult]:
    def work(run: Run) -> Reply:
        from ..ops.tags import read_tags as read

        if not input:
            raise ToolError("No input given: pass a workspace path (see list_files).")
        tags = read(run.path(input))
        listed = ", ".join(f"{k}={v!r}" for k, v in tags.items()) or "no tags"
        return Reply(result=ReadTagsResult(path=input, tags=tags), summary=f"{input}: {listed}.")

    return await execute(ctx, work)


class WriteTagsResult(BaseModel):
    file: FileOutput
    tags: TagsFound


@tool
async def write_tags(
    ctx: Context,
    input: InputArg = None,
    tags: Annotated[
        Tags | None,
        Field(description="Tags to set; a tag given as an empty string is removed; tags left out are kept."),
    ] = None,
    in_place: Annotated[bool, Field(description="Change the input file itself instead of writing a copy.")] = False,
    output: Annotated[
        str | None, Field(description="Workspace path of the tagged copy (same extension as the input); omit to "
                          "derive one. Ignored with in_place=true.")
    ] = None,
    overwrite: OverwriteArg = False,
) -> Annotated[CallToolResult, WriteTagsResult]:
    def work(run: Run) -> Reply:
        from ..ops.tags import write_tags as write

        if not input:
            raise ToolError("No input given: pass a workspace path (see list_files).")
        source = run.path(input)
        values = tags.model_dump(exclude_unset=True) if tags else {}
        if not values:
            raise ToolError("No tags given; pass e.g. tags={'title': 'My Song', 'artist': 'Me'}.")
        if output and not in_place and _extension(output) != _extension(input):
            raise ToolError("write_tags keeps the file's format; give an output with the input's extension, or "
                            "use convert first.")
        written: dict[str, str] = {}

        def tag_copy(tmp: Path) -> None:
            written.update(write(source, tmp, values))

        file = run.save_file(
            tag_copy,
            output=input if in_place else output,
            default=derived(source.name, "tagged", _extension(input)),
            overwrite=overwrite or in_place,
        )
        summary = f"Wrote {file.path} with {len(values)} tag(s) set; it now has {len(written)} common tags."
        return Reply(result=WriteTagsResult(file=file, tags=written), summary=summary)

    return await execute(ctx, work)


class FingerprintResult(BaseModel):
    path: str
    duration_s: float
    fingerprint: str = Field(description="Chromaprint fingerprint (base64), as AcoustID look-ups take it.")
    compared_with: str | None = None
    similarity: float | None = Field(
        default=None, description="1 − bit error rate of the aligned fingerprints: 1 identical, > 0.85 the same "
        "recording (re-encoded, shifted), about 0.5–0.65 unrelated.",
    )
    same_recording: bool | None = None


@tool
async def fingerprint(
    ctx: Context,
    input: InputArg = None,
    compare_with: Annotated[
        str | None, Field(description="A second workspace file to compare with (e.g. a suspected duplicate).")
    ] = None,
    length_s: Annotated[
        int, Field(ge=0, le=3600, description="Seconds fingerprinted from the start (0 = whole file).")
    ] = 120,
) -> Annotated[CallToolResult, FingerprintResult]:
    def work(run: Run) -> Reply:
        from ..ops import fingerprint as fp

        if not input:
            raise ToolError("No input given: pass a workspace path (see list_files).")
        source = run.path(input)
        printed = fp.fingerprint(source, length_s)
        result = FingerprintResult(path=input, duration_s=printed.duration_s, fingerprint=printed.fingerprint)
        summary = f"Fingerprinted {input} ({printed.duration_s:.1f} s)."
        if compare_with:
            other = fp.fingerprint(run.path(compare_with, what="compare_with"), length_s)
            similarity = fp.compare_fingerprints(printed.fingerprint, other.fingerprint)
            same = similarity >= fp.SAME_RECORDING
            result = result.model_copy(update={"compared_with": compare_with, "similarity": similarity,
                                               "same_recording": same})
            verdict = "the same recording" if same else "different recordings"
            summary += f" Similarity with {compare_with}: {similarity:.3f} ({verdict})."
        return Reply(result=result, summary=summary)

    return await execute(ctx, work)
