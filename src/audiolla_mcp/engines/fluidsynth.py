"""Render MIDI to audio with FluidSynth, offline and without an audio driver.

Messages are fed to the synth at their times (tempo map honoured) and the audio between them is
pulled with `fluid_synth_write_float`: each event lands on the nearest of FluidSynth's 64-frame
blocks (±0.7 ms at 44.1 kHz) and nothing clips inside the synth. Almost all of a render's time is
FluidSynth's voice rendering, so a longer file is cut in time into parts, one per core, each
played by its own synth in its own thread (see `_Score`); their outputs add up to what one synth
plays. Loading a large SoundFont takes about a second, so the synths for each (SoundFont, sample
rate) are an engine in the shared registry: loaded once, reset between renders, unloaded when
idle. FluidSynth shares sample data between synths that load the same file, so further synths
and sample rates cost little memory.
"""

from __future__ import annotations

import bisect
import ctypes
import functools
import logging
import math
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mido
import numpy as np

from ..errors import ToolError
from ..progress import NEVER, CancelToken, ProgressFn, no_progress
from .base import ENGINES, Engine, cpu_cores

log = logging.getLogger(__name__)

DEFAULT_SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
SOUNDFONT_SUFFIXES = (".sf2", ".sf3")
MAX_TAIL_S = 5.0
MAX_RENDER_S = 30 * 60
_SYNTH_GAIN = 0.5
"""FluidSynth's master gain; the float output never clips, `render` scales after."""
_SYNTH_BLOCK = 64
"""FluidSynth renders in blocks of this many frames and applies events at block starts."""
_SILENCE = 10 ** (-90 / 20)
_FLUSHED = 1e-7
"""Peak below which a reset counts the effects as empty: FluidSynth's reverb never reaches 0
(it keeps a ~1e-8 offset against denormals), so waiting for 0 would render 30 s every time."""
_BLOCK_S = 0.1
"""A part ends after this long below `_SILENCE`; also the step of the tail and of resets."""
_MAX_PULL_FRAMES = 1 << 16
_SAFE_PEAK = 10 ** (-1 / 20)
_MAX_PARTS = 4
_MIN_PART_S = 5.0
"""Shorter parts are not worth a synth of their own."""
_RELEASE_WEIGHT_S = 1.0
"""Added to each note's length when weighing parts: its release and reverb also cost."""
_EVERY_PART = -1
"""Owner of a state message (program, controller, pitch bend): every part plays it."""
_NO_PART = -2
"""Owner of a note-off whose note is not sounding: nobody plays it."""


@dataclass(frozen=True)
class Rendering:
    audio: np.ndarray
    """float32, shape (2, frames)."""
    sample_rate: int
    soundfont: str
    peak_dbfs: float | None
    """Peak after gain and safety scaling; None for digital silence."""
    limited_db: float
    """How far the output was turned down to keep its peak at -1 dBFS (0 when it did not clip)."""


def default_soundfont() -> Path:
    """`AUDIOLLA_SOUNDFONT` if set, else the system's FluidR3 GM."""
    return Path(os.environ.get("AUDIOLLA_SOUNDFONT") or DEFAULT_SOUNDFONT)


def resolve_soundfont(soundfont: str | Path | None) -> Path:
    """The SoundFont file to load; a missing one is a ToolError that says how to get one."""
    path = Path(soundfont) if soundfont else default_soundfont()
    if path.suffix.lower() not in SOUNDFONT_SUFFIXES:
        raise ToolError(f"{path.name} is not a SoundFont; pass a .sf2 or .sf3 file")
    if not path.is_file():
        raise ToolError(
            f"SoundFont {path} not found; install the General MIDI set with "
            "`apt-get install fluid-soundfont-gm` (or set AUDIOLLA_SOUNDFONT), or put a .sf2/.sf3 "
            "file in the workspace and pass it as soundfont"
        )
    return path.resolve()


def render(
    midi: mido.MidiFile,
    *,
    soundfont: str | Path | None = None,
    sample_rate: int = 44100,
    gain_db: float = 0.0,
    reverb: bool = True,
    chorus: bool = True,
    parts: int | None = None,
    progress: ProgressFn = no_progress,
    cancel: CancelToken = NEVER,
) -> Rendering:
    """Stereo float32 audio of `midi` plus a release/reverb tail (at most 5 s).

    soundfont: a .sf2/.sf3 path (default `default_soundfont()`). gain_db scales the synth's
    output; if the result would clip it is turned down so its peak sits at -1 dBFS (reported
    in `limited_db`), otherwise it is left as rendered. parts: how many synths play spans of
    the file side by side (default one per usable core, at most 4; a file shorter than
    10 s is played whole).
    """
    if not 8000 <= sample_rate <= 192000:
        raise ToolError(f"sample_rate {sample_rate} is outside 8000–192000 Hz")
    if not -40 <= gain_db <= 40:
        raise ToolError(f"gain_db {gain_db} is outside -40–40 dB")
    if midi.type == 2:
        raise ToolError("type-2 (multi-song) MIDI files are not supported; use type 0 or 1")
    if not any(m.type == "note_on" and m.velocity for track in midi.tracks for m in track):
        raise ToolError("the MIDI file has no notes to render")
    score = _Score.of(midi, sample_rate, parts or min(cpu_cores(), _MAX_PARTS))
    if score.length > MAX_RENDER_S * sample_rate:
        raise ToolError(
            f"the MIDI file lasts {score.length / sample_rate / 60:.0f} min; render at most "
            f"{MAX_RENDER_S // 60} min in one call"
        )
    path = resolve_soundfont(soundfont)
    with ENGINES.use(FluidSynth, _model_name(path, sample_rate), "cpu") as synth:
        audio = synth.perform(
            score, reverb=reverb, chorus=chorus, progress=progress, cancel=cancel
        )
    if gain_db:
        audio *= np.float32(10 ** (gain_db / 20))
    peak = _peak(audio)
    limited = 0.0
    if peak > 1.0:
        audio *= np.float32(_SAFE_PEAK / peak)
        limited, peak = 20 * math.log10(_SAFE_PEAK / peak), _SAFE_PEAK
    return Rendering(
        audio=audio,
        sample_rate=sample_rate,
        soundfont=path.name,
        peak_dbfs=round(20 * math.log10(peak), 2) if peak > 0 else None,
        limited_db=round(limited, 2),
    )


def _model_name(path: Path, sample_rate: int) -> str:
    """Registry key: a changed file (same path, new mtime or size) is a different engine."""
    stat = path.stat()
    return f"{path}@{sample_rate}#{stat.st_mtime_ns:x}-{stat.st_size:x}"


class _Library:
    """libfluidsynth through pyfluidsynth, plus the calls pyfluidsynth does not wrap."""

    def __init__(self) -> None:
        try:
            import fluidsynth  # loads libfluidsynth, so only when a render is asked for
        except ImportError as err:
            raise ToolError(
                f"FluidSynth is not available ({err}); install it with "
                "`apt-get install libfluidsynth3` and `pip install pyfluidsynth`"
            ) from None
        self.fluidsynth = fluidsynth
        lib = ctypes.CDLL(fluidsynth.lib)
        ptr, num = ctypes.c_void_p, ctypes.c_int
        self.write_float = _prototype(
            lib.fluid_synth_write_float, ptr, num, ptr, num, num, ptr, num, num
        )
        self.reverb_on = _prototype(lib.fluid_synth_reverb_on, ptr, num, num)
        self.chorus_on = _prototype(lib.fluid_synth_chorus_on, ptr, num, num)
        # MIDI messages take microseconds: these calls keep the GIL, since releasing and
        # retaking it around each of thousands of messages makes parallel parts wait on
        # each other whenever the machine is busy.
        quick = ctypes.PyDLL(fluidsynth.lib)
        self.noteon = _prototype(quick.fluid_synth_noteon, ptr, num, num, num)
        self.noteoff = _prototype(quick.fluid_synth_noteoff, ptr, num, num)
        self.cc = _prototype(quick.fluid_synth_cc, ptr, num, num, num)
        self.program_change = _prototype(quick.fluid_synth_program_change, ptr, num, num)
        self.pitch_bend = _prototype(quick.fluid_synth_pitch_bend, ptr, num, num)
        self.channel_pressure = _prototype(quick.fluid_synth_channel_pressure, ptr, num, num)
        self.key_pressure = _prototype(quick.fluid_synth_key_pressure, ptr, num, num, num)


def _peak(samples: np.ndarray) -> float:
    """Largest magnitude, in two passes that make no temporary copy."""
    if samples.size == 0:
        return 0.0
    return max(float(samples.max()), -float(samples.min()))


@functools.cache
def _library() -> _Library:
    return _Library()


def _prototype(fn: Any, *argtypes: type) -> Any:
    """Declare a C function's argument types so ctypes converts and checks them."""
    fn.argtypes = list(argtypes)
    fn.restype = ctypes.c_int
    return fn


@dataclass(frozen=True)
class _Score:
    """A file's channel messages on synth blocks, cut in time into parts that synths play side
    by side and whose outputs add up to what one synth plays.

    A part owns the notes that start in its span, keeps rendering them past its end until they
    have died away, and plays every state message (program, controllers, pitch bend) so that
    its channels are set as the whole file sets them; messages before its start are applied at
    once. A note struck again while it still sounds stays with the part that holds it, so the
    synth releases it as it would in one pass. Not carried across a part boundary: an exclusive
    class (a closed hi-hat choking an open one) and portamento from a note in an earlier part.
    Each part's reverb and chorus start afresh, so their slow modulation runs at another phase
    than in one pass (as it already does from one render to the next).
    """

    frames: list[int]
    """Synth-block frame of each message (never past `length`)."""
    messages: list[mido.Message]
    owners: list[int]
    """The part that plays each message, `_EVERY_PART` or `_NO_PART`."""
    starts: list[int]
    """First frame of each part; the first part starts at 0."""
    length: int

    @classmethod
    def of(cls, midi: mido.MidiFile, sample_rate: int, parts: int) -> _Score:
        """Up to `parts` parts (fewer for a short file)."""
        frames, messages, seconds = _timeline(midi, sample_rate)
        length = math.ceil(seconds * sample_rate - 1e-6)  # float noise must not add a frame
        frames = [min(frame, length) for frame in frames]
        starts = _part_starts(frames, messages, length, sample_rate, parts)
        return cls(frames, messages, _owners(frames, messages, starts), starts, length)


def _timeline(
    midi: mido.MidiFile, sample_rate: int
) -> tuple[list[int], list[mido.Message], float]:
    """Every channel message with the start of the synth block nearest its time, and the
    file's length in seconds (to its last end of track, as mido counts it)."""
    from ..ops.midi import TempoMap, absolute_events

    tempo = TempoMap(midi)
    merged = [event for track in midi.tracks for event in absolute_events(track)]
    merged.sort(key=lambda event: event[0])  # stable: simultaneous messages keep track order
    frames, messages = [], []
    for tick, msg in merged:
        if not msg.is_meta:
            frames.append(round(tempo.seconds(tick) * sample_rate / _SYNTH_BLOCK) * _SYNTH_BLOCK)
            messages.append(msg)
    last_tick = max((sum(msg.time for msg in track) for track in midi.tracks), default=0)
    return frames, messages, tempo.seconds(last_tick)


def _is_note_on(msg: mido.Message) -> bool:
    return msg.type == "note_on" and msg.velocity > 0


def _is_note_off(msg: mido.Message) -> bool:
    return msg.type == "note_off" or (msg.type == "note_on" and msg.velocity == 0)


def _part_starts(
    frames: list[int], messages: list[mido.Message], length: int, sample_rate: int, parts: int
) -> list[int]:
    """Start frames that share the notes' sounding time (plus a release each) evenly."""
    parts = min(parts, int(length / sample_rate // _MIN_PART_S))
    if parts < 2:
        return [0]
    onsets: list[int] = []
    ends: list[int] = []
    sounding: dict[tuple[int, int], list[int]] = {}
    for frame, msg in zip(frames, messages, strict=True):
        if _is_note_on(msg):
            sounding.setdefault((msg.channel, msg.note), []).append(len(onsets))
            onsets.append(frame)
            ends.append(length)
        elif _is_note_off(msg):
            for index in sounding.pop((msg.channel, msg.note), []):
                ends[index] = frame
    if not onsets:
        return [0]
    weights = np.cumsum(np.subtract(ends, onsets) + _RELEASE_WEIGHT_S * sample_rate)
    cuts = np.searchsorted(weights, weights[-1] * np.arange(1, parts) / parts)
    return sorted({0, *(onsets[i] for i in cuts if onsets[i] > 0)})


def _owners(frames: list[int], messages: list[mido.Message], starts: list[int]) -> list[int]:
    """Which part plays each message (see `_Score`)."""
    holder: dict[tuple[int, int], int] = {}
    owners = []
    for frame, msg in zip(frames, messages, strict=True):
        if _is_note_on(msg):
            key = (msg.channel, msg.note)
            owner = holder.setdefault(key, bisect.bisect_right(starts, frame) - 1)
        elif _is_note_off(msg):
            owner = holder.pop((msg.channel, msg.note), _NO_PART)
        else:
            owner = _EVERY_PART
        owners.append(owner)
    return owners


@dataclass
class _Played:
    """What one part rendered beyond the span it writes straight into the output."""

    end: int
    """Frame after the part's last audible frame."""
    tails: list[tuple[int, np.ndarray]]
    """(first frame, audio) blocks past the part's span, to be added to the output."""


class _Take:
    """One part of a score being rendered. Frames before the next part's start go straight
    into the output, later ones (the part's notes dying away) into `tails`. The part ends after
    `_BLOCK_S` of silence once it is past its span and holds no note (the last part: once past
    the file's end, as its tail), or at the end of the output."""

    def __init__(
        self,
        player: _Player,
        score: _Score,
        part: int,
        out: np.ndarray,
        report: Callable[[int], None],
        stop: threading.Event,
    ) -> None:
        self.player, self.out, self.report, self.stop = player, out, report, stop
        self.first = score.starts[part]
        self.last = part + 1 == len(score.starts)
        self.span_end = out.shape[1] if self.last else score.starts[part + 1]
        self.settled = score.length if self.last else self.span_end
        self.block = int(player.sample_rate * _BLOCK_S)
        self.held: set[tuple[int, int]] = set()
        self.tails: list[tuple[int, np.ndarray]] = []
        self.done, self.quiet = self.first, 0
        self.next_report = self.first + player.sample_rate

    def hold(self, msg: mido.Message) -> None:
        """Track which of the part's own notes are down."""
        key = (msg.channel, msg.note)
        if _is_note_on(msg):
            self.held.add(key)
        else:
            self.held.discard(key)

    def advance(self, target: int) -> bool:
        """Render up to frame `target`; False once the part has ended (or must stop)."""
        while self.done < target:
            if self.stop.is_set():
                return False
            rendered = self._pull(self._step(target))
            self.done += rendered.shape[1]
            if self.done >= self.next_report:
                self.report(min(self.done, self.settled) - self.first)
                self.next_report = self.done + self.player.sample_rate
            if self.done > self.settled and (self.last or not self.held):
                self.quiet = self.quiet + rendered.shape[1] if _peak(rendered) < _SILENCE else 0
                if self.quiet >= self.block:
                    return False
        return True

    def _step(self, target: int) -> int:
        """Frames to render next: large pulls within the span, silence-sized ones after it,
        never across the span's end."""
        if self.done < self.settled:
            frames = min(target, self.settled, self.done + _MAX_PULL_FRAMES) - self.done
        else:
            frames = min(target - self.done, self.block)
        if self.done < self.span_end:
            frames = min(frames, self.span_end - self.done)
        return frames

    def _pull(self, frames: int) -> np.ndarray:
        if self.done < self.span_end:
            return self.player.pull(self.out, self.done, frames)
        rendered = self.player.pull(np.empty((2, frames), np.float32), 0, frames)
        self.tails.append((self.done, rendered))
        return rendered


class _Player:
    """One FluidSynth synth with the SoundFont loaded; plays one part of a file at a time."""

    def __init__(self, lib: _Library, path: Path, sample_rate: int) -> None:
        self.lib = lib
        self.sample_rate = sample_rate
        self.position = 0
        self.synth = lib.fluidsynth.Synth(
            gain=_SYNTH_GAIN, samplerate=float(sample_rate), channels=16
        )
        if self.synth.sfload(str(path), 1) < 0:
            self.synth.delete()
            raise ToolError(
                f"could not load the SoundFont {path.name}: it is damaged or not an SF2/SF3 "
                "file; use another .sf2/.sf3, or leave soundfont empty for the General MIDI set"
            )
        self._prime()

    def _prime(self) -> None:
        """Sound every voice slot once, quietly. FluidSynth renders the first frames of a voice
        slot's first note differently from its later notes; after this, a render depends far
        less on what was rendered before (not bit for bit: attacks can still differ by ~1e-4)."""
        polyphony = self.synth.get_setting("synth.polyphony")
        for key in range(16 * 128):
            if self.synth.get_active_voice_count() >= polyphony:
                break
            self.synth.noteon(key // 128, key % 128, 1)
        self.pull(np.empty((2, _SYNTH_BLOCK), np.float32), 0, _SYNTH_BLOCK)

    def delete(self) -> None:
        self.synth.delete()
        self.synth = None

    def play(
        self,
        score: _Score,
        part: int,
        out: np.ndarray,
        effects: tuple[bool, bool],
        report: Callable[[int], None],
        stop: threading.Event,
    ) -> _Played:
        """Render part `part` of `score` (see `_Take` for where its audio goes and when it
        ends); `report` gets the frames done of the part's span as it goes."""
        self._reset(*effects)
        take = _Take(self, score, part, out, report, stop)
        for frame, msg, owner in zip(score.frames, score.messages, score.owners, strict=True):
            if owner != part and owner != _EVERY_PART:
                continue
            if frame > take.first and not take.advance(frame):
                break
            self._send(msg)
            if owner == part:
                take.hold(msg)
        else:
            take.advance(out.shape[1])
        report(take.settled - take.first)
        return _Played(end=take.done - take.quiet, tails=take.tails)

    def _reset(self, reverb: bool, chorus: bool) -> None:
        """Silence, default programs and controllers, empty effect buffers, then the effects."""
        synth = self.synth
        for channel in range(16):
            synth.all_sounds_off(channel)
        synth.system_reset()
        self.lib.reverb_on(synth.synth, -1, 1)
        self.lib.chorus_on(synth.synth, -1, 1)
        scratch = np.empty((2, int(self.sample_rate * _BLOCK_S)), np.float32)
        for _ in range(int(30 / _BLOCK_S)):
            if _peak(self.pull(scratch, 0, scratch.shape[1])) < _FLUSHED:
                break
        self.pull(scratch, 0, -self.position % _SYNTH_BLOCK)
        self.lib.reverb_on(synth.synth, -1, int(reverb))
        self.lib.chorus_on(synth.synth, -1, int(chorus))

    def pull(self, out: np.ndarray, start: int, frames: int) -> np.ndarray:
        """Render `frames` frames straight into out[:, start:start + frames] (a C-ordered
        float32 (2, n) array) and return that view. `position` counts every frame pulled, so
        a render can start on a synth block boundary."""
        left, right = out[0].ctypes.data, out[1].ctypes.data
        self.lib.write_float(self.synth.synth, frames, left, start, 1, right, start, 1)
        self.position += frames
        return out[:, start : start + frames]

    def _send(self, msg: mido.Message) -> None:
        lib, synth, kind = self.lib, self.synth.synth, msg.type
        if kind == "note_on" and msg.velocity > 0:
            lib.noteon(synth, msg.channel, msg.note, msg.velocity)
        elif kind in ("note_on", "note_off"):
            lib.noteoff(synth, msg.channel, msg.note)
        elif kind == "control_change":
            lib.cc(synth, msg.channel, msg.control, msg.value)
        elif kind == "program_change":
            lib.program_change(synth, msg.channel, msg.program)
        elif kind == "pitchwheel":
            lib.pitch_bend(synth, msg.channel, msg.pitch + 8192)  # FluidSynth counts from 0
        elif kind == "aftertouch":
            lib.channel_pressure(synth, msg.channel, msg.value)
        elif kind == "polytouch":
            lib.key_pressure(synth, msg.channel, msg.note, msg.value)


class FluidSynth(Engine):
    """Synths with one SoundFont at one sample rate, one for each part of a file (created
    when first needed); renders one file at a time."""

    family = "fluidsynth"

    def load(self) -> None:
        path, _, rest = self.model.rpartition("@")
        self.path = Path(path)
        self.sample_rate = int(rest.partition("#")[0])
        self.lock = threading.Lock()
        self.players = [_Player(_library(), self.path, self.sample_rate)]

    def unload(self) -> None:
        with self.lock:
            for player in self.players:
                player.delete()
            self.players = []

    def memory_bytes(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def perform(
        self,
        score: _Score,
        *,
        reverb: bool,
        chorus: bool,
        progress: ProgressFn = no_progress,
        cancel: CancelToken = NEVER,
    ) -> np.ndarray:
        """Play every message at its time, each part of the file on its own synth and
        thread, then the tail; the parts' overhangs are added in at the end."""
        with self.lock:
            parts = len(score.starts)
            while len(self.players) < parts:
                self.players.append(_Player(_library(), self.path, self.sample_rate))
            out = np.zeros((2, score.length + math.ceil(MAX_TAIL_S * self.sample_rate)), np.float32)
            reports: queue.SimpleQueue[tuple[int, int | None]] = queue.SimpleQueue()
            stop = threading.Event()

            def play(part: int) -> _Played:
                try:
                    return self.players[part].play(
                        score, part, out, (reverb, chorus),
                        lambda done: reports.put((part, done)), stop,
                    )  # fmt: skip
                finally:
                    reports.put((part, None))

            with ThreadPoolExecutor(parts, thread_name_prefix="fluidsynth") as pool:
                futures = [pool.submit(play, part) for part in range(parts)]
                try:
                    _follow(futures, reports, score.length, progress, cancel)
                finally:
                    stop.set()
            played = [future.result() for future in futures]
            for part in played:
                for start, audio in part.tails:
                    out[:, start : start + audio.shape[1]] += audio
            progress(score.length, score.length, "rendered")
            return out[:, : max(part.end for part in played)]


def _follow(
    futures: list[Future],
    reports: queue.SimpleQueue,
    length: int,
    progress: ProgressFn,
    cancel: CancelToken,
) -> None:
    """Forward the parts' progress and check for cancellation until every part has finished
    (or one failed)."""
    done = [0] * len(futures)
    running = len(futures)
    while running:
        cancel.check()
        try:
            part, frames = reports.get(timeout=_BLOCK_S)
        except queue.Empty:
            continue
        if frames is None:
            running -= 1
            if futures[part].exception() is not None:
                return
        else:
            done[part] = frames
            progress(sum(done), length, "rendering")
