"""FluidSynth rendering: pitch, timing with a tempo map, levels, SoundFont errors."""

from __future__ import annotations

import itertools

import mido
import numpy as np
import pytest
from midi_signals import SR, cents, note, onset_frame, peak_frequency

from audiolla_mcp.engines import fluidsynth
from audiolla_mcp.errors import Cancelled, ToolError
from audiolla_mcp.ops import midi as M
from audiolla_mcp.progress import CancelToken


def compose(spec: dict):
    return M.compose(M.parse_spec(M.CompositionSpec, spec))


def single_note(pitch: int | str, program: int = 0, **spec) -> dict:
    return {
        "tempo_bpm": 120,
        **spec,
        "tracks": [{"program": program, "notes": [note(pitch, 0, 2)]}],
    }


@pytest.mark.parametrize(("pitch", "program"), [("A4", 0), ("A2", 0), ("C5", 40), ("E2", 33)])
def test_single_note_pitch_within_5_cents(pitch, program):
    rendering = fluidsynth.render(compose(single_note(pitch, program)), reverb=False, chorus=False)
    middle = rendering.audio.mean(axis=0)[int(0.3 * SR) : int(0.3 * SR) + 32768]
    expected = 440.0 * 2 ** ((M.note_number(pitch) - 69) / 12)
    assert abs(cents(peak_frequency(middle, SR, near=expected), expected)) <= 5.0


def test_rendering_is_stereo_float32_with_a_tail():
    rendering = fluidsynth.render(compose(single_note("C4")))
    assert rendering.audio.dtype == np.float32 and rendering.audio.shape[0] == 2
    assert rendering.sample_rate == SR and rendering.soundfont == "FluidR3_GM.sf2"
    notes_end = int(1.0 * SR)  # two beats at 120 BPM
    assert notes_end < rendering.audio.shape[1] <= notes_end + 5 * SR
    assert np.abs(rendering.audio[:, notes_end:]).max() > 1e-3  # release and reverb are kept
    assert rendering.limited_db == 0.0
    assert rendering.peak_dbfs == pytest.approx(
        20 * np.log10(np.abs(rendering.audio).max()), abs=0.01
    )


def test_onsets_follow_the_tempo_map():
    spec = {
        "tempo_bpm": 120,
        "tempo_changes": [{"beat": 2, "bpm": 60}],
        "tracks": [{"drums": True, "notes": [note("C2", 0, 0.25), note("C2", 3, 0.25)]}],
    }
    audio = fluidsynth.render(compose(spec), reverb=False, chorus=False).audio.mean(axis=0)
    expected = 2 * 0.5 + 1 * 1.0  # two beats at 120 BPM, then one at 60 BPM
    level = 0.01 * np.abs(audio).max()
    first = onset_frame(audio, level)
    later = int((expected - 0.1) * SR)
    second = later + onset_frame(audio[later:], level)
    assert first / SR <= 0.005  # the kick sample's own attack
    assert abs((second - first) / SR - expected) <= 64 / SR  # one FluidSynth block


def test_drum_channel_renders_drum_sounds():
    kit = M.drum_pattern(
        M.parse_spec(M.DrumPatternSpec, {"voices": [{"voice": "kick", "pattern": "x..."}]})
    )
    audio = fluidsynth.render(kit, reverb=False, chorus=False).audio.mean(axis=0)
    beat = SR // 2
    hits = [onset_frame(audio[i * beat : (i + 1) * beat], 1e-3) for i in range(4)]
    assert all(h <= 0.003 * SR for h in hits)  # a kick right at each beat
    spectrum = np.abs(np.fft.rfft(audio[:beat]))
    freqs = np.fft.rfftfreq(beat, 1 / SR)
    assert freqs[np.argmax(spectrum)] < 150  # a kick drum, not a piano note


def test_renders_without_reverb_are_identical_and_gain_scales():
    midi = compose(single_note("G4"))
    first = fluidsynth.render(midi, reverb=False, chorus=False)
    fluidsynth.render(compose(single_note("C2", 48)))  # something else in between
    again = fluidsynth.render(midi, reverb=False, chorus=False)
    louder = fluidsynth.render(midi, reverb=False, chorus=False, gain_db=6.0)
    assert np.array_equal(first.audio, again.audio)
    assert np.allclose(louder.audio, first.audio * 10 ** (6 / 20), atol=1e-6)


def test_reverb_switch_changes_the_sound_and_its_tail():
    midi = compose(single_note("G4"))
    wet = fluidsynth.render(midi, reverb=True, chorus=False).audio
    dry = fluidsynth.render(midi, reverb=False, chorus=False).audio
    assert wet.shape[1] > dry.shape[1]
    common = dry.shape[1]
    assert np.abs(wet[:, :common] - dry[:, :common]).max() > 0.05 * np.abs(dry).max()


def test_clipping_output_is_brought_to_minus_1_dbfs():
    rendering = fluidsynth.render(compose(single_note("C3")), gain_db=40.0)
    assert np.abs(rendering.audio).max() == pytest.approx(10 ** (-1 / 20), rel=1e-5)
    assert rendering.peak_dbfs == pytest.approx(-1.0, abs=0.01)
    assert rendering.limited_db < -10


def test_sample_rate_sets_pitch_and_length():
    rendering = fluidsynth.render(
        compose(single_note("A4")), sample_rate=48000, reverb=False, chorus=False
    )
    assert rendering.sample_rate == 48000
    middle = rendering.audio.mean(axis=0)[int(0.3 * 48000) : int(0.3 * 48000) + 32768]
    assert abs(cents(peak_frequency(middle, 48000, near=440.0), 440.0)) <= 5.0


def crossing_file() -> mido.MidiFile:
    """24 s at 120 BPM that a cut into parts must carry across: staccato piano all through
    (a program change halfway), a strings note held for 20 s and bent late, a key struck
    again while it still sounds, and a sustain pedal holding a released note for 6 s."""
    ticks = 480  # per beat; a beat lasts 0.5 s

    def at(beat: float, kind: str, channel: int, **fields) -> tuple[int, mido.Message]:
        return round(beat * ticks), mido.Message(kind, channel=channel, **fields)

    events = [at(0, "program_change", 0, program=4), at(24, "program_change", 0, program=11),
              at(0, "program_change", 1, program=48)]  # fmt: skip
    for beat in range(48):
        note = 72 + (beat * 5) % 12
        events += [at(beat, "note_on", 0, note=note, velocity=90),
                   at(beat + 0.5, "note_off", 0, note=note)]  # fmt: skip
    events += [
        at(4, "note_on", 1, note=55, velocity=70),
        at(36, "pitchwheel", 1, pitch=4096),
        at(44, "note_off", 1, note=55),
        at(12, "note_on", 2, note=60, velocity=80),
        at(16, "note_on", 2, note=60, velocity=80),
        at(20, "note_off", 2, note=60),
        at(12, "control_change", 3, control=64, value=127),
        at(13, "note_on", 3, note=67, velocity=80),
        at(14, "note_off", 3, note=67),
        at(26, "control_change", 3, control=64, value=0),
    ]
    track, now = mido.MidiTrack(), 0
    for when, msg in sorted(events, key=lambda e: e[0]):
        track.append(msg.copy(time=when - now))
        now = when
    return mido.MidiFile(type=0, ticks_per_beat=ticks, tracks=[track])


@pytest.mark.parametrize("parts", [2, 3])
def test_parts_add_up_to_what_one_synth_plays(parts):
    midi = crossing_file()
    whole = fluidsynth.render(midi, reverb=False, chorus=False, parts=1).audio
    split = fluidsynth.render(midi, reverb=False, chorus=False, parts=parts).audio
    assert split.shape == whole.shape
    error = np.sqrt(np.mean((split - whole) ** 2) / np.mean(whole**2))
    assert error < 1e-3  # -60 dB: what differs is rounding and voice-slot history


def test_progress_and_cancellation():
    midi = compose({"tracks": [{"notes": [note(60 + (i % 12), i * 0.5, 0.5) for i in range(40)]}]})
    reports = []
    fluidsynth.render(midi, progress=lambda done, total, msg: reports.append((done, total)))
    assert reports[-1][0] == reports[-1][1] and len(reports) >= 5
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(reports))
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        fluidsynth.render(midi, cancel=token)


def test_missing_soundfont_says_how_to_install_one(tmp_path):
    with pytest.raises(ToolError, match="apt-get install fluid-soundfont-gm"):
        fluidsynth.render(compose(single_note("C4")), soundfont=tmp_path / "none.sf2")


def test_missing_default_soundfont_says_how_to_install_one(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIOLLA_SOUNDFONT", str(tmp_path / "gone.sf2"))
    with pytest.raises(ToolError, match="apt-get install fluid-soundfont-gm"):
        fluidsynth.render(compose(single_note("C4")))


@pytest.mark.parametrize(
    "content",
    [b"RIFF\x10\x00\x00\x00sfbkLIST" + bytes(range(256)) * 8, b"not a soundfont at all"],
)
def test_corrupt_soundfont_is_a_tool_error(tmp_path, capfd, content):
    path = tmp_path / "broken.sf2"
    path.write_bytes(content)
    with pytest.raises(ToolError, match="damaged or not an SF2/SF3"):
        fluidsynth.render(compose(single_note("C4")), soundfont=path)
    assert capfd.readouterr().out == ""  # FluidSynth's complaints never reach stdout


def test_truncated_copy_of_a_real_soundfont_is_a_tool_error(tmp_path):
    path = tmp_path / "half.sf2"
    with open(fluidsynth.DEFAULT_SOUNDFONT, "rb") as source:
        path.write_bytes(source.read(2_000_000))
    with pytest.raises(ToolError, match="damaged"):
        fluidsynth.render(compose(single_note("C4")), soundfont=path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"soundfont": "piano.wav"}, "not a SoundFont"),
        ({"sample_rate": 1000}, "sample_rate"),
        ({"gain_db": 60}, "gain_db"),
    ],
)
def test_bad_render_options(kwargs, message):
    with pytest.raises(ToolError, match=message):
        fluidsynth.render(compose(single_note("C4")), **kwargs)


def test_a_file_without_notes_is_a_tool_error():
    silent = M.transform(compose(single_note("C4")), drop_channels=[0])
    with pytest.raises(ToolError, match="no notes"):
        fluidsynth.render(silent)


def test_an_overlong_file_is_a_tool_error():
    long = compose(
        {"tempo_bpm": 120, "tracks": [{"notes": [note("C4", 0, 1), note("C4", 4000, 1)]}]}
    )
    with pytest.raises(ToolError, match="render at most 30 min"):
        fluidsynth.render(long)
