"""MIDI as data: typed composition specs, compose, inspect, transform, humanize, drum patterns
and chord progressions.

The spec models are the parameter types an LLM fills in, so their field descriptions are written
for it. Everything after composition works on `mido.MidiFile` objects, so files from anywhere can
be inspected and edited with the same functions.
"""

from __future__ import annotations

import bisect
import io
import math
import re
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

import mido
import numpy as np
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from ..errors import ToolError

DRUM_CHANNEL = 9
"""General MIDI plays drums on channel 9 (zero-based; "channel 10" on hardware)."""

# ---------------------------------------------------------------------------------------------
# Pitch names

_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTALS = {"#": 1, "♯": 1, "b": -1, "♭": -1}
_SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_NOTE_NAME = re.compile(r"^([A-Ga-g])([#b♯♭]{0,2})(-?[0-9]{1,2})$")


def pitch_class(name: str) -> int:
    """0–11 for a letter with optional accidentals: "C" → 0, "F#" → 6, "Bb" → 10."""
    return (_LETTERS[name[0].upper()] + sum(_ACCIDENTALS[a] for a in name[1:])) % 12


def note_number(value: int | str) -> int:
    """MIDI note number of 60, "60", "C4", "C#4" or "Bb3" (C4 = 60); ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{value!r} is not a pitch; use 0–127 or a name like 'C#4' (C4 = 60)")
    if isinstance(value, str):
        text = value.strip()
        match = _NOTE_NAME.match(text)
        if match:
            letter, accidentals, octave = match.groups()
            base = 12 * (int(octave) + 1) + _LETTERS[letter.upper()]
            value = base + sum(_ACCIDENTALS[a] for a in accidentals)
        elif text.lstrip("-").isdigit():
            value = int(text)
        else:
            raise ValueError(
                f"{value!r} is not a pitch; use 0–127 or a name like 'C#4' or 'Bb3' (C4 = 60)"
            )
    if not 0 <= value <= 127:
        raise ValueError(f"{value} is outside 0–127")
    return value


def note_name(number: int) -> str:
    """Sharp-spelled name of a MIDI note number: 60 → "C4", 61 → "C#4"."""
    return f"{_SHARP_NAMES[number % 12]}{number // 12 - 1}"


Pitch = Annotated[
    int,
    BeforeValidator(note_number),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": 127},
                {"type": "string", "pattern": _NOTE_NAME.pattern},
            ]
        }
    ),
]

# ---------------------------------------------------------------------------------------------
# Spec models

KeySignature = Literal[
    "C", "G", "D", "A", "E", "B", "F#", "C#", "F", "Bb", "Eb", "Ab", "Db", "Gb", "Cb",
    "Am", "Em", "Bm", "F#m", "C#m", "G#m", "D#m", "A#m",
    "Dm", "Gm", "Cm", "Fm", "Bbm", "Ebm", "Abm",
]  # fmt: skip

_TIME_SIGNATURE = re.compile(r"^([0-9]{1,2})/(1|2|4|8|16|32)$")

TimeSignature = Annotated[
    str,
    Field(
        pattern=_TIME_SIGNATURE.pattern,
        description="Time signature as 'beats/unit', e.g. '4/4', '3/4', '6/8', '7/8'.",
    ),
]
MAX_BEATS = 100_000  # 14 hours at 120 bpm: a bound that keeps tick arithmetic finite
Beat = Annotated[
    float,
    Field(ge=0, le=MAX_BEATS,
          description="Position in beats (quarter notes) from the start; 0 = first beat."),
]
Bpm = Annotated[float, Field(ge=20, le=400, description="Tempo in quarter-note beats per minute.")]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoteSpec(_Spec):
    """One note."""

    pitch: Pitch = Field(
        description="MIDI note 0–127 or a name like 'C4' (= 60), 'F#3', 'Bb5'. On a drum track the "
        "GM drum sound: 36 kick, 38 snare, 42 closed hat, 46 open hat, 49 crash, 51 ride."
    )
    start: Beat = Field(description="Onset in beats from the start (0 = first beat).")
    duration: float = Field(
        gt=0, le=MAX_BEATS, description="Length in beats: 1 quarter, 0.5 eighth, 4 whole."
    )
    velocity: int = Field(
        90, ge=1, le=127, description="Loudness 1–127: 40 soft, 90 normal, 120 loud."
    )


class ControlChangeSpec(_Spec):
    """A controller event (CC) on the track's channel."""

    beat: Beat
    controller: int = Field(
        ge=0,
        le=127,
        description="Controller: 1 modulation, 7 volume, 10 pan, 11 expression, 64 sustain pedal "
        "(value ≥ 64 = down), 91 reverb send, 93 chorus send.",
    )
    value: int = Field(ge=0, le=127, description="Controller value 0–127.")


class PitchBendSpec(_Spec):
    """A pitch-bend event on the track's channel; it holds until the next bend."""

    beat: Beat
    value: int = Field(
        ge=-8192,
        le=8191,
        description="Bend: 0 none, ±8191 the synth's bend range (usually ±2 semitones), "
        "4096 ≈ +1 semitone.",
    )


class TrackSpec(_Spec):
    """One instrument: a program on a channel with its notes."""

    name: str = Field("", max_length=128, description="Track name, e.g. 'Piano' or 'Bass'.")
    program: int = Field(
        0,
        ge=0,
        le=127,
        description="General MIDI program 0–127: 0 piano, 4 electric piano, 24 nylon guitar, "
        "25 steel guitar, 32 acoustic bass, 33 electric bass, 40 violin, 48 strings, 52 choir, "
        "56 trumpet, 65 alto sax, 73 flute, 80 square lead, 88 pad. On a drum track the kit: "
        "0 standard, 8 room, 16 power, 24 electronic, 25 TR-808, 32 jazz, 40 brush.",
    )
    drums: bool = Field(
        False,
        description="Drum track: plays on channel 9 (GM 'channel 10'); pitches pick drum sounds.",
    )
    channel: int | None = Field(
        None,
        ge=0,
        le=15,
        description="MIDI channel 0–15 (9 is drums). Leave empty to take the next free channel.",
    )
    volume: int | None = Field(None, ge=0, le=127, description="Channel volume (CC 7), 0–127.")
    pan: float | None = Field(
        None, ge=-1, le=1, description="Stereo position: -1 left, 0 centre, 1 right (CC 10)."
    )
    notes: list[NoteSpec] = Field(min_length=1, max_length=100_000, description="The notes.")
    controllers: list[ControlChangeSpec] = Field(
        default_factory=list, max_length=100_000, description="Optional controller events."
    )
    pitch_bends: list[PitchBendSpec] = Field(
        default_factory=list, max_length=100_000, description="Optional pitch-bend events."
    )

    @model_validator(mode="after")
    def _drums_on_drum_channel(self) -> TrackSpec:
        if self.drums and self.channel not in (None, DRUM_CHANNEL):
            raise ValueError(
                f"a drum track plays on channel {DRUM_CHANNEL}; leave 'channel' empty "
                "or set drums to false"
            )
        return self


class TempoChangeSpec(_Spec):
    """A tempo change at a beat."""

    beat: Beat
    bpm: Bpm


class CompositionSpec(_Spec):
    """A whole piece: global settings plus one entry per instrument track."""

    title: str = Field("", max_length=256, description="Name stored in the file.")
    tempo_bpm: Bpm = 120.0
    tempo_changes: list[TempoChangeSpec] = Field(
        default_factory=list,
        max_length=10_000,
        description="Tempo map: later tempo changes (the piece starts at tempo_bpm).",
    )
    time_signature: TimeSignature = "4/4"
    key_signature: KeySignature | None = Field(
        None, description="Key signature, e.g. 'C', 'Bb', 'F#m'; minor keys end in 'm'."
    )
    ticks_per_beat: int = Field(
        480, ge=24, le=3840, description="Timing resolution (ticks per quarter note)."
    )
    tracks: list[TrackSpec] = Field(min_length=1, max_length=64, description="The instruments.")

    @field_validator("time_signature")
    @classmethod
    def _numerator_in_range(cls, value: str) -> str:
        numerator = int(value.split("/")[0])
        if not 1 <= numerator <= 32:
            raise ValueError(f"{value}: the number of beats must be 1–32")
        return value


SpecT = TypeVar("SpecT", bound=BaseModel)


def parse_spec(model: type[SpecT], data: Any) -> SpecT:
    """Validate `data` (a dict or a model) as `model`; errors name the exact field:
    "tracks[1].notes[3].pitch: 130 is outside 0–127"."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ToolError(validation_message(err)) from None


def validation_message(err: ValidationError, limit: int = 10) -> str:
    """One line per problem, each starting with the path of the offending field."""
    problems = err.errors(include_url=False)
    lines = [_describe(problem) for problem in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"… and {len(problems) - limit} more problems")
    return "; ".join(lines)


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else repr(value)


def _describe(problem: Any) -> str:
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in problem["loc"])
    path = path.lstrip(".")
    kind, ctx, given = problem["type"], problem.get("ctx", {}), problem.get("input")
    bounds = {
        "greater_than_equal": ("must be ≥", "ge"),
        "less_than_equal": ("must be ≤", "le"),
        "greater_than": ("must be >", "gt"),
        "less_than": ("must be <", "lt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        text = f"{_number(given)} {words} {_number(ctx[key])}"
    elif kind == "too_short":
        text = f"needs at least {ctx['min_length']} entry, got {ctx['actual_length']}"
    elif kind == "value_error":
        text = str(ctx.get("error", problem["msg"]))
    else:
        shown = repr(given)
        text = problem["msg"] + ("" if isinstance(given, dict | list) else f" (got {shown[:60]})")
    return f"{path}: {text}" if path else text


# ---------------------------------------------------------------------------------------------
# Event lists: tracks as (absolute tick, message) pairs


def absolute_events(track: Iterable[mido.Message | mido.MetaMessage]) -> list[list[Any]]:
    """[[tick, message], …] without end_of_track (re-added by `_to_track`)."""
    events, tick = [], 0
    for msg in track:
        tick += msg.time
        if msg.type != "end_of_track":
            events.append([tick, msg])
    return events


def _is_note_on(msg: mido.Message) -> bool:
    return msg.type == "note_on" and msg.velocity > 0


def _is_note_off(msg: mido.Message) -> bool:
    return msg.type == "note_off" or (msg.type == "note_on" and msg.velocity == 0)


def _order(msg: mido.Message | mido.MetaMessage) -> int:
    """Within one tick: settings first, then note-offs, then note-ons (so a repeated note
    is released before it is struck again)."""
    return 2 if _is_note_on(msg) else 1 if _is_note_off(msg) else 0


def _to_track(events: Iterable[list[Any] | tuple[int, Any]], end_tick: int = 0) -> mido.MidiTrack:
    """A delta-time track from absolute events, ending at the last event or `end_tick`."""
    track, now = mido.MidiTrack(), 0
    for tick, msg in sorted(events, key=lambda e: (e[0], _order(e[1]))):
        tick = max(int(tick), 0)
        track.append(msg.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=max(end_tick - now, 0)))
    return track


def _note_pairs(events: list[list[Any]]) -> list[tuple[int, int | None]]:
    """(index of note-on, index of its note-off or None) for every note, in onset order;
    overlapping notes of one key are matched first-in first-out."""
    held: dict[tuple[int, int], deque[int]] = defaultdict(deque)
    pairs: list[list[Any]] = []
    for index, (_, msg) in enumerate(events):
        if _is_note_on(msg):
            held[(msg.channel, msg.note)].append(len(pairs))
            pairs.append([index, None])
        elif _is_note_off(msg) and held[(msg.channel, msg.note)]:
            pairs[held[(msg.channel, msg.note)].popleft()][1] = index
    return [(on, off) for on, off in pairs]


class TempoMap:
    """Ticks ↔ seconds for a file, honouring every set_tempo event (in any track)."""

    def __init__(self, midi: mido.MidiFile) -> None:
        changes = sorted(
            (tick, msg.tempo)
            for track in midi.tracks
            for tick, msg in absolute_events(track)
            if msg.type == "set_tempo"
        )
        if not changes or changes[0][0] > 0:
            changes.insert(0, (0, 500_000))
        self.ticks_per_beat = midi.ticks_per_beat
        self.ticks = [tick for tick, _ in changes]
        self.tempos = [tempo for _, tempo in changes]
        self.starts = [0.0]
        for i in range(1, len(changes)):
            self.starts.append(self._span(i - 1, self.ticks[i]))

    def _span(self, i: int, tick: float) -> float:
        return self.starts[i] + (tick - self.ticks[i]) * self.tempos[i] / 1e6 / self.ticks_per_beat

    def seconds(self, tick: float) -> float:
        i = max(bisect.bisect_right(self.ticks, tick) - 1, 0)
        return self._span(i, tick)

    def tick(self, seconds: float) -> float:
        i = max(bisect.bisect_right(self.starts, seconds) - 1, 0)
        return (
            self.ticks[i] + (seconds - self.starts[i]) * 1e6 * self.ticks_per_beat / self.tempos[i]
        )

    def changes(self) -> Iterator[tuple[int, float, float]]:
        """(tick, bpm, seconds) per tempo segment."""
        for tick, tempo, start in zip(self.ticks, self.tempos, self.starts, strict=True):
            yield tick, mido.tempo2bpm(tempo), start


# ---------------------------------------------------------------------------------------------
# Compose


def compose(spec: CompositionSpec) -> mido.MidiFile:
    """A type-1 file: a conductor track (title, tempo map, signatures) then one track per spec
    track, each with its name, program, volume/pan, notes, controllers and pitch bends."""
    tpb = spec.ticks_per_beat
    numerator, denominator = (int(x) for x in spec.time_signature.split("/"))
    conductor: list[tuple[int, Any]] = [
        *_name_event(spec.title),
        (0, mido.MetaMessage("time_signature", numerator=numerator, denominator=denominator)),
        (0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(spec.tempo_bpm))),
    ]
    if spec.key_signature:
        conductor.append((0, mido.MetaMessage("key_signature", key=spec.key_signature)))
    conductor += [
        (_ticks(change.beat, tpb), mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(change.bpm)))
        for change in spec.tempo_changes
    ]
    midi = mido.MidiFile(type=1, ticks_per_beat=tpb)
    midi.tracks.append(_to_track(conductor))
    for track, channel in zip(spec.tracks, _assign_channels(spec.tracks), strict=True):
        midi.tracks.append(_to_track(_track_events(track, channel, tpb)))
    return midi


def _ticks(beats: float, ticks_per_beat: int) -> int:
    return round(beats * ticks_per_beat)


def _name_event(name: str) -> list[tuple[int, Any]]:
    return [(0, mido.MetaMessage("track_name", name=_as_midi_text(name)))] if name else []


def _as_midi_text(text: str) -> str:
    """`text` as its UTF-8 bytes seen through Latin-1, the charset mido writes: any name is
    stored (as UTF-8, what most MIDI software reads), none raises on save."""
    return text.encode("utf-8").decode("latin-1")


def _from_midi_text(text: str) -> str:
    """A text event as mido read it (Latin-1): UTF-8 when its bytes are UTF-8, else as read."""
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return text


def _assign_channels(tracks: list[TrackSpec]) -> list[int]:
    taken = {t.channel for t in tracks if t.channel is not None}
    free = iter([c for c in range(16) if c != DRUM_CHANNEL and c not in taken])
    channels = []
    for i, track in enumerate(tracks):
        channel = DRUM_CHANNEL if track.drums else track.channel
        if channel is None:
            channel = next(free, None)
            if channel is None:
                raise ToolError(
                    f"tracks[{i}]: all 15 melodic channels are taken; give tracks that may share "
                    "a channel the same 'channel'"
                )
        channels.append(channel)
    return channels


def _track_events(track: TrackSpec, channel: int, tpb: int) -> list[tuple[int, Any]]:
    events: list[tuple[int, Any]] = [
        *_name_event(track.name),
        (0, mido.Message("program_change", channel=channel, program=track.program)),
    ]
    if track.volume is not None:
        events.append(
            (0, mido.Message("control_change", channel=channel, control=7, value=track.volume))
        )
    if track.pan is not None:
        pan = min(127, max(0, round(64 + 63.5 * track.pan)))
        events.append((0, mido.Message("control_change", channel=channel, control=10, value=pan)))
    for cc in track.controllers:
        msg = mido.Message("control_change", channel=channel, control=cc.controller, value=cc.value)
        events.append((_ticks(cc.beat, tpb), msg))
    for bend in track.pitch_bends:
        events.append(
            (_ticks(bend.beat, tpb), mido.Message("pitchwheel", channel=channel, pitch=bend.value))
        )
    for note in track.notes:
        on = _ticks(note.start, tpb)
        off = max(_ticks(note.start + note.duration, tpb), on + 1)
        events.append(
            (on, mido.Message("note_on", channel=channel, note=note.pitch, velocity=note.velocity))
        )
        events.append((off, mido.Message("note_off", channel=channel, note=note.pitch, velocity=0)))
    return events


def midi_to_bytes(midi: mido.MidiFile) -> bytes:
    """The Standard MIDI File bytes of `midi`."""
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def midi_from_bytes(data: bytes) -> mido.MidiFile:
    """Parse Standard MIDI File bytes; anything else is a ToolError."""
    if not data.startswith(b"MThd"):
        raise ToolError("not a Standard MIDI File (no 'MThd' header); pass a .mid/.midi file")
    try:
        return mido.MidiFile(file=io.BytesIO(data))
    except (OSError, EOFError, ValueError, KeyError, IndexError) as err:
        detail = str(err) or "it ends too early"
        raise ToolError(f"the MIDI file is damaged ({detail}); export it again") from None


# ---------------------------------------------------------------------------------------------
# Inspect


@dataclass(frozen=True)
class TrackInfo:
    index: int
    name: str
    channels: list[int]
    programs: list[dict[str, Any]]
    note_count: int
    pitch_min: int | None
    pitch_max: int | None
    drums: bool


@dataclass(frozen=True)
class MidiInfo:
    format: int
    ticks_per_beat: int
    length_beats: float
    length_s: float
    note_count: int
    pitch_min: int | None
    pitch_max: int | None
    tempo_map: list[dict[str, float]]
    time_signatures: list[dict[str, Any]]
    key_signatures: list[dict[str, Any]]
    tracks: list[TrackInfo]
    truncated: bool
    """True when a list was cut to `max_items`."""


def inspect(midi: mido.MidiFile, max_items: int = 100) -> MidiInfo:
    """Tempo map, signatures, per-track notes/pitch range/programs and the length of a file.
    Each list holds at most `max_items` entries (`truncated` says when one was cut)."""
    tempo = TempoMap(midi)
    tpb = midi.ticks_per_beat
    capped = _Capped(max_items)
    tracks, signatures, keys = [], [], []
    for index, track in enumerate(midi.tracks):
        events = absolute_events(track)
        pitches = [msg.note for _, msg in events if _is_note_on(msg)]
        channels = sorted({msg.channel for _, msg in events if hasattr(msg, "channel")})
        programs = [
            _program_info(msg.channel, msg.program, _beats(tick, tpb))
            for tick, msg in events
            if msg.type == "program_change"
        ]
        tracks.append(
            TrackInfo(
                index=index,
                name=_from_midi_text(next((msg.name for _, msg in events if msg.type == "track_name"), "")),
                channels=channels,
                programs=capped(programs),
                note_count=len(pitches),
                pitch_min=min(pitches, default=None),
                pitch_max=max(pitches, default=None),
                drums=DRUM_CHANNEL in channels,
            )
        )
        for tick, msg in events:
            if msg.type == "time_signature":
                signature = {"numerator": msg.numerator, "denominator": msg.denominator}
                signatures.append({"beat": _beats(tick, tpb), **signature})
            elif msg.type == "key_signature":
                keys.append({"beat": _beats(tick, tpb), "key": msg.key})
    end = max((sum(msg.time for msg in track) for track in midi.tracks), default=0)
    melodic = [t for t in tracks if t.note_count and not t.drums]
    return MidiInfo(
        format=midi.type,
        ticks_per_beat=tpb,
        length_beats=_beats(end, tpb),
        length_s=round(tempo.seconds(end), 4),
        note_count=sum(t.note_count for t in tracks),
        pitch_min=min((t.pitch_min for t in melodic), default=None),
        pitch_max=max((t.pitch_max for t in melodic), default=None),
        tempo_map=capped(
            [
                {"beat": _beats(tick, tpb), "bpm": round(bpm, 3), "time_s": round(start, 4)}
                for tick, bpm, start in tempo.changes()
            ]
        ),
        time_signatures=capped(sorted(signatures, key=lambda s: s["beat"])),
        key_signatures=capped(sorted(keys, key=lambda k: k["beat"])),
        tracks=capped(tracks),
        truncated=capped.cut,
    )


class _Capped:
    """Cuts lists to a length and remembers whether it had to."""

    def __init__(self, limit: int) -> None:
        self.limit = max(int(limit), 1)
        self.cut = False

    def __call__(self, items: list[Any]) -> list[Any]:
        self.cut = self.cut or len(items) > self.limit
        return items[: self.limit]


def _beats(tick: int, tpb: int) -> float:
    return round(tick / tpb, 4)


def _program_info(channel: int, program: int, beat: float) -> dict[str, Any]:
    from pretty_midi import program_to_instrument_name  # it loads libfluidsynth: not at start-up

    name = f"drum kit {program}" if channel == DRUM_CHANNEL else program_to_instrument_name(program)
    return {"beat": beat, "channel": channel, "program": program, "name": name}


# ---------------------------------------------------------------------------------------------
# Transform & humanize


def transform(
    midi: mido.MidiFile,
    *,
    transpose: int = 0,
    tempo_bpm: float | None = None,
    tempo_scale: float | None = None,
    keep_channels: Iterable[int] | None = None,
    drop_channels: Iterable[int] | None = None,
    quantize_grid: float | None = None,
    quantize_strength: float = 1.0,
    swing: float = 0.0,
    velocity_scale: float = 1.0,
) -> mido.MidiFile:
    """A new file with the requested edits; the input is not modified.

    transpose: semitones for every channel but drums (9). tempo_bpm replaces the tempo map with
    one tempo; tempo_scale multiplies every tempo (2 = twice as fast). keep/drop_channels filter
    channel messages. quantize_grid (beats: 0.25 = sixteenths) moves each note (onset, keeping
    its length) `quantize_strength` of the way to the nearest grid point; `swing` (0–0.75 of a
    grid step) delays every second grid point. velocity_scale multiplies note velocities.
    """
    _check_transform(
        tempo_bpm, tempo_scale, quantize_grid, quantize_strength, swing, velocity_scale
    )
    if not midi.tracks:
        raise ToolError("the MIDI file has no tracks")
    tracks = [absolute_events(track) for track in midi.tracks]
    if tempo_bpm is not None or tempo_scale is not None:
        _retime(tracks, tempo_bpm, tempo_scale)
    kept = _channel_filter(keep_channels, drop_channels)
    tracks = [
        [e for e in events if not hasattr(e[1], "channel") or kept(e[1].channel)]
        for events in tracks
    ]
    if transpose:
        _transpose(tracks, transpose)
    for events in tracks:
        if velocity_scale != 1.0:
            for event in events:
                if _is_note_on(event[1]):
                    velocity = _clamp_velocity(event[1].velocity * velocity_scale)
                    event[1] = event[1].copy(velocity=velocity)
        if quantize_grid:
            grid = quantize_grid * midi.ticks_per_beat
            for on, off in _note_pairs(events):
                target = _nearest_grid_point(events[on][0], grid, swing * grid)
                _shift_note(events, on, off, round((target - events[on][0]) * quantize_strength))
    return _rebuild(midi, tracks)


def _check_transform(
    tempo_bpm: float | None,
    tempo_scale: float | None,
    quantize_grid: float | None,
    quantize_strength: float,
    swing: float,
    velocity_scale: float,
) -> None:
    if tempo_bpm is not None and tempo_scale is not None:
        raise ToolError("give tempo_bpm or tempo_scale, not both")
    if tempo_bpm is not None and not 20 <= tempo_bpm <= 400:
        raise ToolError(f"tempo_bpm {tempo_bpm} is outside 20–400")
    if tempo_scale is not None and not 0.05 <= tempo_scale <= 20:
        raise ToolError(f"tempo_scale {tempo_scale} is outside 0.05–20")
    if quantize_grid is not None and not 1 / 64 <= quantize_grid <= 16:
        raise ToolError(
            f"quantize_grid {quantize_grid} beats is outside 1/64–16 (0.25 = sixteenths)"
        )
    if not 0 <= quantize_strength <= 1:
        raise ToolError(f"quantize_strength {quantize_strength} is outside 0–1")
    if not 0 <= swing <= 0.75:
        raise ToolError(f"swing {swing} is outside 0–0.75 (0.33 ≈ triplet shuffle)")
    if swing and not quantize_grid:
        raise ToolError("swing needs quantize_grid (the grid whose off-beats it delays)")
    if not 0 < velocity_scale <= 4:
        raise ToolError(f"velocity_scale {velocity_scale} is outside 0–4")


def _retime(
    tracks: list[list[list[Any]]], tempo_bpm: float | None, tempo_scale: float | None
) -> None:
    tempos = [e for events in tracks for e in events if e[1].type == "set_tempo"]
    if tempo_bpm is not None or not tempos:
        for events in tracks:
            events[:] = [e for e in events if e[1].type != "set_tempo"]
        bpm = tempo_bpm if tempo_bpm is not None else 120.0 * tempo_scale
        tracks[0].insert(0, [0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))])
        return
    for event in tempos:
        event[1] = event[1].copy(tempo=min(round(event[1].tempo / tempo_scale), 0xFFFFFF))


def _channel_filter(
    keep: Iterable[int] | None, drop: Iterable[int] | None
) -> Callable[[int], bool]:
    keep_set = None if keep is None else set(keep)
    drop_set = set(drop or ())
    for channel in (keep_set or set()) | drop_set:
        if not 0 <= channel <= 15:
            raise ToolError(f"channel {channel} is outside 0–15 (9 is drums)")
    return lambda channel: (keep_set is None or channel in keep_set) and channel not in drop_set


def _transpose(tracks: list[list[list[Any]]], semitones: int) -> None:
    notes = [
        e for events in tracks for e in events if e[1].type in ("note_on", "note_off", "polytouch")
    ]
    pitched = [e for e in notes if e[1].channel != DRUM_CHANNEL]
    outside = [e[1].note for e in pitched if not 0 <= e[1].note + semitones <= 127]
    if outside:
        raise ToolError(
            f"transposing by {semitones:+d} moves notes {note_name(min(outside))}–"
            f"{note_name(max(outside))} outside 0–127; use a smaller interval"
        )
    for event in pitched:
        event[1] = event[1].copy(note=event[1].note + semitones)


def _nearest_grid_point(tick: int, grid: float, swing: float) -> float:
    """The nearest point of a grid whose odd points are delayed by `swing` ticks."""
    k = math.floor(tick / grid)
    points = [j * grid + (swing if j % 2 else 0.0) for j in range(max(k - 1, 0), k + 2)]
    return min(points, key=lambda p: (abs(p - tick), p))


def _shift_note(events: list[list[Any]], on: int, off: int | None, ticks: int) -> None:
    """Move a note by `ticks` (never before 0), keeping its length."""
    ticks = max(ticks, -events[on][0])
    events[on][0] += ticks
    if off is not None:
        events[off][0] += ticks


def _clamp_velocity(value: float) -> int:
    return int(min(127, max(1, round(value))))


def _rebuild(source: mido.MidiFile, tracks: list[list[list[Any]]]) -> mido.MidiFile:
    """A file like `source` with edited events; each track still ends no earlier than its
    original end_of_track (a bar's trailing rest survives)."""
    midi = mido.MidiFile(type=source.type, ticks_per_beat=source.ticks_per_beat)
    ends = [sum(msg.time for msg in track) for track in source.tracks]
    midi.tracks.extend(_to_track(events, end) for events, end in zip(tracks, ends, strict=True))
    return midi


def humanize(
    midi: mido.MidiFile, *, timing_ms: float = 10.0, velocity_pct: float = 10.0, seed: int = 0
) -> mido.MidiFile:
    """A new file whose notes each move by a random time in ±timing_ms (keeping their length)
    and change velocity by a random ±velocity_pct %; the same seed gives the same result."""
    if not 0 <= timing_ms <= 200:
        raise ToolError(f"timing_ms {timing_ms} is outside 0–200")
    if not 0 <= velocity_pct <= 100:
        raise ToolError(f"velocity_pct {velocity_pct} is outside 0–100")
    rng = np.random.default_rng(seed)
    tempo = TempoMap(midi)
    tracks = [absolute_events(track) for track in midi.tracks]
    for events in tracks:
        for on, off in _note_pairs(events):
            jitter_s, gain = rng.uniform(-1, 1, size=2) * (timing_ms / 1000, velocity_pct / 100)
            tick = events[on][0]
            _shift_note(events, on, off, round(tempo.tick(tempo.seconds(tick) + jitter_s) - tick))
            events[on][1] = events[on][1].copy(
                velocity=_clamp_velocity(events[on][1].velocity * (1 + gain))
            )
    return _rebuild(midi, tracks)


# ---------------------------------------------------------------------------------------------
# Drum patterns

DRUM_NOTES: dict[str, int] = {
    "kick": 36, "kick2": 35, "snare": 38, "snare2": 40, "rim": 37, "side_stick": 37, "clap": 39,
    "closed_hat": 42, "pedal_hat": 44, "open_hat": 46, "tom_floor": 41, "tom_low": 45,
    "tom_mid": 47, "tom_high": 50, "crash": 49, "crash2": 57, "ride": 51, "ride_bell": 53,
    "china": 52, "splash": 55, "tambourine": 54, "cowbell": 56, "vibraslap": 58,
    "bongo_high": 60, "bongo_low": 61, "conga_high": 62, "conga_low": 64, "timbale_high": 65,
    "timbale_low": 66, "agogo_high": 67, "agogo_low": 68, "cabasa": 69, "shaker": 70,
    "maracas": 70, "guiro": 73, "claves": 75, "woodblock_high": 76, "woodblock_low": 77,
    "triangle": 81, "triangle_muted": 80,
}  # fmt: skip
"""Voice names → General MIDI drum notes (channel 9)."""

_STEP_HITS = {
    "x": "velocity",
    "X": "accent_velocity",
    ">": "accent_velocity",
    "g": "ghost_velocity",
}
_STEP_RESTS = set(".-_")
_STEP_SPACERS = set(" |")


class DrumVoiceSpec(_Spec):
    """One drum sound and its step pattern."""

    voice: str | int = Field(
        description="Drum by name (" + ", ".join(DRUM_NOTES) + ") or a GM drum note 27–87."
    )
    pattern: str | list[int] = Field(
        description="Steps as a string: 'x' hit, 'X' accent, 'g' ghost note, '.' or '-' rest; "
        "spaces and '|' are ignored, e.g. 'x...x...x...x...' or 'x.x. x.x. | X..x ....'. Or a "
        "list of velocities per step (0 = rest). A pattern shorter than the whole loop repeats."
    )
    velocity: int | None = Field(
        None,
        ge=1,
        le=127,
        description="Velocity of 'x' steps for this voice (default: the pattern's).",
    )

    @field_validator("voice")
    @classmethod
    def _known_voice(cls, value: str | int) -> str | int:
        if isinstance(value, int):
            if not 0 <= value <= 127:
                raise ValueError(f"{value} is outside 0–127")
        elif value.strip().lower().replace(" ", "_") not in DRUM_NOTES:
            raise ValueError(f"unknown drum {value!r}; use one of: {', '.join(DRUM_NOTES)}")
        return value

    @field_validator("pattern")
    @classmethod
    def _valid_steps(cls, value: str | list[int]) -> str | list[int]:
        if isinstance(value, str):
            bad = sorted(set(value) - set(_STEP_HITS) - _STEP_RESTS - _STEP_SPACERS)
            if bad:
                raise ValueError(
                    f"unknown step symbol(s) {''.join(bad)!r}; "
                    "use x (hit), X (accent), g (ghost), . (rest)"
                )
        elif any(not 0 <= v <= 127 for v in value):
            raise ValueError("step velocities must be 0–127 (0 = rest)")
        if not _steps_of(value):
            raise ValueError("the pattern has no steps")
        return value

    @property
    def note(self) -> int:
        return (
            self.voice
            if isinstance(self.voice, int)
            else DRUM_NOTES[self.voice.strip().lower().replace(" ", "_")]
        )


def _steps_of(pattern: str | list[int]) -> list[str | int]:
    return (
        [c for c in pattern if c not in _STEP_SPACERS]
        if isinstance(pattern, str)
        else list(pattern)
    )


class DrumPatternSpec(_Spec):
    """A step-sequencer loop: every voice has one step per grid slot."""

    tempo_bpm: Bpm = 120.0
    time_signature: TimeSignature = "4/4"
    steps_per_bar: int = Field(
        16, ge=1, le=64, description="Grid slots per bar: 16 = sixteenths in 4/4."
    )
    bars: int = Field(1, ge=1, le=512, description="How many bars the loop lasts.")
    swing: float = Field(
        0.0,
        ge=0,
        le=0.75,
        description="Delay of every second step, as a fraction of a step (0.33 ≈ shuffle).",
    )
    velocity: int = Field(90, ge=1, le=127, description="Velocity of 'x' steps.")
    accent_velocity: int = Field(120, ge=1, le=127, description="Velocity of 'X' steps.")
    ghost_velocity: int = Field(45, ge=1, le=127, description="Velocity of 'g' steps.")
    kit: int = Field(
        0,
        ge=0,
        le=127,
        description="GM drum kit: 0 standard, 8 room, 16 power, 24 electronic, 25 TR-808, "
        "32 jazz, 40 brush.",
    )
    voices: list[DrumVoiceSpec] = Field(
        min_length=1, max_length=32, description="The drums and their patterns."
    )

    @model_validator(mode="after")
    def _patterns_fit(self) -> DrumPatternSpec:
        total = self.steps_per_bar * self.bars
        for i, voice in enumerate(self.voices):
            steps = len(_steps_of(voice.pattern))
            if total % steps:
                raise ValueError(
                    f"voices[{i}].pattern has {steps} steps; use {self.steps_per_bar} (one bar) "
                    f"or a length that divides {total} (steps_per_bar × bars)"
                )
        return self


def drum_pattern(spec: DrumPatternSpec) -> mido.MidiFile:
    """The loop as a one-track drum file on channel 9."""
    numerator, denominator = (int(x) for x in spec.time_signature.split("/"))
    step = numerator * 4 / denominator / spec.steps_per_bar
    total = spec.steps_per_bar * spec.bars
    notes = []
    for voice in spec.voices:
        steps = _steps_of(voice.pattern)
        for index in range(total):
            velocity = _step_velocity(steps[index % len(steps)], spec, voice)
            if velocity:
                start = (index + (spec.swing if index % 2 else 0.0)) * step
                notes.append(
                    NoteSpec(pitch=voice.note, start=start, duration=step, velocity=velocity)
                )
    if not notes:
        raise ToolError("the pattern has no hits; put an 'x' in at least one voice")
    track = TrackSpec(name="Drums", drums=True, program=spec.kit, notes=notes)
    return compose(
        CompositionSpec(
            tempo_bpm=spec.tempo_bpm, time_signature=spec.time_signature, tracks=[track]
        )
    )


def _step_velocity(step: str | int, spec: DrumPatternSpec, voice: DrumVoiceSpec) -> int:
    if isinstance(step, int):
        return step
    if step in _STEP_RESTS:
        return 0
    if step == "x" and voice.velocity is not None:
        return voice.velocity
    return getattr(spec, _STEP_HITS[step])


# ---------------------------------------------------------------------------------------------
# Chord progressions

_CHORD_QUALITIES: dict[str, tuple[int, ...]] = {
    "": (0, 4, 7), "m": (0, 3, 7), "5": (0, 7), "dim": (0, 3, 6), "aug": (0, 4, 8),
    "sus2": (0, 2, 7), "sus4": (0, 5, 7), "6": (0, 4, 7, 9), "m6": (0, 3, 7, 9),
    "7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11), "m7": (0, 3, 7, 10), "mmaj7": (0, 3, 7, 11),
    "dim7": (0, 3, 6, 9), "m7b5": (0, 3, 6, 10), "7sus4": (0, 5, 7, 10), "aug7": (0, 4, 8, 10),
    "add9": (0, 4, 7, 14), "madd9": (0, 3, 7, 14), "9": (0, 4, 7, 10, 14),
    "maj9": (0, 4, 7, 11, 14), "m9": (0, 3, 7, 10, 14), "7b9": (0, 4, 7, 10, 13),
    "7#9": (0, 4, 7, 10, 15), "11": (0, 4, 7, 10, 14, 17), "13": (0, 4, 7, 10, 14, 21),
}  # fmt: skip
"""Chord quality suffix → semitones above the root."""

_QUALITY_ALIASES = {
    "maj": "", "M": "", "min": "m", "-": "m", "°": "dim", "o": "dim", "+": "aug", "sus": "sus4",
    "M7": "maj7", "Δ": "maj7", "Δ7": "maj7", "min7": "m7", "-7": "m7", "°7": "dim7", "o7": "dim7",
    "ø": "m7b5", "ø7": "m7b5", "-7b5": "m7b5", "min7b5": "m7b5", "mM7": "mmaj7", "+7": "aug7",
    "7sus": "7sus4", "2": "sus2", "M9": "maj9", "min9": "m9", "min6": "m6", "-6": "m6",
}  # fmt: skip

_CHORD_SYMBOL = re.compile(r"^([A-G][#b♯♭]?)([^/]*)(?:/([A-G][#b♯♭]?))?$")
_RESTS = {"N", "NC", "N.C."}


@dataclass(frozen=True)
class Chord:
    symbol: str
    root: int
    """Pitch class 0–11 of the root."""
    quality: str
    intervals: tuple[int, ...]
    bass: int | None
    """Pitch class of a slash bass ("C/E" → 4), else None."""


def parse_chord(symbol: str) -> Chord:
    """Parse a chord symbol: root (C, F#, Bb), quality (m, 7, maj7, m7, dim, dim7, m7b5, aug,
    sus2, sus4, add9, 6, 9 and aliases like min, -, M7, Δ, ø, °, +) and optional slash bass."""
    match = _CHORD_SYMBOL.match(symbol.strip())
    quality = match and _QUALITY_ALIASES.get(match.group(2), match.group(2))
    if not match or quality not in _CHORD_QUALITIES:
        raise ToolError(
            f"{symbol!r} is not a chord symbol I know; write a root (C, F#, Bb) plus one of "
            f"{', '.join(q or 'maj' for q in _CHORD_QUALITIES)}, optionally '/bass' (C/E)"
        )
    root, _, bass = match.groups()
    return Chord(
        symbol=symbol.strip(),
        root=pitch_class(root),
        quality=quality or "maj",
        intervals=_CHORD_QUALITIES[quality],
        bass=None if bass is None else pitch_class(bass),
    )


@dataclass(frozen=True)
class ChordEvent:
    start: float
    beats: float
    chord: Chord | None
    """None for a rest ("N.C.")."""


def parse_progression(progression: str, beats_per_chord: float = 4.0) -> list[ChordEvent]:
    """ "C Am F G7 | Dm7 G7 C" → timed chords. '|' only separates bars visually; a chord lasts
    `beats_per_chord` unless written with its own length ("G7:2"); "N.C." is a rest."""
    events, start = [], 0.0
    for token in progression.replace("|", " ").split():
        symbol, _, length = token.partition(":")
        try:
            beats = float(length) if length else beats_per_chord
        except ValueError:
            raise ToolError(f"{token!r}: the length after ':' must be a number of beats") from None
        if not 0 < beats <= 64:
            raise ToolError(f"{token!r}: a chord lasts more than 0 and at most 64 beats")
        chord = None if symbol.upper() in _RESTS else parse_chord(symbol)
        events.append(ChordEvent(start=start, beats=beats, chord=chord))
        start += beats
    if not any(e.chord for e in events):
        raise ToolError("the progression has no chords; write e.g. 'C Am F G7'")
    return events


Voicing = Literal["close", "open", "drop2"]


def voice_chord(
    chord: Chord, voicing: Voicing = "close", octave: int = 4, with_slash_bass: bool = True
) -> list[int]:
    """MIDI notes of `chord` with its root in `octave` (C4 = 60). close: stacked within the
    chord's span; open: every second voice up an octave; drop2: the second-highest voice down an
    octave. A slash bass sits below the chord when `with_slash_bass`."""
    base = 12 * (octave + 1) + chord.root
    notes = [base + i for i in chord.intervals]
    if voicing == "open":
        notes = sorted(n + 12 * (i % 2) for i, n in enumerate(notes))
    elif voicing == "drop2" and len(notes) >= 3:
        notes[-2] -= 12
        notes.sort()
    if chord.bass is not None and with_slash_bass:
        notes.insert(0, notes[0] - 1 - (notes[0] - 1 - chord.bass) % 12)
    if notes[0] < 0 or notes[-1] > 127:
        raise ToolError(f"{chord.symbol} in octave {octave} falls outside 0–127; pick octave 2–6")
    return notes


def chords_to_midi(
    progression: str | list[ChordEvent],
    *,
    beats_per_chord: float = 4.0,
    voicing: Voicing = "close",
    bass: bool = True,
    octave: int = 4,
    program: int = 0,
    bass_program: int = 33,
    tempo_bpm: float = 120.0,
    time_signature: str = "4/4",
    velocity: int = 80,
) -> mido.MidiFile:
    """A chord track (and, with `bass`, a bass track playing roots or slash basses two octaves
    below `octave`) for a progression string or timed chords; see `parse_progression` and
    `voice_chord`."""
    events = (
        parse_progression(progression, beats_per_chord)
        if isinstance(progression, str)
        else progression
    )
    chords, roots = [], []
    for event in events:
        if event.chord is None:
            continue
        timing = {"start": event.start, "duration": event.beats, "velocity": velocity}
        for pitch in voice_chord(event.chord, voicing, octave, with_slash_bass=not bass):
            chords.append({"pitch": pitch, **timing})
        bass_class = event.chord.root if event.chord.bass is None else event.chord.bass
        roots.append({"pitch": 12 * (octave - 1) + bass_class, **timing})
    if not chords:
        raise ToolError("there are no chords to write (only rests)")
    tracks = [{"name": "Chords", "program": program, "notes": chords}]
    if bass:
        tracks.append({"name": "Bass", "program": bass_program, "notes": roots})
    spec = {"tempo_bpm": tempo_bpm, "time_signature": time_signature, "tracks": tracks}
    return compose(parse_spec(CompositionSpec, spec))


@dataclass(frozen=True)
class HeardProgression:
    events: list[ChordEvent]
    tempo_bpm: float
    """The tempo the chord times were converted at (given, or detected from the beat)."""
    key: str | None


def chords_from_audio(
    samples: np.ndarray, sr: int, *, tempo_bpm: float | None = None
) -> HeardProgression:
    """The chords `detect_chords` hears in a recording, as timed chords in beats: at
    `tempo_bpm`, else at the detected tempo (120 BPM when there is no steady beat), so the
    MIDI file lines up with the recording second for second."""
    from .beats import detect_beats
    from .chords import NO_CHORD, detect_chords
    from .mir_features import MusicFeatures

    features = MusicFeatures(samples, sr)
    heard = detect_chords(samples, sr, max_segments=100_000, features=features)
    bpm = tempo_bpm or detect_beats(samples, sr, features=features).bpm or 120.0
    beats_per_second = bpm / 60.0
    events = [
        ChordEvent(
            start=round(segment["start"] * beats_per_second, 4),
            beats=round((segment["end"] - segment["start"]) * beats_per_second, 4),
            chord=None if segment["name"] == NO_CHORD else parse_chord(segment["name"]),
        )
        for segment in heard.segments
        if segment["end"] > segment["start"]
    ]
    return HeardProgression(events=events, tempo_bpm=round(float(bpm), 2), key=heard.key)
