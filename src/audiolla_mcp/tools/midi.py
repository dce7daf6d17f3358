"""MIDI tools: compose, inspect, transform, humanize, drum patterns, chords, transcription
(basic-pitch) and rendering (FluidSynth), plus compose-and-render in one call."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from ..errors import ToolError
from ..ops.midi import CompositionSpec, DrumPatternSpec, MidiInfo, Voicing
from . import tool
from .common import (
    AudioOutput,
    Backgroundable,
    BackgroundArg,
    BitDepthArg,
    BitrateArg,
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
)

if TYPE_CHECKING:
    import mido

    from ..engines.fluidsynth import Rendering

MAX_MIDI_BYTES = 16 * 2**20
INFO_ITEMS = 64

MidiInputArg = Annotated[
    str,
    Field(description="MIDI file: a workspace path such as 'song.mid', or a workspace:// URI."),
]
MidiOutputArg = Annotated[
    str | None,
    Field(
        description="Workspace path for the .mid file. Omit to derive a name; an existing file is "
        "never replaced unless overwrite=true."
    ),
]
SoundFontArg = Annotated[
    str | None,
    Field(
        description="A .sf2/.sf3 SoundFont in the workspace. Omit for the built-in General MIDI "
        "set (FluidR3 GM: all 128 GM instruments plus drum kits)."
    ),
]
SampleRateArg = Annotated[int, Field(ge=8000, le=192000, description="Output sample rate in Hz.")]
GainArg = Annotated[
    float,
    Field(
        ge=-40,
        le=40,
        description="Output gain in dB. Whatever the gain, a render that would clip is turned down "
        "to peak at -1 dBFS.",
    ),
]
ReverbArg = Annotated[
    bool, Field(description="Apply the synth's reverb (each channel's CC 91 send).")
]
ChorusArg = Annotated[
    bool, Field(description="Apply the synth's chorus (each channel's CC 93 send).")
]
Channels = list[Annotated[int, Field(ge=0, le=15)]]


class MidiFileResult(BaseModel):
    output: FileOutput
    info: MidiInfo = Field(description="What the written file contains (as midi_inspect reports).")


class InspectResult(BaseModel):
    path: str
    info: MidiInfo


class ChordEntry(BaseModel):
    start_beat: float
    beats: float
    symbol: str
    notes: list[str] = Field(description="The chord track's notes, lowest first.")


class ChordsResult(MidiFileResult):
    chords: list[ChordEntry] = Field(description="The chords written, in time order (capped).")
    chords_truncated: bool
    tempo_bpm: float
    key: str | None = Field(None, description="Audio mode: the key detect_chords heard.")


class AudioToMidiResult(Backgroundable):
    output: FileOutput | None = None
    duration_s: float | None = None
    note_count: int | None = None
    pitch_min: int | None = None
    pitch_max: int | None = None
    notes: list[dict[str, Any]] = Field(
        default_factory=list,
        description="The first notes in time order: start_s, end_s, pitch, name, velocity.",
    )
    notes_truncated: bool = False


class RenderResult(Backgroundable):
    output: AudioOutput | None = None
    soundfont: str | None = None
    peak_dbfs: float | None = None
    limited_db: float | None = Field(
        None, description="How far the render was turned down to avoid clipping (0 = untouched)."
    )


class GenerateResult(RenderResult):
    midi: FileOutput | None = None
    info: MidiInfo | None = None
    output_lufs: float | None = Field(None, description="Integrated loudness after normalizing.")


# -- shared steps ------------------------------------------------------------------------------


def _read_midi(run: Run, input: str) -> mido.MidiFile:
    from ..ops.midi import midi_from_bytes

    path = run.path(input, "MIDI input")
    if path.stat().st_size > MAX_MIDI_BYTES:
        raise ToolError(f"{input!r} is over {MAX_MIDI_BYTES // 2**20} MB; that is not a MIDI file")
    return midi_from_bytes(path.read_bytes())


def _write_midi(
    run: Run, midi: mido.MidiFile, output: str | None, default: str, overwrite: bool
) -> tuple[FileOutput, MidiInfo]:
    from ..ops.midi import inspect, midi_to_bytes

    out = run.save_bytes(midi_to_bytes(midi), output=output, default=default, overwrite=overwrite)
    return out, inspect(midi, max_items=INFO_ITEMS)


def _contents(info: MidiInfo) -> str:
    tracks = sum(1 for t in info.tracks if t.note_count)
    bpm = info.tempo_map[0]["bpm"] if info.tempo_map else 120.0
    return (
        f"{info.note_count} notes on {tracks} track(s), {info.length_beats:g} beats "
        f"({info.length_s:.1f} s) at {bpm:g} BPM"
    )


def _title_name(title: str, fallback: str) -> str:
    """A file stem from a piece's title: 'Night Drive!' → 'night-drive'."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or fallback


def _render(run: Run, midi: mido.MidiFile, soundfont: str | None, **options: Any) -> Rendering:
    from ..engines.fluidsynth import render

    font = run.path(soundfont, "soundfont") if soundfont else None
    return render(midi, soundfont=font, progress=run.progress, cancel=run.cancel, **options)


# -- tools -------------------------------------------------------------------------------------


@tool
async def midi_compose(
    ctx: Context,
    spec: Annotated[CompositionSpec, Field(description="The piece: tempo, signatures and tracks.")],
    output: MidiOutputArg = None,
    overwrite: OverwriteArg = False,
) -> Annotated[CallToolResult, MidiFileResult]:
    def work(run: Run) -> Reply:
        from ..ops.midi import compose

        name = _title_name(spec.title, "composition") + ".mid"
        out, info = _write_midi(run, compose(spec), output, name, overwrite)
        summary = f"Wrote {out.path}: {_contents(info)}."
        return Reply(result=MidiFileResult(output=out, info=info), summary=summary)

    return await execute(ctx, work)


@tool
async def midi_inspect(
    ctx: Context,
    input: MidiInputArg,
    max_items: Annotated[
        int, Field(ge=1, le=1000, description="Longest list returned (tempo changes, tracks…).")
    ] = 100,
) -> Annotated[CallToolResult, InspectResult]:
    def work(run: Run) -> Reply:
        from ..ops.midi import inspect

        info = inspect(_read_midi(run, input), max_items=max_items)
        signature = info.time_signatures[0] if info.time_signatures else None
        meter = f", {signature['numerator']}/{signature['denominator']}" if signature else ""
        summary = f"{input}: {_contents(info)}{meter}, pitches {info.pitch_min}–{info.pitch_max}."
        return Reply(result=InspectResult(path=input, info=info), summary=summary)

    return await execute(ctx, work)


@tool
async def midi_transform(
    ctx: Context,
    input: MidiInputArg,
    transpose: Annotated[
        int, Field(ge=-48, le=48, description="Semitones up (+) or down (-); drums never move.")
    ] = 0,
    tempo_bpm: Annotated[
        float | None,
        Field(ge=20, le=400, description="Replace the whole tempo map with this one tempo."),
    ] = None,
    tempo_scale: Annotated[
        float | None,
        Field(ge=0.05, le=20, description="Multiply every tempo: 2 = twice as fast, 0.5 = half."),
    ] = None,
    keep_channels: Annotated[
        Channels | None, Field(description="Keep only these channels (0–15; 9 = drums).")
    ] = None,
    drop_channels: Annotated[Channels | None, Field(description="Remove these channels.")] = None,
    quantize_grid: Annotated[
        float | None,
        Field(
            ge=1 / 64,
            le=16,
            description="Snap note onsets to this grid in beats: 0.25 sixteenths, 0.5 eighths, "
            "1/3 eighth-note triplets, 1 quarters. Note lengths are kept.",
        ),
    ] = None,
    quantize_strength: Annotated[
        float,
        Field(ge=0, le=1, description="How far each onset moves to the grid (1 = all the way)."),
    ] = 1.0,
    swing: Annotated[
        float,
        Field(
            ge=0,
            le=0.75,
            description="With quantize_grid: delay every second grid point by this fraction of a "
            "grid step (0.33 ≈ triplet shuffle).",
        ),
    ] = 0.0,
    velocity_scale: Annotated[
        float, Field(gt=0, le=4, description="Multiply note velocities (clamped to 1–127).")
    ] = 1.0,
    output: MidiOutputArg = None,
    overwrite: OverwriteArg = False,
) -> Annotated[CallToolResult, MidiFileResult]:
    def work(run: Run) -> Reply:
        from ..ops.midi import transform

        changed = transform(
            _read_midi(run, input),
            transpose=transpose,
            tempo_bpm=tempo_bpm,
            tempo_scale=tempo_scale,
            keep_channels=keep_channels,
            drop_channels=drop_channels,
            quantize_grid=quantize_grid,
            quantize_strength=quantize_strength,
            swing=swing,
            velocity_scale=velocity_scale,
        )
        out, info = _write_midi(
            run, changed, output, derived(input, "transformed", "mid"), overwrite
        )
        summary = f"Wrote {out.path}: {_contents(info)}."
        return Reply(result=MidiFileResult(output=out, info=info), summary=summary)

    return await execute(ctx, work)


@tool
async def midi_humanize(
    ctx: Context,
    input: MidiInputArg,
    timing_ms: Annotated[
        float, Field(ge=0, le=200, description="Each note moves by a random time within ± this.")
    ] = 10.0,
    velocity_pct: Annotated[
        float, Field(ge=0, le=100, description="Each velocity changes by a random ± this percent.")
    ] = 10.0,
    seed: Annotated[
        int, Field(ge=0, le=2**32 - 1, description="Random seed: the same seed gives the same result.")
    ] = 0,
    output: MidiOutputArg = None,
    overwrite: OverwriteArg = False,
) -> Annotated[CallToolResult, MidiFileResult]:
    def work(run: Run) -> Reply:
        from ..ops.midi import humanize

        loose = humanize(
            _read_midi(run, input), timing_ms=timing_ms, velocity_pct=velocity_pct, seed=seed
        )
        out, info = _write_midi(run, loose, output, derived(input, "humanized", "mid"), overwrite)
        summary = (
            f"Wrote {out.path}: {info.note_count} notes moved within ±{timing_ms:g} ms, "
            f"velocities within ±{velocity_pct:g} % (seed {seed})."
        )
        return Reply(result=MidiFileResult(output=out, info=info), summary=summary)

    return await execute(ctx, work)


@tool
async def drum_pattern(
    ctx: Context,
    spec: Annotated[DrumPatternSpec, Field(description="The loop: grid, bars, swing and voices.")],
    output: MidiOutputArg = None,
    overwrite: OverwriteArg = False,
) -> Annotated[CallToolResult, MidiFileResult]:
    def work(run: Run) -> Reply:
        from ..ops.midi import drum_pattern as pattern

        out, info = _write_midi(run, pattern(spec), output, "drums.mid", overwrite)
        summary = f"Wrote {out.path}: {_contents(info)}, on the drum channel (9)."
        return Reply(result=MidiFileResult(output=out, info=info), summary=summary)

    return await execute(ctx, work)


@tool
async def chords_to_midi(
    ctx: Context,
    progression: Annotated[
        str | None,
        Field(
            description="Chord symbols separated by spaces, '|' between bars optional: "
            "'C Am F G7 | Dm7 G7 C'. Qualities: m, 7, maj7, m7, dim, dim7, m7b5, aug, sus2, sus4, "
            "add9, 6, 9 (and more); slash bass 'C/E'; 'G7:2' sets one chord's length in beats; "
            "'N.C.' is a rest. Give this or an audio input."
        ),
    ] = None,
    input: InputArg = None,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
    beats_per_chord: Annotated[
        float, Field(gt=0, le=64, description="Length of each chord in beats.")
    ] = 4.0,
    voicing: Annotated[
        Voicing,
        Field(
            description="close: stacked; open: every second voice up an octave (spread); "
            "drop2: second-highest voice down an octave (guitar/jazz)."
        ),
    ] = "close",
    bass: Annotated[
        bool, Field(description="Add a bass track playing the roots (or slash basses).")
    ] = True,
    octave: Annotated[
        int, Field(ge=1, le=7, description="Octave of the chord roots (C4 = 60).")
    ] = 4,
    program: Annotated[
        int, Field(ge=0, le=127, description="GM program of the chords (0 piano, 48 strings).")
    ] = 0,
    bass_program: Annotated[
        int, Field(ge=0, le=127, description="GM program of the bass (33 electric bass).")
    ] = 33,
    tempo_bpm: Annotated[
        float | None,
        Field(
            ge=20,
            le=400,
            description="Tempo of the file. Default 120, or for audio input the detected tempo.",
        ),
    ] = None,
    time_signature: Annotated[
        str, Field(pattern=r"^[0-9]{1,2}/(1|2|4|8|16|32)$", description="E.g. '4/4', '3/4'.")
    ] = "4/4",
    velocity: Annotated[int, Field(ge=1, le=127, description="Velocity of every note.")] = 80,
    max_chords: Annotated[
        int, Field(ge=0, le=2000, description="Most chords listed in the result.")
    ] = 100,
    output: MidiOutputArg = None,
    overwrite: OverwriteArg = False,
) -> Annotated[CallToolResult, ChordsResult]:
    if (progression is None) == (input is None and input_base64 is None):
        raise ToolError("give either a progression ('C Am F G7') or an audio input, not both")

    def work(run: Run) -> Reply:
        from ..ops import midi as M

        key, name = None, "chords.mid"
        if progression is not None:
            bpm = tempo_bpm or 120.0
            events = M.parse_progression(progression, beats_per_chord)
        else:
            audio = run.load(input, input_base64, input_format)
            heard = M.chords_from_audio(audio.samples, audio.sr, tempo_bpm=tempo_bpm)
            events, bpm, key, name = (
                heard.events,
                heard.tempo_bpm,
                heard.key,
                derived(audio.name, "chords", "mid"),
            )
        midi = M.chords_to_midi(
            events, voicing=voicing, bass=bass, octave=octave, program=program,
            bass_program=bass_program, tempo_bpm=bpm, time_signature=time_signature,
            velocity=velocity,
        )  # fmt: skip
        out, info = _write_midi(run, midi, output, name, overwrite)
        played = [e for e in events if e.chord is not None]
        chords = [
            ChordEntry(
                start_beat=round(e.start, 3),
                beats=round(e.beats, 3),
                symbol=e.chord.symbol,
                notes=[M.note_name(p) for p in M.voice_chord(e.chord, voicing, octave, not bass)],
            )
            for e in played[:max_chords]
        ]
        result = ChordsResult(
            output=out, info=info, chords=chords, chords_truncated=len(played) > max_chords,
            tempo_bpm=bpm, key=key,
        )  # fmt: skip
        preview = " ".join(e.chord.symbol for e in played[:8]) + (" …" if len(played) > 8 else "")
        summary = f"Wrote {out.path}: {len(played)} chords ({preview}), {_contents(info)}."
        return Reply(result=result, summary=summary)

    return await execute(ctx, work)


@tool
async def audio_to_midi(
    ctx: Context,
    input: InputArg = None,
    onset_threshold: Annotated[
        float,
        Field(
            gt=0,
            lt=1,
            description="How sure the model must be that a note starts; lower finds more notes.",
        ),
    ] = 0.7,
    frame_threshold: Annotated[
        float,
        Field(
            gt=0,
            lt=1,
            description="How sure it must be that a note still sounds; lower gives longer notes.",
        ),
    ] = 0.3,
    minimum_note_length_ms: Annotated[
        float, Field(ge=10, le=2000, description="Shorter notes are dropped.")
    ] = 127.7,
    minimum_frequency: Annotated[
        float | None,
        Field(
            ge=20, le=8000, description="Drop notes below this frequency (Hz), e.g. 80 for bass."
        ),
    ] = None,
    maximum_frequency: Annotated[
        float | None, Field(ge=20, le=8000, description="Drop notes above this frequency (Hz).")
    ] = None,
    midi_tempo: Annotated[
        float,
        Field(ge=20, le=400, description="Tempo written into the file (note times stay exact)."),
    ] = 120.0,
    max_notes: Annotated[
        int, Field(ge=0, le=5000, description="Most notes listed in the result.")
    ] = 50,
    output: MidiOutputArg = None,
    overwrite: OverwriteArg = False,
    background: BackgroundArg = False,
    input_base64: InputBase64Arg = None,
    input_format: InputFormatArg = None,
) -> Annotated[CallToolResult, AudioToMidiResult]:
    def work(run: Run) -> Reply:
        from ..engines.basic_pitch import transcribe

        audio = run.load(input, input_base64, input_format)
        heard = transcribe(
            audio.samples, audio.sr, onset_threshold=onset_threshold,
            frame_threshold=frame_threshold, minimum_note_length_ms=minimum_note_length_ms,
            minimum_frequency=minimum_frequency, maximum_frequency=maximum_frequency,
            midi_tempo=midi_tempo, max_notes=max_notes, progress=run.progress, cancel=run.cancel,
        )  # fmt: skip
        out, _ = _write_midi(
            run, heard.midi, output, derived(audio.name, "notes", "mid"), overwrite
        )
        result = AudioToMidiResult(
            output=out, duration_s=heard.duration_s, note_count=heard.note_count,
            pitch_min=heard.pitch_min, pitch_max=heard.pitch_max, notes=heard.notes,
            notes_truncated=heard.notes_truncated,
        )  # fmt: skip
        span = f", {heard.pitch_min}–{heard.pitch_max}" if heard.note_count else ""
        summary = f"Wrote {out.path}: {heard.note_count} notes{span} from {heard.duration_s:.1f} s."
        return Reply(result=result, summary=summary)

    return await execute(ctx, work, background=background, result_type=AudioToMidiResult)


@tool
async def render_midi(
    ctx: Context,
    input: MidiInputArg,
    soundfont: SoundFontArg = None,
    sample_rate: SampleRateArg = 44100,
    gain_db: GainArg = 0.0,
    reverb: ReverbArg = True,
    chorus: ChorusArg = True,
    output: OutputArg = None,
    format: FormatArg = None,
    bit_depth: BitDepthArg = None,
    bitrate_kbps: BitrateArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    background: BackgroundArg = False,
) -> Annotated[CallToolResult, RenderResult]:
    def work(run: Run) -> Reply:
        rendering = _render(
            run, _read_midi(run, input), soundfont, sample_rate=sample_rate, gain_db=gain_db,
            reverb=reverb, chorus=chorus,
        )  # fmt: skip
        out = run.save_audio(
            rendering.audio, rendering.sample_rate, output=output, format=format,
            default=derived(input, "", "wav"), overwrite=overwrite, bit_depth=bit_depth,
            bitrate_kbps=bitrate_kbps,
        )  # fmt: skip
        result = RenderResult(
            output=out, soundfont=rendering.soundfont, peak_dbfs=rendering.peak_dbfs,
            limited_db=rendering.limited_db,
        )  # fmt: skip
        summary = f"Wrote {out.path} ({out.duration_s:.1f} s) with {rendering.soundfont}" + _level(
            rendering
        )
        return Reply(result=result, summary=summary, inline_audio=[run.written[-1]])

    return await execute(ctx, work, inline=inline, background=background, result_type=RenderResult)


@tool
async def generate_music(
    ctx: Context,
    spec: Annotated[CompositionSpec, Field(description="The piece: tempo, signatures and tracks.")],
    target_lufs: Annotated[
        float | None,
        Field(
            ge=-40,
            le=-5,
            description="Normalize the audio to this integrated loudness (-14 for streaming); "
            "omit to keep the synth's level.",
        ),
    ] = None,
    soundfont: SoundFontArg = None,
    sample_rate: SampleRateArg = 44100,
    gain_db: GainArg = 0.0,
    reverb: ReverbArg = True,
    chorus: ChorusArg = True,
    midi_output: MidiOutputArg = None,
    output: OutputArg = None,
    format: FormatArg = None,
    bit_depth: BitDepthArg = None,
    bitrate_kbps: BitrateArg = None,
    overwrite: OverwriteArg = False,
    inline: InlineArg = False,
    background: BackgroundArg = False,
) -> Annotated[CallToolResult, GenerateResult]:
    def work(run: Run) -> Reply:
        from ..ops.midi import compose

        midi = compose(spec)
        name = _title_name(spec.title, "composition")
        midi_out, info = _write_midi(run, midi, midi_output, name + ".mid", overwrite)
        rendering = _render(
            run, midi, soundfont, sample_rate=sample_rate, gain_db=gain_db, reverb=reverb,
            chorus=chorus,
        )  # fmt: skip
        audio, lufs = rendering.audio, None
        if target_lufs is not None:
            from ..ops.loudness import normalize

            audio, report = normalize(
                audio, rendering.sample_rate, target_lufs, -1.0, progress=run.progress,
                cancel=run.cancel,
            )  # fmt: skip
            lufs = report.output_lufs
        out = run.save_audio(
            audio, rendering.sample_rate, output=output, default=name + ".wav", format=format,
            overwrite=overwrite, bit_depth=bit_depth, bitrate_kbps=bitrate_kbps,
        )  # fmt: skip
        result = GenerateResult(
            output=out, soundfont=rendering.soundfont, peak_dbfs=rendering.peak_dbfs,
            limited_db=rendering.limited_db, midi=midi_out, info=info, output_lufs=lufs,
        )  # fmt: skip
        level = f" at {lufs:.1f} LUFS" if lufs is not None else _level(rendering)
        summary = f"Wrote {midi_out.path} ({_contents(info)}) and {out.path}{level}"
        return Reply(result=result, summary=summary, inline_audio=[run.written[-1]])

    return await execute(
        ctx, work, inline=inline, background=background, result_type=GenerateResult
    )


def _level(rendering: Rendering) -> str:
    if rendering.limited_db:
        return f", turned down {-rendering.limited_db:.1f} dB to peak at -1 dBFS."
    peak = "silent" if rendering.peak_dbfs is None else f"peak {rendering.peak_dbfs:.1f} dBFS"
    return f", {peak}."
