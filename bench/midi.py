"""MIDI rendering and transcription speed, first call and warm, against the issue's targets.

    .venv/bin/python bench/midi.py            # 3-min 8-track render, 30 s audio_to_midi
    .venv/bin/python bench/midi.py --repeat 5

Run it in a fresh process: the first render includes loading the SoundFont, the first
transcription includes importing basic-pitch and loading its ONNX model (numba kernels are
compiled by the installer's warm-up, so a first call here is what a user's first call costs).
CPU seconds count every thread; on a machine busy with other work they show what the wall time
would be on an idle one (renders play up to 4 parts side by side, one per core; transcription
uses all cores). Also prints the round-trip onset F-measure (compose → render → transcribe) of
the test piece on two pianos, and of a seeded figured piece on piano, guitar and flute.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "unit"))
sys.path.insert(0, str(ROOT / "src"))

import mir_eval  # noqa: E402
from midi_signals import figured_piece, piano_piece, reference_notes  # noqa: E402

from audiolla_mcp.engines import basic_pitch, fluidsynth  # noqa: E402
from audiolla_mcp.ops import midi as M  # noqa: E402

RENDER_TARGET_S = 2.0
TRANSCRIBE_TARGET_S = 3.0
FIRST_CALL_TARGET_S = 5.0
PROGRESSION = [(48, (0, 4, 7)), (57, (0, 3, 7)), (53, (0, 4, 7)), (55, (0, 4, 7, 10))]  # C Am F G7


def arrangement(bars: int = 90, bpm: float = 120.0, seed: int = 1) -> dict:
    """A 3-minute pop arrangement on 8 tracks (drums, bass, piano, strings, lead, guitar,
    brass, pad), one chord per bar."""
    rng = np.random.default_rng(seed)
    n = M.NoteSpec
    names = ("drums", "bass", "piano", "strings", "lead", "guitar", "brass", "pad")
    tracks: dict[str, list] = {name: [] for name in names}
    lead = 72
    for bar in range(bars):
        root, shape = PROGRESSION[bar % 4]
        t = 4.0 * bar
        chord = [root + 12 + i for i in shape]
        for beat in range(4):
            tracks["drums"].append(
                n(pitch=36 if beat % 2 == 0 else 38, start=t + beat, duration=0.25)
            )
            tracks["bass"].append(n(pitch=root - 12, start=t + beat, duration=0.9, velocity=100))
        tracks["drums"] += [
            n(pitch=42, start=t + 0.5 * i, duration=0.25, velocity=70) for i in range(8)
        ]
        if bar % 8 == 0:
            tracks["drums"].append(n(pitch=49, start=t, duration=1))
        for half in (0, 2):
            tracks["piano"] += [
                n(pitch=p, start=t + half, duration=1.9, velocity=75) for p in chord
            ]
        tracks["strings"] += [n(pitch=p, start=t, duration=4, velocity=60) for p in chord[:3]]
        tracks["pad"] += [n(pitch=p - 12, start=t, duration=4, velocity=55) for p in chord[:2]]
        tracks["guitar"] += [
            n(pitch=chord[i % len(chord)] + 12, start=t + 0.5 * i, duration=0.5, velocity=65)
            for i in range(8)
        ]
        if bar % 2 == 1:
            tracks["brass"] += [
                n(pitch=p + 12, start=t + 1.5, duration=0.4, velocity=90) for p in chord
            ]
        for i in range(6):
            lead = int(np.clip(lead + rng.choice([-4, -2, -1, 1, 2, 4]), 64, 84))
            tracks["lead"].append(n(pitch=lead, start=t + [0, 1, 1.5, 2, 3, 3.5][i], duration=0.45))
    programs = {"drums": 0, "bass": 33, "piano": 0, "strings": 48, "lead": 73, "guitar": 25,
                "brass": 61, "pad": 89}  # fmt: skip
    return {
        "tempo_bpm": bpm,
        "tracks": [
            {"name": name, "program": programs[name], "drums": name == "drums", "notes": notes}
            for name, notes in tracks.items()
        ],
    }


def timed(fn, *args, **kwargs):
    """(wall seconds, CPU seconds of every thread of this process, result)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args, **kwargs)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def median_runs(repeat: int, fn, *args, **kwargs) -> tuple[float, float]:
    runs = [timed(fn, *args, **kwargs)[:2] for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def onset_f(spec: dict) -> float:
    rendering = fluidsynth.render(M.compose(M.parse_spec(M.CompositionSpec, spec)))
    heard = basic_pitch.transcribe(rendering.audio, rendering.sample_rate, max_notes=100_000)
    ref_intervals, ref_pitches = reference_notes(spec)
    est_intervals = np.array([[x["start_s"], x["end_s"]] for x in heard.notes])
    est_pitches = 440.0 * 2 ** ((np.array([x["pitch"] for x in heard.notes]) - 69) / 12)
    return mir_eval.transcription.precision_recall_f1_overlap(
        ref_intervals, ref_pitches, est_intervals, est_pitches, onset_tolerance=0.05,
        offset_ratio=None,
    )[2]  # fmt: skip


def line(what: str, wall: float, cpu: float, target: float) -> str:
    verdict = "ok" if wall <= target else "OVER"
    return f"{what:<38} {wall:6.2f} s wall {cpu:6.2f} s CPU   target ≤ {target:.1f} s  {verdict}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="warm runs per measurement")
    args = parser.parse_args()

    spec = M.parse_spec(M.CompositionSpec, arrangement())
    midi = M.compose(spec)
    notes = sum(len(t.notes) for t in spec.tracks)
    print(f"arrangement: {len(spec.tracks)} tracks, {notes} notes, {midi.length:.0f} s")

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (1 min)")
    wall, cpu, rendering = timed(fluidsynth.render, midi)
    print(line("render 3-min 8-track, first call", wall, cpu, FIRST_CALL_TARGET_S))
    wall, cpu = median_runs(args.repeat, fluidsynth.render, midi)
    print(line("render 3-min 8-track, warm", wall, cpu, RENDER_TARGET_S))
    seconds = rendering.audio.shape[1] / rendering.sample_rate
    print(f"{'  realtime factor (warm)':<38} {seconds / wall:6.0f} x")
    wall, cpu = median_runs(args.repeat, fluidsynth.render, midi, reverb=False, chorus=False)
    print(line("  … without reverb and chorus", wall, cpu, RENDER_TARGET_S))
    wall, cpu = median_runs(args.repeat, fluidsynth.render, midi, parts=1)
    print(line("  … played whole by one synth", wall, cpu, RENDER_TARGET_S))

    clip = rendering.audio[:, : 30 * rendering.sample_rate]
    wall, cpu, heard = timed(basic_pitch.transcribe, clip, rendering.sample_rate)
    print(line("audio_to_midi 30 s, first call", wall, cpu, FIRST_CALL_TARGET_S))
    wall, cpu = median_runs(args.repeat, basic_pitch.transcribe, clip, rendering.sample_rate)
    print(line("audio_to_midi 30 s, warm", wall, cpu, TRANSCRIBE_TARGET_S))
    print(f"{'  notes found in the 30 s mix':<38} {heard.note_count:6d}")

    for program, name in ((0, "acoustic grand"), (4, "electric piano")):
        score = onset_f(piano_piece(program=program))
        print(f"{'round-trip onset F, ' + name:<38} {score:6.3f}   target ≥ 0.90")
    for program, name in ((0, "acoustic grand"), (24, "nylon guitar"), (73, "flute")):
        score = onset_f(figured_piece(2, program))
        print(f"{'  figured piece 2, ' + name:<38} {score:6.3f}")


if __name__ == "__main__":
    main()
