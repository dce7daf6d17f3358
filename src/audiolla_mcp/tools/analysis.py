"""Analysis tools: tempo, key, chords, melody, structure, loudness curve, silence, clipping,
stereo field, DJ prep, loop points, A/B comparison and delivery checks. All read-only except
the optional click track, melody MIDI and comparison plot files."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from . import tool
from .common import (
    AudioOutput,
    FileOutput,
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

Section = Literal["tempo", "key", "loudness", "spectral", "dynamics"]
DeliverySpec = Literal[
    "spotify", "apple_music", "youtube", "amazon_music", "tidal", "deezer",
    "apple_podcasts", "ebu_r128", "atsc_a85", "acx",
]


def _fields(result: Any, model: type[BaseModel], **extra: Any) -> BaseModel:
    """The op's result dataclass as the tool's result model (its `summary` goes in the text)."""
    data = {k: v for k, v in asdict(result).items() if k in model.model_fields}
    return model(**data, **extra)


async def _analysis(ctx: Context, compute: Any, model: type[BaseModel], input: str | None,
                    input_base64: str | None, input_format: str | None) -> CallToolResult:
    """Load the input, run `compute(run, audio)` → op result, reply with it and its summary."""

    def work(run: Run) -> Reply:
        audio = run.load(input, input_base64, input_format)
        result = compute(run, audio)
        return Reply(result=_fields(result, model, path=input), summary=result.summary)

    return await execute(ctx, work)


# -- result models -----------------------------------------------------------------------------


class Analyzed(BaseModel):
    path: str | None
    duration_s: float
    sample_rate: int
    channels: int
    bpm: float | None = Field(description="Tempo in beats per minute (None: no steady beat).")
    bpm_confidence: float | None = Field(description="0..1.")
    time_signature: str | None = Field(description="Meter guess, e.g. '4/4' or '3/4'.")
    key: str | None = Field(description="E.g. 'A minor' (None: no pitched content).")
    key_confidence: float | None
    camelot: str | None = Field(description="Camelot wheel code for harmonic mixing, e.g. '8A'.")
    integrated_lufs: float | None
    true_peak_dbtp: float | None
    spectral: dict | None = Field(description="centroid_hz, rolloff_hz (85 %), bandwidth_hz, flatness (0 tonal … 1 noise).")
    dynamics: dict | None = Field(
        description="rms_dbfs, peak_dbfs, crest_factor_db (peak − RMS), peak_to_loudness_db (true peak − LUFS), "
        "loudness_range_lu."
    )


class LoudnessCurveResult(BaseModel):
    path: str | None
    window: str
    block_s: float = Field(description="Length of each measurement block (0.4 s momentary, 3 s short-term).")
    blocks_per_point: int = Field(description="Blocks merged into each point (the loudest is kept).")
    times_s: list[float] = Field(description="End time of each block.")
    lufs: list[float | None] = Field(description="Loudness per point; None where below −70 LUFS.")


class Beats(BaseModel):
    path: str | None
    bpm: float | None = Field(description="Tempo (None: too short, silent or arrhythmic).")
    confidence: float = Field(description="0..1: periodicity, regularity and how clearly beats stand out.")
    time_signature: str | None
    beats: list[float] = Field(description="Beat times in seconds (capped at max_beats).")
    downbeats: list[float] = Field(description="Bar starts in seconds.")
    beat_count: int
    beats_truncated: bool
    tempo_candidates: list[dict] = Field(description="Other tempo hypotheses with scores, best first.")
    click_track: AudioOutput | None = Field(default=None, description="The input with a click on every beat.")


class Onsets(BaseModel):
    path: str | None
    onsets: list[float]
    strengths: list[float] = Field(description="Relative onset strength 0..1.")
    onset_count: int
    truncated: bool
    onsets_per_second: float


class Key(BaseModel):
    path: str | None
    key: str | None = Field(description="E.g. 'F# minor'.")
    tonic: str | None
    mode: str | None = Field(description="'major' or 'minor'.")
    confidence: float = Field(description="0..1; below 0.3 treat the key as a guess.")
    camelot: str | None
    open_key: str | None = Field(description="Open Key notation (Traktor), e.g. '1m'.")
    alternatives: list[dict] = Field(description="Runner-up keys with scores, best first.")


class Chords(BaseModel):
    path: str | None
    segments: list[dict] = Field(
        description="{start, end, chord (Harte syntax 'C:maj7'), name (readable 'Cmaj7'), confidence}."
    )
    segment_count: int
    truncated: bool
    key: str | None
    unique_chords: list[str]


class Melody(BaseModel):
    path: str | None
    contour: list[dict] = Field(description="{time, frequency_hz (None: unvoiced), midi, confidence}, decimated to `points`.")
    notes: list[dict] = Field(description="{start, end, pitch (MIDI), name, frequency_hz, confidence}.")
    note_count: int
    notes_truncated: bool
    voiced_fraction: float
    range: dict | None
    midi_file: FileOutput | None = None


class Structure(BaseModel):
    path: str | None
    sections: list[dict] = Field(description="{start, end, label}; equal letters sound alike (A = first idea).")
    section_count: int
    labels: list[str]
    form: str = Field(description="The labels in order, e.g. 'ABABCB'.")


class Silence(BaseModel):
    path: str | None
    regions: list[dict] = Field(description="{start_s, end_s, duration_s} of each silent stretch.")
    region_count: int
    truncated: bool
    silent_s: float = Field(description="Total silent time.")
    duration_s: float


class Clipping(BaseModel):
    path: str | None
    clipped: bool
    clipped_samples: int
    clipped_fraction: float
    events: list[dict] = Field(description="{start_s, duration_ms, channel, level_dbfs} per flat-topped stretch.")
    event_count: int
    truncated: bool
    peak_dbfs: float
    clip_level_dbfs: float | None = Field(description="Level of the flat tops; below 0 dBFS means clipped then turned down.")


class Stereo(BaseModel):
    path: str | None
    channels: int
    is_mono: bool
    correlation: float | None = Field(description="−1 out of phase … 0 unrelated … +1 mono.")
    min_window_correlation: float | None = Field(description="Worst 400 ms window.")
    width: float | None = Field(description="Side share of the energy: 0 mono, ~0.5 very wide, 1 anti-phase.")
    side_to_mid_db: float | None
    balance_db: float | None = Field(description="Left minus right level; positive leans left.")
    mono_loss_db: float | None = Field(description="Level change when folded to mono; strongly negative means cancellation.")
    band_correlation: list[dict] = Field(description="Correlation in low (<200 Hz), mid and high bands.")
    phase_problem: bool


class DjPrepResult(BaseModel):
    path: str | None
    bpm: float | None
    bpm_confidence: float
    key: str | None
    camelot: str | None
    open_key: str | None
    key_confidence: float
    integrated_lufs: float | None
    true_peak_dbtp: float | None
    gain_to_reference_db: float | None = Field(description="Gain that levels the track to −14 LUFS.")
    first_downbeat_s: float | None = Field(description="A good first cue point.")
    duration_s: float


class Loop(BaseModel):
    path: str | None
    start_s: float
    end_s: float
    length_s: float
    bars: int | None
    bpm: float | None
    score: float = Field(description="0..1 similarity of what follows the end and what follows the start.")
    seam_error_db: float = Field(description="Waveform mismatch at the seam relative to the signal (lower is cleaner).")
    alternatives: list[dict]


class Compared(BaseModel):
    a: str
    b: str
    duration_a_s: float
    duration_b_s: float
    sample_rate: int
    offset_s: float = Field(description="How much later b starts than a (negative: earlier).")
    correlation: float | None
    gain_b_to_a_db: float | None = Field(description="Gain that best matches b to a.")
    null_residual_dbfs: float
    null_residual_db: float = Field(description="Level of a − b relative to a; −90 dB or lower means identical.")
    matched_null_residual_db: float = Field(description="The same after gain matching.")
    identical: bool
    loudness_a: dict
    loudness_b: dict
    loudness_delta: dict = Field(description="b − a for each loudness figure.")
    band_difference_db: list[dict] = Field(description="Per octave band, b − a in dB.")
    spectral_centroid_delta_hz: float | None
    plot: FileOutput | None = None


class Delivery(BaseModel):
    path: str | None
    spec: str
    title: str
    verdict: Literal["pass", "pass_with_warnings", "fail"]
    criteria: list[dict] = Field(description="{name, measured, required, passed, severity} per criterion.")
    fixes: list[dict] = Field(
        description="Tool calls to run in this order: {tool, arguments, reason, fixes, verified (simulated on a copy)}."
    )
    verdict_after_fixes: str | None = Field(description="Verdict of the simulated result after all fixes.")
    note: str


# -- tools --------------------------------------------------------------------------------------


@tool
async def analyze(
    ctx: Context,
    input: InputArg = None,
    features: Annotated[
        list[Section] | None,
        Field(description="Which parts to compute; default all: tempo, key, loudness, spectral, dynamics."),
    ] = None,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, Analyzed]:
    def compute(run: Run, audio: Any) -> Any:
        from ..ops.analysis import SECTIONS
        from ..ops.analysis import analyze as analyze_op

        return analyze_op(audio.samples, audio.sr, features or SECTIONS, progress=run.progress, cancel=run.cancel)

    return await _analysis(ctx, compute, Analyzed, input, input_base64, input_format)


@tool
async def loudness_curve(
    ctx: Context,
    input: InputArg = None,
    window: Annotated[
        Literal["momentary", "short_term"], Field(description="momentary: 400 ms blocks; short_term: 3 s blocks.")
    ] = "short_term",
    points: Annotated[int, Field(ge=10, le=5000, description="Most points returned (loudest block of each group kept).")] = 300,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, LoudnessCurveResult]:
    def work(run: Run) -> Reply:
        from ..ops.loudness import curve

        audio = run.load(input, input_base64, input_format)
        found = curve(audio.samples, audio.sr, window, points, progress=run.progress, cancel=run.cancel)
        result = LoudnessCurveResult(path=input, **asdict(found))
        levels = [v for v in found.lufs if v is not None]
        summary = (
            f"{len(found.lufs)} {window.replace('_', '-')} loudness points; range {min(levels):.1f} to {max(levels):.1f} LUFS."
            if levels else "The audio stays below −70 LUFS (silence)."
        )
        return Reply(result=result, summary=summary)

    return await execute(ctx, work)


@tool
async def detect_beats(
    ctx: Context,
    input: InputArg = None,
    start_bpm: Annotated[
        float | None, Field(ge=30, le=300, description="Tempo hint; the estimate stays near it (use for half/double doubts).")
    ] = None,
    max_beats: Annotated[int, Field(ge=1, le=10000, description="Most beat times returned.")] = 500,
    click_track: Annotated[bool, Field(description="Also write the input with a click on every beat (higher on downbeats).")] = False,
    output: OutputArg = None,
    format: FormatArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, Beats]:
    def work(run: Run) -> Reply:
        import numpy as np

        from ..ops.beats import click_track as clicks
        from ..ops.beats import detect_beats as detect

        audio = run.load(input, input_base64, input_format)
        found = detect(audio.samples, audio.sr, start_bpm=start_bpm, max_beats=10**9,
                       progress=run.progress, cancel=run.cancel)
        out = None
        if click_track:
            mixed = audio.samples + clicks(found.beats, found.downbeats, audio.sr, audio.samples.shape[1], audio.channels)
            mixed /= max(1.0, float(np.max(np.abs(mixed))))
            out = run.save_audio(mixed, audio.sr, output=output, default=derived(audio.name, "clicks", source_ext(input)),
                                 format=format, overwrite=overwrite)
        result = _fields(found, Beats, path=input, click_track=out)
        result.beats, result.downbeats = found.beats[:max_beats], found.downbeats[:max_beats]
        result.beats_truncated = found.beat_count > max_beats
        summary = found.summary + (f" Click track: {out.path}." if out else "")
        return Reply(result=result, summary=summary, inline_audio=run.written[-1:] if out else [])

    return await execute(ctx, work, inline=inline)


@tool
async def detect_onsets(
    ctx: Context,
    input: InputArg = None,
    max_onsets: Annotated[int, Field(ge=1, le=20000, description="Most onset times returned.")] = 500,
    backtrack: Annotated[bool, Field(description="Move onsets back to the energy minimum before them (good cut points).")] = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, Onsets]:
    def compute(run: Run, audio: Any) -> Any:
        from ..ops.beats import detect_onsets as detect

        return detect(audio.samples, audio.sr, max_onsets=max_onsets, backtrack=backtrack,
                      progress=run.progress, cancel=run.cancel)

    return await _analysis(ctx, compute, Onsets, input, input_base64, input_format)


@tool
async def detect_key(
    ctx: Context,
    input: InputArg = None,
    max_alternatives: Annotated[int, Field(ge=0, le=23, description="How many runner-up keys to list.")] = 4,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, Key]:
    def compute(run: Run, audio: Any) -> Any:
        from ..ops.key import detect_key as detect

        return detect(audio.samples, audio.sr, max_alternatives=max_alternatives, progress=run.progress, cancel=run.cancel)

    return await _analysis(ctx, compute, Key, input, input_base64, input_format)


@tool
async def detect_chords(
    ctx: Context,
    input: InputArg = None,
    max_segments: Annotated[int, Field(ge=1, le=5000, description="Most chord segments returned.")] = 300,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, Chords]:
    def compute(run: Run, audio: Any) -> Any:
        from ..ops.chords import detect_chords as detect

        return detect(audio.samples, audio.sr, max_segments=max_segments, progress=run.progress, cancel=run.cancel)

    return await _analysis(ctx, compute, Chords, input, input_base64, input_format)


@tool
async def track_melody(
    ctx: Context,
    input: InputArg = None,
    points: Annotated[int, Field(ge=10, le=10000, description="Most contour points returned.")] = 300,
    max_notes: Annotated[int, Field(ge=1, le=10000, description="Most notes returned.")] = 500,
    as_midi: Annotated[bool, Field(description="Also write the notes as a MIDI file.")] = False,
    midi_program: Annotated[int, Field(ge=0, le=127, description="General MIDI program of that track (0 = piano).")] = 0,
    output: Annotated[str | None, Field(description="Workspace path for the .mid file; omit to derive one.")] = None,
    overwrite: OverwriteArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, Melody]:
    def work(run: Run) -> Reply:
        from ..ops.melody import melody_midi
        from ..ops.melody import track_melody as track

        audio = run.load(input, input_base64, input_format)
        found = track(audio.samples, audio.sr, points=points, max_notes=max_notes, progress=run.progress, cancel=run.cancel)
        midi_file = None
        if as_midi:
            data = melody_midi(found.notes, program=midi_program)
            midi_file = run.save_bytes(data, output=output, default=derived(audio.name, "melody", "mid"), overwrite=overwrite)
        summary = found.summary + (f" MIDI: {midi_file.path}." if midi_file else "")
        return Reply(result=_fields(found, Melody, path=input, midi_file=midi_file), summary=summary)

    return await execute(ctx, work)


@tool
async def segment_structure(
    ctx: Context,
    input: InputArg = None,
    section_types: Annotated[
        int | None, Field(ge=1, le=12, description="How many distinct section letters to use; omit to let the music decide.")
    ] = None,
    min_section_s: Annotated[float, Field(ge=0, le=120, description="Shorter sections merge into a neighbour.")] = 4.0,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, Structure]:
    def compute(run: Run, audio: Any) -> Any:
        from ..ops.structure import segment_structure as segment

        return segment(audio.samples, audio.sr, section_types=section_types, min_section_s=min_section_s,
                       progress=run.progress, cancel=run.cancel)

    return await _analysis(ctx, compute, Structure, input, input_base64, input_format)


@tool
async def detect_silence(
    ctx: Context,
    input: InputArg = None,
    threshold_db: Annotated[float, Field(ge=-120, le=0, description="Level (dBFS RMS, 10 ms windows) below which audio counts as silent.")] = -50.0,
    min_duration_s: Annotated[float, Field(ge=0, le=600, description="Shortest silence reported.")] = 0.5,
    max_regions: Annotated[int, Field(ge=1, le=10000, description="Most regions returned.")] = 500,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, Silence]:
    def work(run: Run) -> Reply:
        from ..ops.edit import detect_silence as detect

        audio = run.load(input, input_base64, input_format)
        spans = detect(audio.samples, audio.sr, threshold_db, min_duration_s)
        regions = [{"start_s": s.start_s, "end_s": s.end_s, "duration_s": round(s.end_s - s.start_s, 4)} for s in spans]
        silent = round(sum(r["duration_s"] for r in regions), 3)
        result = Silence(path=input, regions=regions[:max_regions], region_count=len(regions),
                         truncated=len(regions) > max_regions, silent_s=silent, duration_s=round(audio.duration_s, 3))
        summary = (f"{len(regions)} silent regions below {threshold_db:g} dBFS, {silent:.1f} s of {audio.duration_s:.1f} s."
                   if regions else f"No silence below {threshold_db:g} dBFS lasting {min_duration_s:g} s.")
        return Reply(result=result, summary=summary)

    return await execute(ctx, work)


@tool
async def detect_clipping(
    ctx: Context,
    input: InputArg = None,
    min_run: Annotated[int, Field(ge=2, le=1000, description="Identical peak samples in a row that count as clipping.")] = 3,
    max_events: Annotated[int, Field(ge=1, le=10000, description="Most clipped stretches listed.")] = 100,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, Clipping]:
    def compute(run: Run, audio: Any) -> Any:
        from ..ops.analysis import detect_clipping as detect

        return detect(audio.samples, audio.sr, min_run=min_run, max_events=max_events)

    return await _analysis(ctx, compute, Clipping, input, input_base64, input_format)


@tool
async def stereo_field(
    ctx: Context,
    input: InputArg = None,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, Stereo]:
    def compute(run: Run, audio: Any) -> Any:
        from ..ops.analysis import stereo_field as measure

        return measure(audio.samples, audio.sr)

    return await _analysis(ctx, compute, Stereo, input, input_base64, input_format)


@tool
async def dj_prep(
    ctx: Context,
    input: InputArg = None,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, DjPrepResult]:
    def compute(run: Run, audio: Any) -> Any:
        from ..ops.analysis import dj_prep as prep

        return prep(audio.samples, audio.sr, progress=run.progress, cancel=run.cancel)

    return await _analysis(ctx, compute, DjPrepResult, input, input_base64, input_format)


@tool
async def find_loop_point(
    ctx: Context,
    input: InputArg = None,
    min_length_s: Annotated[float, Field(gt=0, le=600, description="Shortest loop considered.")] = 1.0,
    max_length_s: Annotated[float, Field(gt=0, le=600, description="Longest loop considered.")] = 60.0,
    max_alternatives: Annotated[int, Field(ge=0, le=20, description="Runner-up loops listed.")] = 3,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, Loop]:
    def compute(run: Run, audio: Any) -> Any:
        from ..ops.analysis import find_loop_point as find

        return find(audio.samples, audio.sr, min_length_s=min_length_s, max_length_s=max_length_s,
                    max_alternatives=max_alternatives, progress=run.progress, cancel=run.cancel)

    return await _analysis(ctx, compute, Loop, input, input_base64, input_format)


@tool
async def compare_audio(
    ctx: Context,
    a: Annotated[str, Field(description="First version (the reference), a workspace path.")],
    b: Annotated[str, Field(description="Second version, compared against a.")],
    align: Annotated[bool, Field(description="Find and remove a time offset between them first.")] = True,
    max_offset_s: Annotated[float, Field(ge=0, le=30, description="Largest offset searched when aligning.")] = 1.0,
    plot: Annotated[bool, Field(description="Also return a PNG of the per-octave level difference.")] = False,
    output: Annotated[str | None, Field(description="Workspace path for the PNG; omit to derive one.")] = None,
    overwrite: OverwriteArg = False,
) -> Annotated[CallToolResult, Compared]:
    def work(run: Run) -> Reply:
        from ..ops.analysis import compare_audio as compare
        from ..ops.analysis import comparison_png

        first, second = run.load(a, what="a"), run.load(b, what="b")
        found = compare(first.samples, first.sr, second.samples, second.sr, align=align, max_offset_s=max_offset_s,
                        progress=run.progress, cancel=run.cancel)
        images, image = [], None
        if plot:
            png = comparison_png(found)
            image = run.save_bytes(png, output=output, default=derived(first.name, "compare", "png"), overwrite=overwrite)
            images = [png]
        return Reply(result=_fields(found, Compared, a=a, b=b, plot=image), summary=found.summary, images=images)

    return await execute(ctx, work)


@tool
async def check_delivery(
    ctx: Context,
    input: InputArg = None,
    spec: Annotated[DeliverySpec, Field(description="Platform or standard to check against.")] = "spotify",
    live: Annotated[bool, Field(description="EBU R128 only: live programme (±1 LU instead of ±0.5).")] = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, Delivery]:
    def work(run: Run) -> Reply:
        from .. import audio_io
        from ..ops.delivery import check_delivery as check

        audio = run.load(input, input_base64, input_format)
        info = audio_io.probe(run.path(input)) if input else None
        found = check(audio.samples, audio.sr, spec, live=live,
                      file_format=info.container if info else input_format,
                      bitrate_kbps=info.bitrate_kbps if info else None,
                      progress=run.progress, cancel=run.cancel)
        return Reply(result=_fields(found, Delivery, path=input), summary=found.summary)

    return await execute(ctx, work)
