"""MIDI ops: spec validation, compose/inspect, transform, humanize, drum patterns, chords."""

from __future__ import annotations

import mido
import pytest
from midi_signals import note, piano_piece

from audiolla_mcp.errors import ToolError
from audiolla_mcp.ops import midi as M


def compose(spec: dict) -> mido.MidiFile:
    return M.compose(M.parse_spec(M.CompositionSpec, spec))


def notes_of(midi: mido.MidiFile) -> list[tuple[int, int, int, int, int]]:
    """(onset tick, channel, pitch, velocity, length in ticks) of every note, sorted."""
    found = []
    for track in midi.tracks:
        held: dict[tuple[int, int], list[tuple[int, int]]] = {}
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "note_on" and msg.velocity:
                held.setdefault((msg.channel, msg.note), []).append((tick, msg.velocity))
            elif msg.type in ("note_on", "note_off"):
                start, velocity = held[(msg.channel, msg.note)].pop(0)
                found.append((start, msg.channel, msg.note, velocity, tick - start))
    return sorted(found)


def two_track_piece() -> dict:
    return {
        "tempo_bpm": 100,
        "tempo_changes": [{"beat": 4, "bpm": 60}],
        "time_signature": "3/4",
        "key_signature": "Bb",
        "tracks": [
            {
                "name": "Lead",
                "program": 73,
                "notes": [note("C4", 0, 1), note("E4", 1, 1), note("G5", 2, 2, 110)],
            },
            {"name": "Kit", "drums": True, "notes": [note(36, 0, 0.5), note(38, 1, 0.5)]},
        ],
    }


# --- pitch names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "number"),
    [("C4", 60), ("C#4", 61), ("Db4", 61), ("Bb3", 58), ("B#3", 60), ("C-1", 0), ("G9", 127),
     ("a4", 69), (" 72 ", 72), (64, 64)],
)  # fmt: skip
def test_note_number_reads_names_and_numbers(name, number):
    assert M.note_number(name) == number


@pytest.mark.parametrize("bad", ["H2", "C", "C#", "G#9", 128, -1, True, 3.5, "C٣", "A-᥇"])
def test_note_number_rejects_what_is_not_a_pitch(bad):
    with pytest.raises(ValueError):
        M.note_number(bad)


def test_note_name_inverts_note_number():
    assert [M.note_name(n) for n in (0, 60, 61, 69, 127)] == ["C-1", "C4", "C#4", "A4", "G9"]
    assert all(M.note_number(M.note_name(n)) == n for n in range(128))


# --- validation ---------------------------------------------------------------------------


def bad_spec(**changes) -> dict:
    spec = two_track_piece()
    track = spec["tracks"][1]
    track["notes"] = [*track["notes"], note(40, 2, 1), {**note(42, 3, 1), **changes}]
    return spec


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pitch": 130}, "tracks[1].notes[3].pitch: 130 is outside 0–127"),
        ({"pitch": "H#2"}, "tracks[1].notes[3].pitch: 'H#2' is not a pitch"),
        ({"duration": -1}, "tracks[1].notes[3].duration: -1 must be > 0"),
        ({"duration": 0}, "tracks[1].notes[3].duration: 0 must be > 0"),
        ({"start": -0.5}, "tracks[1].notes[3].start: -0.5 must be ≥ 0"),
        ({"velocity": 0}, "tracks[1].notes[3].velocity: 0 must be ≥ 1"),
        ({"vel": 3}, "tracks[1].notes[3].vel: Extra inputs are not permitted"),
    ],
)
def test_validation_names_the_note_and_track(changes, message):
    with pytest.raises(ToolError) as err:
        M.parse_spec(M.CompositionSpec, bad_spec(**changes))
    assert message in str(err.value)


def test_validation_rejects_channel_16_empty_tracks_and_no_tracks():
    spec = two_track_piece()
    spec["tracks"][0]["channel"] = 16
    spec["tracks"].append({"name": "Empty", "notes": []})
    with pytest.raises(ToolError) as err:
        M.parse_spec(M.CompositionSpec, spec)
    assert "tracks[0].channel: 16 must be ≤ 15" in str(err.value)
    assert "tracks[2].notes: needs at least 1 entry, got 0" in str(err.value)
    with pytest.raises(ToolError, match="tracks: needs at least 1 entry"):
        M.parse_spec(M.CompositionSpec, {"tracks": []})


def test_validation_rejects_bad_globals_and_a_drum_track_off_channel_9():
    spec = two_track_piece()
    spec.update(tempo_bpm=500, time_signature="4/3", key_signature="H")
    spec["tracks"][1]["channel"] = 3
    with pytest.raises(ToolError) as err:
        M.parse_spec(M.CompositionSpec, spec)
    text = str(err.value)
    assert "tempo_bpm: 500 must be ≤ 400" in text
    assert "time_signature:" in text
    assert "key_signature:" in text
    assert "tracks[1]: a drum track plays on channel 9" in text
    with pytest.raises(ToolError, match="time_signature"):
        M.parse_spec(M.CompositionSpec, {**two_track_piece(), "time_signature": "೦๖/32"})


# --- compose & inspect --------------------------------------------------------------------


def test_compose_writes_exact_notes_channels_and_programs():
    midi = compose(two_track_piece())
    tpb = midi.ticks_per_beat
    assert notes_of(midi) == [
        (0, 0, 60, 90, tpb),
        (0, 9, 36, 90, tpb // 2),
        (tpb, 0, 64, 90, tpb),
        (tpb, 9, 38, 90, tpb // 2),
        (2 * tpb, 0, 79, 110, 2 * tpb),
    ]
    programs = [
        (m.channel, m.program) for t in midi.tracks for m in t if m.type == "program_change"
    ]
    assert programs == [(0, 73), (9, 0)]


def test_inspect_reports_tempo_map_signatures_tracks_and_length():
    midi = M.midi_from_bytes(M.midi_to_bytes(compose(two_track_piece())))
    info = M.inspect(midi)
    assert info.tempo_map == [
        {"beat": 0.0, "bpm": 100.0, "time_s": 0.0},
        {"beat": 4.0, "bpm": 60.0, "time_s": 2.4},
    ]
    assert info.time_signatures == [{"beat": 0.0, "numerator": 3, "denominator": 4}]
    assert info.key_signatures == [{"beat": 0.0, "key": "Bb"}]
    assert info.length_beats == 4.0
    assert info.length_s == pytest.approx(2.4)
    assert info.note_count == 5
    assert (info.pitch_min, info.pitch_max) == (60, 79)  # drums are not pitches
    lead, kit = info.tracks[1], info.tracks[2]
    assert (lead.name, lead.channels, lead.note_count, lead.drums) == ("Lead", [0], 3, False)
    assert lead.programs == [{"beat": 0.0, "channel": 0, "program": 73, "name": "Flute"}]
    assert (kit.channels, kit.note_count, kit.drums, kit.pitch_min) == ([9], 2, True, 36)
    assert not info.truncated


def test_names_in_any_script_are_stored_as_utf8_and_read_back():
    spec = two_track_piece()
    spec["tracks"][0]["name"] = "钢琴 — Klavier"
    data = M.midi_to_bytes(compose(spec))
    assert "钢琴 — Klavier".encode() in data
    assert "钢琴 — Klavier" in [t.name for t in M.inspect(M.midi_from_bytes(data)).tracks]


def test_inspect_caps_its_lists():
    spec = two_track_piece()
    spec["tempo_changes"] = [{"beat": b, "bpm": 60 + b} for b in range(1, 30)]
    info = M.inspect(compose(spec), max_items=5)
    assert len(info.tempo_map) == 5 and info.truncated


def test_length_in_seconds_follows_the_tempo_map():
    spec = two_track_piece()
    spec["tracks"][0]["notes"].append(note("C5", 6, 2))  # ends at beat 8
    info = M.inspect(compose(spec))
    assert info.length_beats == 8.0
    assert info.length_s == pytest.approx(4 * 0.6 + 4 * 1.0)


def test_channels_are_assigned_around_drums_and_explicit_ones():
    tracks = [{"notes": [note(60, 0, 1)]} for _ in range(11)]
    tracks[1]["channel"] = 0
    tracks[3]["drums"] = True
    midi = compose({"tracks": tracks})
    channels = [sorted({m.channel for m in t if hasattr(m, "channel")}) for t in midi.tracks[1:]]
    assert channels == [[1], [0], [2], [9], [3], [4], [5], [6], [7], [8], [10]]


@pytest.mark.parametrize("data", [b"", b"RIFF\x00\x00\x00\x00WAVEfmt ", b"hello world" * 10])
def test_non_midi_bytes_are_a_tool_error(data):
    with pytest.raises(ToolError, match="not a Standard MIDI File"):
        M.midi_from_bytes(data)


def test_truncated_midi_is_a_tool_error():
    data = M.midi_to_bytes(compose(two_track_piece()))
    with pytest.raises(ToolError, match="damaged"):
        M.midi_from_bytes(data[:40])


# --- transform ----------------------------------------------------------------------------


def test_transform_then_inspect_shows_exactly_the_change():
    source = compose(two_track_piece())
    before = M.inspect(source)
    after = M.inspect(M.transform(source, transpose=3, tempo_scale=2.0, velocity_scale=0.5))
    assert (after.pitch_min, after.pitch_max) == (before.pitch_min + 3, before.pitch_max + 3)
    assert after.tracks[2].pitch_min == before.tracks[2].pitch_min  # drums untouched
    assert [t["bpm"] for t in after.tempo_map] == [200.0, 120.0]
    assert after.length_s == pytest.approx(before.length_s / 2, abs=1e-3)
    assert after.length_beats == before.length_beats
    assert after.note_count == before.note_count
    velocities = [n[3] for n in notes_of(M.transform(source, velocity_scale=0.5))]
    assert velocities == [45, 45, 45, 45, 55]


def test_transform_leaves_the_input_untouched():
    source = compose(two_track_piece())
    data = M.midi_to_bytes(source)
    M.transform(source, transpose=-5, quantize_grid=0.5, tempo_bpm=90, velocity_scale=2)
    assert M.midi_to_bytes(source) == data


def test_tempo_override_replaces_the_whole_map():
    info = M.inspect(M.transform(compose(two_track_piece()), tempo_bpm=150))
    assert info.tempo_map == [{"beat": 0.0, "bpm": 150.0, "time_s": 0.0}]
    assert info.length_s == pytest.approx(4 * 60 / 150, abs=1e-4)


def test_keep_and_drop_channels():
    source = compose(two_track_piece())
    dropped = M.inspect(M.transform(source, drop_channels=[9]))
    assert [t.note_count for t in dropped.tracks] == [0, 3, 0]
    kept = M.inspect(M.transform(source, keep_channels=[9]))
    assert [t.note_count for t in kept.tracks] == [0, 0, 2]
    assert kept.tempo_map == M.inspect(source).tempo_map  # meta events stay


def test_transpose_out_of_range_is_a_tool_error():
    with pytest.raises(ToolError, match="outside 0–127"):
        M.transform(compose(two_track_piece()), transpose=60)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tempo_bpm": 120, "tempo_scale": 2}, "not both"),
        ({"swing": 0.3}, "swing needs quantize_grid"),
        ({"quantize_grid": 0}, "quantize_grid"),
        ({"drop_channels": [16]}, "channel 16 is outside 0–15"),
        ({"velocity_scale": 0}, "velocity_scale"),
    ],
)
def test_transform_rejects_bad_options(options, message):
    with pytest.raises(ToolError, match=message):
        M.transform(compose(two_track_piece()), **options)


def test_quantize_puts_every_onset_on_the_grid_and_keeps_lengths():
    loose = M.humanize(compose(piano_piece()), timing_ms=40, velocity_pct=0, seed=3)
    grid = loose.ticks_per_beat // 4
    before = notes_of(loose)
    assert sum(onset % grid != 0 for onset, *_ in before) > len(before) // 2
    after = notes_of(M.transform(loose, quantize_grid=0.25))
    assert all(onset % grid == 0 for onset, *_ in after)
    assert sorted(n[4] for n in after) == sorted(n[4] for n in before)


def test_quantize_strength_moves_part_of_the_way():
    midi = compose({"tracks": [{"notes": [note(60, 0.1, 1), note(62, 1.45, 0.5)]}]})
    half = notes_of(M.transform(midi, quantize_grid=0.5, quantize_strength=0.5))
    assert [n[0] for n in half] == [24, 708]  # 48 → 24 (grid point 0); 696 → 708 (720)


def test_swing_delays_every_second_grid_point():
    midi = compose({"tracks": [{"notes": [note(60, b * 0.5, 0.25) for b in range(4)]}]})
    swung = notes_of(M.transform(midi, quantize_grid=0.5, swing=1 / 3))
    assert [n[0] for n in swung] == [0, 320, 480, 800]


# --- humanize -----------------------------------------------------------------------------


def test_humanize_is_deterministic_per_seed_and_bounded():
    source = compose(piano_piece())
    first = M.midi_to_bytes(M.humanize(source, timing_ms=20, velocity_pct=10, seed=7))
    again = M.midi_to_bytes(M.humanize(source, timing_ms=20, velocity_pct=10, seed=7))
    other = M.midi_to_bytes(M.humanize(source, timing_ms=20, velocity_pct=10, seed=8))
    assert first == again
    assert first != other
    tempo = M.TempoMap(source)
    original, moved = notes_of(source), notes_of(M.midi_from_bytes(first))
    shifts = []
    for (t0, ch0, p0, v0, len0), (t1, ch1, p1, v1, len1) in zip(
        sorted(original, key=lambda n: n[1:3] + n[:1]),
        sorted(moved, key=lambda n: n[1:3] + n[:1]),
        strict=True,
    ):
        assert (ch0, p0, len0) == (ch1, p1, len1)
        assert abs(v1 - v0) <= round(v0 * 0.1) + 1
        shifts.append(tempo.seconds(t1) - tempo.seconds(t0))
    assert max(abs(s) for s in shifts) <= 0.020 + 1 / source.ticks_per_beat
    assert max(abs(s) for s in shifts) > 0.010  # it really moved notes


def test_humanize_with_zero_amounts_changes_nothing():
    source = compose(piano_piece())
    assert notes_of(M.humanize(source, timing_ms=0, velocity_pct=0)) == notes_of(source)


# --- drum patterns ------------------------------------------------------------------------


def test_drum_pattern_lands_on_channel_9_with_gm_notes_and_accents():
    spec = M.parse_spec(
        M.DrumPatternSpec,
        {
            "tempo_bpm": 100,
            "bars": 2,
            "voices": [
                {"voice": "kick", "pattern": "X...x...x...x..."},
                {"voice": "snare", "pattern": "....x.......x..g"},
                {"voice": "closed hat", "pattern": [80, 0] * 8},
                {"voice": 56, "pattern": "x" * 32},
            ],
        },
    )
    midi = M.drum_pattern(spec)
    found = notes_of(midi)
    assert {channel for _, channel, *_ in found} == {9}
    step = midi.ticks_per_beat // 4
    kicks = [(t // step, v) for t, _, p, v, _ in found if p == 36]
    assert kicks == [(0, 120), (4, 90), (8, 90), (12, 90), (16, 120), (20, 90), (24, 90), (28, 90)]
    snares = [(t // step, v) for t, _, p, v, _ in found if p == 38]
    assert snares[:3] == [(4, 90), (12, 90), (15, 45)]
    assert len([n for n in found if n[2] == 42]) == 16
    assert len([n for n in found if n[2] == 56]) == 32
    assert M.inspect(midi).tempo_map[0]["bpm"] == 100.0


def test_drum_pattern_swing_delays_odd_steps():
    spec = M.parse_spec(
        M.DrumPatternSpec, {"swing": 0.5, "voices": [{"voice": "closed_hat", "pattern": "xxxx"}]}
    )
    midi = M.drum_pattern(spec)
    step = midi.ticks_per_beat // 4
    assert [n[0] for n in notes_of(midi)][:4] == [
        0,
        step + step // 2,
        2 * step,
        3 * step + step // 2,
    ]


@pytest.mark.parametrize(
    ("voice", "message"),
    [
        ({"voice": "cymbal", "pattern": "x..."}, "voices[0].voice: unknown drum 'cymbal'"),
        ({"voice": "kick", "pattern": "x.y."}, "voices[0].pattern: unknown step symbol"),
        ({"voice": "kick", "pattern": "x.x.x"}, "voices[0].pattern has 5 steps"),
        ({"voice": "kick", "pattern": "| |"}, "the pattern has no steps"),
    ],
)
def test_drum_pattern_errors_name_the_voice(voice, message):
    with pytest.raises(ToolError, match=message.replace("[", r"\[").replace("]", r"\]")):
        M.parse_spec(M.DrumPatternSpec, {"voices": [voice]})


def test_drum_pattern_without_hits_is_a_tool_error():
    spec = M.parse_spec(M.DrumPatternSpec, {"voices": [{"voice": "kick", "pattern": "...."}]})
    with pytest.raises(ToolError, match="no hits"):
        M.drum_pattern(spec)


# --- chords -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "root", "intervals", "bass"),
    [
        ("C", 0, (0, 4, 7), None), ("Cmaj", 0, (0, 4, 7), None), ("Am", 9, (0, 3, 7), None),
        ("G7", 7, (0, 4, 7, 10), None), ("Fmaj7", 5, (0, 4, 7, 11), None),
        ("Dm7", 2, (0, 3, 7, 10), None), ("Bdim", 11, (0, 3, 6), None),
        ("Bdim7", 11, (0, 3, 6, 9), None), ("Bm7b5", 11, (0, 3, 6, 10), None),
        ("Eaug", 4, (0, 4, 8), None), ("Dsus2", 2, (0, 2, 7), None),
        ("Dsus4", 2, (0, 5, 7), None), ("Cadd9", 0, (0, 4, 7, 14), None),
        ("F6", 5, (0, 4, 7, 9), None), ("G9", 7, (0, 4, 7, 10, 14), None),
        ("Bbmaj7", 10, (0, 4, 7, 11), None), ("F#m", 6, (0, 3, 7), None),
        ("C/E", 0, (0, 4, 7), 4), ("Am7/G", 9, (0, 3, 7, 10), 7), ("C-7", 0, (0, 3, 7, 10), None),
        ("CΔ", 0, (0, 4, 7, 11), None), ("Bø", 11, (0, 3, 6, 10), None),
    ],
)  # fmt: skip
def test_parse_chord(symbol, root, intervals, bass):
    chord = M.parse_chord(symbol)
    assert (chord.root, chord.intervals, chord.bass) == (root, intervals, bass)


@pytest.mark.parametrize("symbol", ["H7", "Cxyz", "C/H", "", "7"])
def test_parse_chord_rejects_unknown_symbols(symbol):
    with pytest.raises(ToolError, match="not a chord symbol"):
        M.parse_chord(symbol)


def test_voicings():
    cmaj7 = M.parse_chord("Cmaj7")
    assert M.voice_chord(cmaj7, "close", 4) == [60, 64, 67, 71]
    assert M.voice_chord(cmaj7, "open", 4) == [60, 67, 76, 83]
    assert M.voice_chord(M.parse_chord("C"), "open", 4) == [60, 67, 76]
    assert M.voice_chord(cmaj7, "drop2", 4) == [55, 60, 64, 71]
    assert M.voice_chord(M.parse_chord("C/E"), "close", 4) == [52, 60, 64, 67]
    assert M.voice_chord(M.parse_chord("Am"), "close", 3) == [57, 60, 64]


def test_chords_to_midi_places_each_chord_and_its_bass():
    midi = M.chords_to_midi(
        "C Am | F G7:2 N.C. Dm7/C", beats_per_chord=2, voicing="close", bass=True
    )
    tpb = midi.ticks_per_beat
    found = notes_of(midi)
    chords, basses = {}, []
    for onset, channel, pitch, _, length in found:
        if channel == 0:
            chords.setdefault(onset // tpb, []).append(pitch)
        else:
            basses.append((onset // tpb, pitch, length // tpb))
    assert chords == {
        0: [60, 64, 67], 2: [69, 72, 76], 4: [65, 69, 72], 6: [67, 71, 74, 77], 10: [62, 65, 69, 72]
    }  # fmt: skip
    assert basses == [(0, 36, 2), (2, 45, 2), (4, 41, 2), (6, 43, 2), (10, 36, 2)]
    info = M.inspect(midi)
    assert [p["program"] for t in info.tracks for p in t.programs] == [0, 33]


def test_chords_to_midi_errors():
    with pytest.raises(ToolError, match="no chords"):
        M.chords_to_midi("N.C. | N.C.")
    with pytest.raises(ToolError, match="'G7:x': the length after ':'"):
        M.chords_to_midi("C G7:x")
    with pytest.raises(ToolError, match="not a chord symbol"):
        M.chords_to_midi("C Q7")


def test_edits_keep_a_trailing_rest():
    midi = compose({"tracks": [{"notes": [note(60, 0, 1)]}]})
    midi.tracks[1][-1].time = 3 * midi.ticks_per_beat  # end_of_track one bar after the start
    for edited in (
        M.transform(midi, transpose=2),
        M.transform(midi, quantize_grid=0.5),
        M.humanize(midi, seed=1),
    ):
        assert M.inspect(edited).length_beats == 4.0
