"""Render MIDI to audio with FluidSynth, offline and without an audio driver.

Messages are fed to the synth at their times (tempo map honoured) and the audio between them is
pulled with `fluid_synth_write_float`: each event lands on the nearest of FluidSynth's 64-frame
blocks (±0.7 ms at 44.1 kHz) and nothing clips inside the synth. Loading a large SoundFont
takes about a second, so each (SoundFont, sample rate) synth is an engine in the shared
registry: loaded once, reset between renders, unloaded when idle. FluidSynth shares sample
data between synths that load the same file, so a second sample rate costs little.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import math
import os
import threading
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
_BLOCK_S = 0.1
_MAX_PULL_FRAMES = 1 << 16
_SAFE_PEAK = 10 ** (-1 / 20)


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
    progress: ProgressFn = no_progress,
    cancel: CancelToken = NEVER,
) -> Rendering:
    """Stereo float32 audio of `midi` plus a release/reverb tail (at most 5 s).

    soundfont: a .sf2/.sf3 path (default `default_soundfont()`). gain_db scales the synth's
    output; if the result would clip it is turned down so its peak sits at -1 dBFS (reported
    in `limited_db`), otherwise it is left as rendered.
    """
    if not 8000 <= sample_rate <= 192000:
        raise ToolError(f"sample_rate {sample_rate} is outside 8000–192000 Hz")
    if not -40 <= gain_db <= 40:
        raise ToolError(f"gain_db {gain_db} is outside -40–40 dB")
    if midi.type == 2:
        raise ToolError("type-2 (multi-song) MIDI files are not supported; use type 0 or 1")
    if not any(m.type == "note_on" and m.velocity for track in midi.tracks for m in track):
        raise ToolError("the MIDI file has no notes to render")
    if midi.length > MAX_RENDER_S:
        raise ToolError(
            f"the MIDI file lasts {midi.length / 60:.0f} min; render at most "
            f"{MAX_RENDER_S // 60} min in one call"
        )
    path = resolve_soundfont(soundfont)
    with ENGINES.use(FluidSynth, _model_name(path, sample_rate), "cpu") as synth:
        audio = synth.perform(midi, reverb=reverb, chorus=chorus, progress=progress, cancel=cancel)
    audio *= np.float32(10 ** (gain_db / 20))
    peak = float(np.abs(audio).max(initial=0.0))
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
        self.channel_pressure = _prototype(lib.fluid_synth_channel_pressure, ptr, num, num)
        self.key_pressure = _prototype(lib.fluid_synth_key_pressure, ptr, num, num, num)


def _peak(samples: np.ndarray) -> float:
    return float(np.abs(samples).max(initial=0.0))


@functools.cache
def _library() -> _Library:
    return _Library()


def _prototype(fn: Any, *argtypes: type) -> Any:
    """Declare a C function's argument types so ctypes converts and checks them."""
    fn.argtypes = list(argtypes)
    fn.restype = ctypes.c_int
    return fn


class FluidSynth(Engine):
    """One synth with one SoundFont at one sample rate; renders one file at a time."""

    family = "fluidsynth"

    def load(self) -> None:
        path, _, rest = self.model.rpartition("@")
        self.path = Path(path)
        self.sample_rate = int(rest.partition("#")[0])
        self.lib = _library()
        self.lock = threading.Lock()
        self.position = 0
        self.synth = self.lib.fluidsynth.Synth(
            gain=_SYNTH_GAIN,
            samplerate=float(self.sample_rate),
            channels=16,
            **{"synth.cpu-cores": min(cpu_cores(), 4)},
        )
        if self.synth.sfload(str(self.path), 1) < 0:
            self.synth.delete()
            raise ToolError(
                f"could not load the SoundFont {self.path.name}: it is damaged or not an SF2/SF3 "
                "file; use another .sf2/.sf3, or leave soundfont empty for the General MIDI set"
            )
        self._prime()

    def _prime(self) -> None:
        """Sound every voice slot once, quietly. FluidSynth renders the first frames of a voice
        slot's first note slightly differently from its later notes; after this, a render
        without reverb is bit-identical whatever was rendered before."""
        polyphony = self.synth.get_setting("synth.polyphony")
        for key in range(16 * 128):
            if self.synth.get_active_voice_count() >= polyphony:
                break
            self.synth.noteon(key // 128, key % 128, 1)
        self._pull(np.empty((2, _SYNTH_BLOCK), np.float32), 0, _SYNTH_BLOCK)

    def unload(self) -> None:
        with self.lock:
            self.synth.delete()
            self.synth = None

    def memory_bytes(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def perform(
        self,
        midi: mido.MidiFile,
        *,
        reverb: bool,
        chorus: bool,
        progress: ProgressFn = no_progress,
        cancel: CancelToken = NEVER,
    ) -> np.ndarray:
        """Play every message at its time, pulling audio between them, then the tail."""
        with self.lock:
            self._reset(reverb, chorus)
            sr = self.sample_rate
            length = math.ceil(midi.length * sr)
            audio = np.zeros((2, length + math.ceil(MAX_TAIL_S * sr)), np.float32)
            done, seconds, next_report = 0, 0.0, 0

            def advance(target: int) -> None:
                nonlocal done, next_report
                while done < target:
                    frames = min(target - done, _MAX_PULL_FRAMES)
                    self._pull(audio, done, frames)
                    done += frames
                    if done >= next_report:
                        cancel.check()
                        progress(done, length, "rendering")
                        next_report = done + sr

            for msg in midi:
                seconds += msg.time
                if not msg.is_meta:
                    block_start = round(seconds * sr / _SYNTH_BLOCK) * _SYNTH_BLOCK
                    advance(min(block_start, length))
                    self._send(msg)
            advance(length)
            block = int(sr * _BLOCK_S)
            while (
                done + block <= audio.shape[1] and _peak(self._pull(audio, done, block)) >= _SILENCE
            ):
                done += block
            progress(length, length, "rendered")
            return audio[:, :done]

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
            if _peak(self._pull(scratch, 0, scratch.shape[1])) == 0.0:
                break
        self._pull(scratch, 0, -self.position % _SYNTH_BLOCK)
        self.lib.reverb_on(synth.synth, -1, int(reverb))
        self.lib.chorus_on(synth.synth, -1, int(chorus))

    def _pull(self, out: np.ndarray, start: int, frames: int) -> np.ndarray:
        """Render `frames` frames straight into out[:, start:start + frames] (a C-ordered
        float32 (2, n) array) and return that view. `position` counts every frame pulled, so
        a render can start on a synth block boundary."""
        left, right = out[0].ctypes.data, out[1].ctypes.data
        self.lib.write_float(self.synth.synth, frames, left, start, 1, right, start, 1)
        self.position += frames
        return out[:, start : start + frames]

    def _send(self, msg: mido.Message) -> None:
        synth, kind = self.synth, msg.type
        if kind == "note_on" and msg.velocity > 0:
            synth.noteon(msg.channel, msg.note, msg.velocity)
        elif kind in ("note_on", "note_off"):
            synth.noteoff(msg.channel, msg.note)
        elif kind == "control_change":
            synth.cc(msg.channel, msg.control, msg.value)
        elif kind == "program_change":
            synth.program_change(msg.channel, msg.program)
        elif kind == "pitchwheel":
            synth.pitch_bend(msg.channel, msg.pitch)
        elif kind == "aftertouch":
            self.lib.channel_pressure(synth.synth, msg.channel, msg.value)
        elif kind == "polytouch":
            self.lib.key_pressure(synth.synth, msg.channel, msg.note, msg.value)
