"""Music with exact labels for the MIR tests and benches.

Everything is symbolic first (notes with times, a key, chord labels, beats), then rendered through
real instrument samples (FluidR3 via pyfluidsynth), so the labels are true by construction:
Bach chorales from the music21 corpus with their expert Roman-numeral analyses, cadential
progressions in major and minor keys, GM drum grooves, melodies over accompaniment and songs
with repeated sections. Renders are cached per process, so a test session pays for each once.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
RENDER_SR = 44100
PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# GM programs used below.
PIANO, ORGAN, GUITAR, BASS, STRINGS, CHOIR, TRUMPET, FLUTE, VIOLIN, EPIANO = 0, 19, 24, 33, 48, 52, 56, 73, 40, 4
KICK, SNARE, CLAP, HAT, OPEN_HAT, RIDE = 36, 38, 39, 42, 46, 51

QUALITY_INTERVALS = {
    "maj": (0, 4, 7), "min": (0, 3, 7), "7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10), "dim": (0, 3, 6), "aug": (0, 4, 8), "sus2": (0, 2, 7),
    "sus4": (0, 5, 7), "dim7": (0, 3, 6, 9), "hdim7": (0, 3, 6, 10),
}


@dataclass(frozen=True)
class Note:
    start: float
    end: float
    pitch: int
    velocity: int = 90
    program: int = PIANO
    voice: int = 0
    drum: bool = False


@dataclass(frozen=True)
class Piece:
    """Notes plus the labels an analysis should recover (times in seconds)."""

    name: str
    notes: tuple[Note, ...]
    bpm: float
    beats: tuple[float, ...]
    downbeats: tuple[float, ...]
    beats_per_bar: int = 4
    key: str | None = None  # mir_eval format, e.g. "A minor"
    chords: tuple[tuple[float, float, str], ...] = ()  # (start, end, "C:maj7")
    melody: tuple[Note, ...] = ()
    sections: tuple[tuple[float, float, str], ...] = ()  # (start, end, "A")
    extras: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def duration(self) -> float:
        return max(n.end for n in self.notes)

    def audio(self, sr: int = RENDER_SR) -> np.ndarray:
        return render(self.notes, sr)


def render(notes: Sequence[Note], sr: int = RENDER_SR, tail_s: float = 1.0) -> np.ndarray:
    """Render notes through FluidR3 → float32 stereo (2, frames). Sample-accurate, no driver."""
    return _render_cached(tuple(notes), sr, tail_s).copy()


@functools.lru_cache(maxsize=64)
def _render_cached(notes: tuple[Note, ...], sr: int, tail_s: float) -> np.ndarray:
    import fluidsynth

    channels: dict[tuple[int, int], int] = {}
    for n in notes:
        if not n.drum and (n.program, n.voice) not in channels:
            free = [c for c in range(16) if c != 9 and c not in channels.values()]
            channels[(n.program, n.voice)] = free[0]
    synth = fluidsynth.Synth(samplerate=float(sr))
    try:
        sfid = synth.sfload(SOUNDFONT)
        for (program, _), channel in channels.items():
            synth.program_select(channel, sfid, 0, program)
        if any(n.drum for n in notes):
            synth.program_select(9, sfid, 128, 0)
        events = []
        for n in notes:
            channel = 9 if n.drum else channels[(n.program, n.voice)]
            events.append((round(n.start * sr), 1, channel, n.pitch, n.velocity))
            events.append((round(n.end * sr), 0, channel, n.pitch, 0))
        events.sort(key=lambda e: (e[0], e[1]))  # note-offs before note-ons at the same instant
        blocks, position = [], 0
        for when, is_on, channel, pitch, velocity in events:
            if when > position:
                blocks.append(synth.get_samples(when - position))
                position = when
            if is_on:
                synth.noteon(channel, pitch, velocity)
            else:
                synth.noteoff(channel, pitch)
        end = max(e[0] for e in events) + int(tail_s * sr)
        blocks.append(synth.get_samples(end - position))
    finally:
        synth.delete()
    interleaved = np.concatenate(blocks).astype(np.float32) / 32768.0
    return np.ascontiguousarray(interleaved.reshape(-1, 2).T)


def beat_grid(bpm: float, n_beats: int, beats_per_bar: int, offset_beats: int = 0) -> tuple[tuple, tuple]:
    """Beat and downbeat times for a constant tempo; `offset_beats` is a pickup's length."""
    period = 60.0 / bpm
    beats = tuple(round(i * period, 6) for i in range(n_beats))
    downbeats = tuple(b for i, b in enumerate(beats) if (i - offset_beats) % beats_per_bar == 0)
    return beats, downbeats


# ---------------------------------------------------------------------------------------------
# Bach chorales (music21 corpus) with the Riemenschneider analyses

CHORALE_BWV = {1: "bwv269", 2: "bwv347", 3: "bwv153.1", 4: "bwv86.6", 5: "bwv267"}


def chord_label(root_pc: int, pitch_classes: Sequence[int]) -> str:
    """mir_eval label for a chord given its root and pitch classes ("C:maj7", "B:hdim7")."""
    intervals = tuple(sorted({(pc - root_pc) % 12 for pc in pitch_classes}))
    for quality, wanted in QUALITY_INTERVALS.items():
        if intervals == wanted:
            return f"{PITCH_NAMES[root_pc]}:{quality}"
    degrees = ",".join(_interval_degree(i) for i in intervals if i)
    return f"{PITCH_NAMES[root_pc]}:({degrees})"


def _interval_degree(semitones: int) -> str:
    return ("1", "b2", "2", "b3", "3", "4", "b5", "5", "b6", "6", "b7", "7")[semitones]


@functools.lru_cache(maxsize=8)
def chorale(number: int, bpm: float = 84.0, program: int = PIANO, max_beats: int | None = None) -> Piece:
    """Riemenschneider chorale `number` (1–5) played at a constant tempo, one voice per channel.

    Fermatas are not held, so beats are exact; chords come from the analysis (one per label,
    clipped to the rendered span), the key from the analysis' first key."""
    from music21 import corpus, roman

    score = corpus.parse(f"bach/{CHORALE_BWV[number]}")
    analysis = corpus.parse(f"bach/choraleAnalyses/riemenschneider{number:03d}.rntxt")
    period = 60.0 / bpm
    total_beats = float(score.highestTime) if max_beats is None else float(max_beats)
    notes = []
    for voice, part in enumerate(score.parts):
        for n in part.flatten().stripTies().notes:
            start = float(n.offset)
            if start >= total_beats:
                continue
            end = min(start + float(n.quarterLength), total_beats)
            for p in getattr(n, "pitches", ()):
                notes.append(Note(start * period, end * period, p.midi, 80, program, voice))
    numerals = list(analysis.recurse().getElementsByClass(roman.RomanNumeral))
    chords = []
    for i, rn in enumerate(numerals):
        start = float(rn.getOffsetInHierarchy(analysis))
        end = float(numerals[i + 1].getOffsetInHierarchy(analysis)) if i + 1 < len(numerals) else total_beats
        end = min(end, total_beats)
        if start < end:
            label = chord_label(rn.root().pitchClass, [p.pitchClass for p in rn.pitches])
            chords.append((start * period, end * period, label))
    first_key = numerals[0].key
    key = f"{first_key.tonic.name.replace('-', 'b')} {first_key.mode}"
    time_signature = score.parts[0].getTimeSignatures()[0]
    beats_per_bar = int(time_signature.numerator)
    pickup = float(score.parts[0].getElementsByClass("Measure")[0].duration.quarterLength)
    offset = int(round(pickup)) % beats_per_bar
    beats, downbeats = beat_grid(bpm, int(total_beats), beats_per_bar, offset)
    return Piece(
        f"chorale{number:03d}@{bpm:g}", tuple(notes), bpm, beats, downbeats, beats_per_bar, key, tuple(chords)
    )


# ---------------------------------------------------------------------------------------------
# Synthetic tonal music: progressions named by Roman numerals, voiced and figurated

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
HARMONIC_MINOR = (0, 2, 3, 5, 7, 8, 11)
NUMERALS = {
    "major": {
        "I": (0, "maj"), "ii": (2, "min"), "iii": (4, "min"), "IV": (5, "maj"), "V": (7, "maj"),
        "vi": (9, "min"), "viio": (11, "dim"), "V7": (7, "7"), "ii7": (2, "min7"), "IVmaj7": (5, "maj7"),
        "Imaj7": (0, "maj7"), "vi7": (9, "min7"), "Vsus4": (7, "sus4"), "Isus2": (0, "sus2"),
        "V/V": (2, "maj"), "V7/IV": (0, "7"), "bVII": (10, "maj"), "V+": (7, "aug"), "iv": (5, "min"),
    },
    "minor": {
        "i": (0, "min"), "iio": (2, "dim"), "III": (3, "maj"), "iv": (5, "min"), "v": (7, "min"),
        "V": (7, "maj"), "V7": (7, "7"), "VI": (8, "maj"), "VII": (10, "maj"), "iv7": (5, "min7"),
        "i7": (0, "min7"), "VImaj7": (8, "maj7"), "III+": (3, "aug"), "Vsus4": (7, "sus4"),
        "viio": (11, "dim"), "IV": (5, "maj"),
    },
}
INVERSIONS = {"": 0, "6": 1, "64": 2}


def parse_numeral(symbol: str, mode: str) -> tuple[int, str, int]:
    """"V7" → (7, "7", 0); "I6" → first inversion; "ii64" → second inversion."""
    for suffix in ("64", "6", ""):
        base = symbol[: len(symbol) - len(suffix)] if suffix else symbol
        if symbol.endswith(suffix) and base in NUMERALS[mode]:
            degree, quality = NUMERALS[mode][base]
            return degree, quality, INVERSIONS[suffix]
    raise ValueError(f"unknown numeral {symbol!r} in {mode}")


def _nearest(pc: int, centre: float) -> int:
    """The MIDI note of pitch class `pc` nearest to `centre`."""
    base = int(round(centre)) - 6
    return base + (pc - base) % 12


def voice_chord(root_pc: int, quality: str, inversion: int, centre: float = 65.0) -> tuple[int, list[int]]:
    """Bass note (E1–D#3 region) plus the chord's pitch classes as upper voices around `centre`."""
    intervals = QUALITY_INTERVALS[quality]
    bass_pc = (root_pc + intervals[min(inversion, len(intervals) - 1)]) % 12
    bass = _nearest(bass_pc, 45.0)
    upper = sorted(_nearest((root_pc + i) % 12, centre) for i in intervals)
    return bass, upper


def progression(
    tonic: int,
    mode: str,
    numerals: Sequence[str],
    bpm: float = 100.0,
    beats_per_chord: int = 2,
    program: int = PIANO,
    figuration: str = "block",
    neighbour_tones: bool = False,
    bass_program: int | None = None,
    beats_per_bar: int = 4,
    velocity: int = 85,
    name: str | None = None,
) -> Piece:
    """A chord progression in `tonic` (pitch class) `mode`, figurated:

    block     all voices sustain each chord
    pulse     the chord is restruck on every beat
    arpeggio  bass held, upper voices broken in eighths
    chorale   four voices; a voice that leaps a third to the next chord fills it with a
              passing tone on the last half-beat (as in the Bach chorales)
    Neighbour tones put a non-chord tone in the top voice on the chord's last half-beat."""
    period = 60.0 / bpm
    scale = MAJOR_SCALE if mode == "major" else HARMONIC_MINOR
    notes: list[Note] = []
    chords = []
    voicings = []
    for symbol in numerals:
        degree, quality, inversion = parse_numeral(symbol, mode)
        root = (tonic + degree) % 12
        voicings.append((root, quality, *voice_chord(root, quality, inversion)))
    for index, (root, quality, bass, upper) in enumerate(voicings):
        t0 = index * beats_per_chord * period
        t1 = t0 + beats_per_chord * period
        chords.append((round(t0, 6), round(t1, 6), f"{PITCH_NAMES[root]}:{quality}"))
        bass_program_used = bass_program if bass_program is not None else program
        if figuration == "chorale":
            following = voicings[index + 1] if index + 1 < len(voicings) else None
            voices = [bass] + _three_voices(upper, root)
            targets = [following[2]] + _three_voices(following[3], following[0]) if following else voices
            for voice, (p, q) in enumerate(zip(voices, targets)):
                between = [x for x in range(min(p, q) + 1, max(p, q)) if (x - tonic) % 12 in scale]
                split = t1 - period / 2 if 3 <= abs(q - p) <= 4 and between else t1
                prog = bass_program_used if voice == 0 else program
                notes.append(Note(t0, split, p, velocity, prog, voice + 1))
                if split < t1:
                    notes.append(Note(split, t1, between[0], velocity, prog, voice + 1))
            continue
        notes.append(Note(t0, t1, bass, velocity, bass_program_used, 1))
        top_end = t1
        if neighbour_tones and beats_per_chord >= 2:
            top_end = t1 - period / 2
            top = upper[-1]
            step = next(p for p in range(top + 1, top + 4) if (p - tonic) % 12 in scale)
            notes.append(Note(top_end, t1, step, velocity, program, 2))
        for beat in range(beats_per_chord):
            b0 = t0 + beat * period
            if figuration == "block" and beat == 0:
                notes += [Note(b0, top_end if p == upper[-1] else t1, p, velocity, program, 2) for p in upper]
            elif figuration == "pulse":
                end = min(b0 + period * 0.9, top_end if beat == beats_per_chord - 1 else t1)
                notes += [Note(b0, end, p, velocity, program, 2) for p in upper if not (end <= b0)]
            elif figuration == "arpeggio":
                for half in range(2):
                    h0 = b0 + half * period / 2
                    if h0 >= top_end - 1e-9 and neighbour_tones:
                        continue
                    p = upper[(2 * beat + half) % len(upper)]
                    notes.append(Note(h0, h0 + period / 2, p, velocity, program, 2))
    n_beats = len(numerals) * beats_per_chord
    beats, downbeats = beat_grid(bpm, n_beats, beats_per_bar)
    key = f"{PITCH_NAMES[tonic]} {mode}"
    label = name or f"{key} {'-'.join(numerals)} @{bpm:g} prog{program} {figuration}"
    return Piece(label, tuple(notes), bpm, beats, downbeats, beats_per_bar, key, tuple(chords))


def _three_voices(upper: list[int], root: int) -> list[int]:
    """Upper voices of a chorale texture: seventh chords drop their fifth."""
    if len(upper) <= 3:
        return upper
    fifth = [p for p in upper if (p - root) % 12 == 7]
    return [p for p in upper if p != (fifth[0] if fifth else upper[1])]


CADENTIAL = {
    "major": (
        ("I", "IV", "V7", "I"),
        ("I", "vi", "ii", "V", "I"),
        ("I", "IV", "I64", "V7", "I"),
        ("I", "ii7", "V7", "I"),
        ("I", "V6", "vi", "IV", "V", "I"),
    ),
    "minor": (
        ("i", "iv", "V7", "i"),
        ("i", "VI", "iio6", "V", "i"),
        ("i", "iv", "i64", "V7", "i"),
        ("i", "III", "iv", "V", "i"),
        ("i", "V6", "i", "iv", "V7", "i"),
    ),
}

FUNCTIONS = {
    "major": {
        "T": ("I", "I", "vi", "I6", "iii", "Imaj7"),
        "S": ("IV", "ii", "ii7", "IVmaj7", "ii6", "IV6", "vi7"),
        "D": ("V", "V7", "V", "viio6", "V6", "Vsus4"),
    },
    "minor": {
        "T": ("i", "i", "VI", "i6", "III", "i7"),
        "S": ("iv", "iio6", "iv7", "VI", "iv6", "VImaj7"),
        "D": ("V", "V7", "V", "viio6", "V6", "VII"),
    },
}


def random_progression(rng: np.random.Generator, mode: str, phrases: int = 3) -> list[str]:
    """Functional harmony: phrases of tonic–predominant–dominant–tonic ending on a V(7)–I cadence."""
    tonic_chord = "I" if mode == "major" else "i"
    chords: list[str] = []
    for phrase in range(phrases):
        pick = lambda f: str(rng.choice(FUNCTIONS[mode][f]))  # noqa: E731
        chords += [tonic_chord if phrase == 0 else pick("T"), pick("S")]
        if rng.random() < 0.5:
            chords.append(pick("S"))
        chords += [pick("D"), pick("T") if phrase < phrases - 1 else tonic_chord]
    chords[-2] = "V7" if rng.random() < 0.5 else "V"
    return chords


def synthetic_tonal_set(count: int, seed: int = 0) -> list[Piece]:
    """Random keys, modes, instruments, tempi and figurations (the tuning set for key profiles)."""
    rng = np.random.default_rng(seed)
    pieces = []
    for i in range(count):
        mode = ("major", "minor")[i % 2]
        tonic = int(rng.integers(12))
        numerals = random_progression(rng, mode, phrases=int(rng.integers(2, 4)))
        pieces.append(
            progression(
                tonic,
                mode,
                numerals,
                bpm=float(rng.choice([66, 80, 92, 100, 112, 126, 140])),
                beats_per_chord=int(rng.choice([1, 2, 2, 4])),
                program=int(rng.choice([PIANO, ORGAN, STRINGS, GUITAR, EPIANO, CHOIR])),
                figuration=str(rng.choice(["block", "pulse", "arpeggio"])),
                neighbour_tones=bool(rng.random() < 0.5),
                bass_program=BASS if rng.random() < 0.3 else None,
            )
        )
    return pieces


# ---------------------------------------------------------------------------------------------
# Drum grooves through the GM kit (channel 10)

GROOVES = {
    # name: (beats per bar, steps per beat, {drum: steps that hit within one bar})
    "rock": (4, 2, {KICK: (0, 4, 5), SNARE: (2, 6), HAT: tuple(range(8))}),
    "four_on_floor": (4, 2, {KICK: (0, 2, 4, 6), CLAP: (2, 6), OPEN_HAT: (1, 3, 5, 7)}),
    "funk": (4, 4, {KICK: (0, 7, 10), SNARE: (4, 12), HAT: tuple(range(16))}),
    "halftime": (4, 2, {KICK: (0, 3), SNARE: (4,), HAT: tuple(range(8))}),
    "breakbeat": (4, 4, {KICK: (0, 10), SNARE: (4, 12), HAT: tuple(range(0, 16, 2)), RIDE: (14,)}),
    "waltz": (3, 2, {KICK: (0,), SNARE: (2, 4), HAT: tuple(range(6))}),
}


def drum_groove(style: str, bpm: float, bars: int = 8, bass_root: int | None = None) -> Piece:
    """A drum pattern (accented downbeat hits), optionally with a bass note on each bar's first beat."""
    beats_per_bar, steps_per_beat, hits = GROOVES[style]
    period = 60.0 / bpm
    step = period / steps_per_beat
    notes = []
    for bar in range(bars):
        bar_start = bar * beats_per_bar * period
        for drum, steps in hits.items():
            for s in steps:
                t = bar_start + s * step
                accent = 110 if s % steps_per_beat == 0 else 75
                notes.append(Note(t, t + 0.1, drum, accent, 0, 0, drum=True))
        if bass_root is not None:
            notes.append(Note(bar_start, bar_start + beats_per_bar * period * 0.9, bass_root, 100, BASS, 1))
    beats, downbeats = beat_grid(bpm, bars * beats_per_bar, beats_per_bar)
    return Piece(f"{style}@{bpm:g}", tuple(notes), bpm, beats, downbeats, beats_per_bar)


# ---------------------------------------------------------------------------------------------
# Melody over accompaniment, and songs with repeated sections

def melody_piece(
    tonic: int = 7,
    bpm: float = 96.0,
    program: int = FLUTE,
    accompaniment: bool = True,
    seed: int = 0,
    bars: int = 4,
) -> Piece:
    """A stepwise diatonic melody (quarters and eighths, octave 5) over soft block chords."""
    rng = np.random.default_rng(seed)
    period = 60.0 / bpm
    degrees = [0]
    while len(degrees) < bars * 6:
        degrees.append(int(np.clip(degrees[-1] + rng.choice([-2, -1, 1, 2]), -3, 9)))
    melody, t, i = [], 0.0, 0
    while t < bars * 4 * period - 1e-9:
        length = period / 2 if rng.random() < 0.35 else period
        d = degrees[i % len(degrees)]
        pitch = 72 + tonic % 12 - 12 * (tonic % 12 > 6) + 12 * (d // 7) + MAJOR_SCALE[d % 7]
        melody.append(Note(t, t + length * 0.95, int(pitch), 100, program, 3))
        t += length
        i += 1
    piece = progression(tonic, "major", ["I", "IV", "V", "I"] * (bars // 4 or 1), bpm, 4, PIANO, velocity=45)
    notes = melody + (list(piece.notes) if accompaniment else [])
    return replace(
        piece, name=f"melody prog{program} @{bpm:g}", notes=tuple(notes), melody=tuple(melody)
    )


def sectioned_song(form: str = "ABAB", bpm: float = 120.0, bars_per_section: int = 4) -> Piece:
    """Sections with distinct harmony, instrument and groove, repeated as `form` says."""
    material = {
        "A": (0, "major", ("I", "V", "vi", "IV"), PIANO, "rock"),
        "B": (9, "minor", ("i", "iv", "VI", "V"), STRINGS, "four_on_floor"),
        "C": (5, "major", ("ii7", "V7", "Imaj7", "vi7"), ORGAN, "funk"),
        "D": (2, "minor", ("i", "VII", "VI", "VII"), GUITAR, "halftime"),
    }
    period = 60.0 / bpm
    section_s = bars_per_section * 4 * period
    notes: list[Note] = []
    sections, chords = [], []
    for index, letter in enumerate(form):
        tonic, mode, numerals, program, groove = material[letter]
        t0 = index * section_s
        harmony = progression(tonic, mode, numerals * (bars_per_section // len(numerals) or 1), bpm, 4, program, "pulse")
        drums = drum_groove(groove, bpm, bars_per_section)
        for n in harmony.notes + drums.notes:
            notes.append(replace(n, start=n.start + t0, end=n.end + t0))
        chords += [(a + t0, b + t0, c) for a, b, c in harmony.chords]
        sections.append((round(t0, 6), round(t0 + section_s, 6), letter))
    beats, downbeats = beat_grid(bpm, len(form) * bars_per_section * 4, 4)
    return Piece(f"song {form}", tuple(notes), bpm, beats, downbeats, 4, None, tuple(chords), (), tuple(sections))


# ---------------------------------------------------------------------------------------------
# Plain signals

def tone(freq: float, seconds: float, sr: int = 44100, channels: int = 1, level_db: float = -12.0) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    wave = (10 ** (level_db / 20)) * np.sin(2 * np.pi * freq * t)
    return np.tile(wave, (channels, 1)).astype(np.float32)


def noise(seconds: float, sr: int = 44100, channels: int = 1, level_db: float = -20.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ((10 ** (level_db / 20)) * rng.standard_normal((channels, int(seconds * sr)))).astype(np.float32)


def resample_to(audio: np.ndarray, sr_from: int, sr_to: int) -> np.ndarray:
    import soxr

    return np.ascontiguousarray(soxr.resample(audio.T, sr_from, sr_to).T.astype(np.float32))


def as_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    """Stereo render → mono (mean) or a 5.1 layout (L R C LFE Ls Rs) carrying the same music."""
    mono = audio.mean(axis=0, keepdims=True)
    if channels == 1:
        return mono
    if channels == 2:
        return audio
    left, right = audio
    return np.stack([left, right, mono[0] * 0.7, np.zeros_like(left), left * 0.5, right * 0.5]).astype(np.float32)
