"""Accuracy of key, tempo, beat and chord analysis against exact ground truth, baseline vs ours.

Ground truth is rendered offline (tests/unit/mir_signals.py): the music21 chorales
riemenschneider001–005 with their expert analyses (on piano, and on organ as a harder case),
synthetic cadential progressions in major and
minor keys (several instruments, tempi and figurations), GM drum grooves, and a "varied" set that
spreads every texture (progressions, grooves, melodies, chorales) over 60–180 BPM to check that
the tempo is not right only at the tempi above. Baselines are the
textbook methods: Krumhansl–Schmuckler on mean chroma (key), librosa `beat_track` (tempo, beats)
and maj/min chroma templates on beat-synchronous chroma (chords).

    .venv/bin/python bench/accuracy.py                 # full table
    .venv/bin/python bench/accuracy.py --quick         # a few pieces per set
    .venv/bin/python bench/accuracy.py --fit-key       # print key profiles fitted on the synthetic set
    .venv/bin/python bench/accuracy.py --details       # one line per piece, with our tempo candidates
    .venv/bin/python bench/accuracy.py --sets varied   # only the tempo-spread set
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "unit"))
sys.path.insert(0, str(ROOT / "src"))

import mir_eval  # noqa: E402
import mir_signals as ms  # noqa: E402

from audiolla_mcp.ops import beats, chords, key  # noqa: E402
from audiolla_mcp.ops.mir_features import MusicFeatures  # noqa: E402

CHORALE_TEMPI = {1: 60, 2: 72, 3: 84, 4: 96, 5: 108}  # 60–108 BPM as in TEST-DATA
KS_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KS_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


# --------------------------------------------------------------------------------------------
# Evaluation sets

def chorale_set(quick: bool, program: int = ms.PIANO) -> list[ms.Piece]:
    numbers = (1, 3) if quick else (1, 2, 3, 4, 5)
    return [ms.chorale(n, CHORALE_TEMPI[n], program) for n in numbers]


def organ_chorale_set(quick: bool) -> list[ms.Piece]:
    """The same chorales on a church organ: legato, slow attacks, no dynamics (harder)."""
    return chorale_set(quick, ms.ORGAN)


def synthetic_set(quick: bool) -> list[ms.Piece]:
    """Cadential progressions in 12 keys × both modes, audible beat (pulse or arpeggio)."""
    rng = np.random.default_rng(2024)
    programs = (ms.PIANO, ms.STRINGS, ms.ORGAN, ms.GUITAR, ms.EPIANO, ms.CHOIR)
    pieces = []
    for i in range(8 if quick else 24):
        mode = ("major", "minor")[i % 2]
        tonic = (7 * i) % 12
        numerals = list(ms.CADENTIAL[mode][i % len(ms.CADENTIAL[mode])])
        numerals = numerals + ms.random_progression(rng, mode, 2)
        pieces.append(
            ms.progression(
                tonic,
                mode,
                numerals,
                bpm=float(rng.choice([72, 90, 100, 116, 128, 140])),
                beats_per_chord=2,
                program=programs[i % len(programs)],
                figuration=("pulse", "arpeggio")[(i // 2) % 2],
                neighbour_tones=bool(i % 3 == 0),
                bass_program=ms.BASS if i % 4 == 1 else None,
            )
        )
    return pieces


def drum_set(quick: bool) -> list[ms.Piece]:
    grooves = [("rock", 120), ("four_on_floor", 128), ("funk", 96), ("waltz", 90), ("rock", 70),
               ("halftime", 140), ("breakbeat", 174), ("four_on_floor", 100)]
    grooves = grooves[:3] if quick else grooves
    return [ms.drum_groove(style, bpm, 8, bass_root=40) for style, bpm in grooves]


def _spread_tempo(rng: np.random.Generator, low: float = 60.0, high: float = 180.0) -> float:
    """A whole BPM drawn evenly on a log scale (as many pieces per octave at 60–120 as at 90–180)."""
    return float(np.round(np.exp(rng.uniform(np.log(low), np.log(high)))))


def varied_set(quick: bool) -> list[ms.Piece]:
    """Every texture at tempi spread over 60–180 BPM (a seed apart from the other sets)."""
    rng = np.random.default_rng(7)
    programs = (ms.PIANO, ms.ORGAN, ms.STRINGS, ms.GUITAR, ms.EPIANO, ms.CHOIR)
    figurations = ("pulse", "arpeggio", "chorale", "pulse", "arpeggio")
    pieces = []
    for i in range(10 if quick else 40):
        mode = ("major", "minor")[i % 2]
        figuration = figurations[i % len(figurations)]
        numerals = ms.random_progression(rng, mode, phrases=int(rng.integers(2, 4)))
        pieces.append(
            ms.progression(
                int(rng.integers(12)),
                mode,
                numerals,
                bpm=_spread_tempo(rng),
                beats_per_chord=1 if figuration == "chorale" else int(rng.choice([1, 2, 2, 4])),
                program=programs[int(rng.integers(len(programs)))],
                figuration=figuration,
                neighbour_tones=bool(rng.random() < 0.4),
                bass_program=ms.BASS if rng.random() < 0.3 else None,
            )
        )
    styles = list(ms.GROOVES)
    for i in range(6 if quick else 24):
        pieces.append(ms.drum_groove(styles[i % len(styles)], _spread_tempo(rng), 8, 40 if rng.random() < 0.5 else None))
    for i in range(2 if quick else 6):
        pieces.append(ms.melody_piece(int(rng.integers(12)), _spread_tempo(rng, 60, 160), (ms.VIOLIN, ms.FLUTE)[i % 2], seed=i, bars=8))
    for number, bpm, program in ((1, 80, ms.STRINGS), (2, 100, ms.PIANO), (3, 66, ms.ORGAN), (4, 120, ms.PIANO), (5, 50, ms.PIANO), (2, 90, ms.CHOIR))[: 2 if quick else 6]:
        pieces.append(ms.chorale(number, bpm, program))
    return pieces


# --------------------------------------------------------------------------------------------
# Baselines

def _librosa_chroma(features: MusicFeatures) -> np.ndarray:
    import librosa

    return features.memo("baseline_chroma", lambda: librosa.feature.chroma_cqt(y=features.signal, sr=features.sr, hop_length=512))


def baseline_key(features: MusicFeatures) -> str:
    chroma = _librosa_chroma(features).mean(axis=1)
    best, label = -np.inf, ""
    for mode, profile in (("major", KS_MAJOR), ("minor", KS_MINOR)):
        for tonic in range(12):
            r = np.corrcoef(np.roll(profile, tonic), chroma)[0, 1]
            if r > best:
                best, label = r, f"{ms.PITCH_NAMES[tonic]} {mode}"
    return label


def baseline_beats(features: MusicFeatures) -> tuple[float, np.ndarray]:
    import librosa

    tempo, frames = librosa.beat.beat_track(y=features.signal, sr=features.sr, hop_length=512)
    return float(np.atleast_1d(tempo)[0]), librosa.frames_to_time(frames, sr=features.sr, hop_length=512)


def baseline_chords(features: MusicFeatures) -> tuple[np.ndarray, list[str]]:
    import librosa

    chroma = _librosa_chroma(features)
    _, beat_times = baseline_beats(features)
    frames = librosa.time_to_frames(beat_times, sr=features.sr, hop_length=512)
    synced = librosa.util.sync(chroma, frames, aggregate=np.median)
    bounds = np.concatenate([[0.0], librosa.frames_to_time(frames, sr=features.sr, hop_length=512), [features.duration_s]])
    templates, labels = [], []
    for quality, intervals in (("maj", (0, 4, 7)), ("min", (0, 3, 7))):
        for root in range(12):
            t = np.zeros(12)
            t[[(root + i) % 12 for i in intervals]] = 1
            templates.append(t / np.linalg.norm(t))
            labels.append(f"{ms.PITCH_NAMES[root]}:{quality}")
    synced = synced / (np.linalg.norm(synced, axis=0, keepdims=True) + 1e-9)
    picks = np.argmax(np.array(templates) @ synced, axis=0)
    intervals = np.stack([bounds[:-1], bounds[1:]], axis=1)[: len(picks)]
    return intervals, [labels[p] for p in picks]


# --------------------------------------------------------------------------------------------
# Metrics

def tempo_accuracy(estimate: float | None, truth: float) -> tuple[float, float]:
    if not estimate:
        return 0.0, 0.0
    ratio = estimate / truth
    acc1 = abs(ratio - 1) <= 0.04
    acc2 = any(abs(ratio / m - 1) <= 0.04 for m in (1, 2, 0.5, 3, 1 / 3))
    return float(acc1), float(acc2)


def chord_accuracy(piece: ms.Piece, intervals: np.ndarray, labels: list[str]) -> dict[str, float]:
    ref_intervals = np.array([[s, e] for s, e, _ in piece.chords])
    ref_labels = [c for _, _, c in piece.chords]
    est_intervals, est_labels = mir_eval.util.adjust_intervals(
        np.asarray(intervals), list(labels), ref_intervals.min(), ref_intervals.max(),
        mir_eval.chord.NO_CHORD, mir_eval.chord.NO_CHORD,
    )
    merged, ref, est = mir_eval.util.merge_labeled_intervals(ref_intervals, ref_labels, est_intervals, est_labels)
    durations = mir_eval.util.intervals_to_durations(merged)
    return {
        name: float(mir_eval.chord.weighted_accuracy(fn(ref, est), durations))
        for name, fn in (("majmin", mir_eval.chord.majmin), ("sevenths", mir_eval.chord.sevenths))
    }


def evaluate(piece: ms.Piece) -> dict[str, dict[str, float]]:
    audio = piece.audio()
    features = MusicFeatures(audio, ms.RENDER_SR)
    ref_beats = np.array(piece.beats)
    out: dict[str, dict[str, float]] = {"baseline": {}, "ours": {}}
    started = time.perf_counter()
    grid = beats.beat_grid(features)
    out["ours"]["acc1"], out["ours"]["acc2"] = tempo_accuracy(grid.bpm, piece.bpm)
    out["ours"]["candidates"] = " ".join(f"{bpm:g}:{score:.2f}" for bpm, score in grid.tempo_candidates[:4])
    out["ours"]["beat_f"] = mir_eval.beat.f_measure(ref_beats, grid.beats)
    downbeats, _ = beats.meter(features, grid)
    out["ours"]["downbeat_f"] = mir_eval.beat.f_measure(np.array(piece.downbeats), downbeats)
    if piece.key:
        estimate = key.estimate_key(features)
        out["ours"]["key"] = mir_eval.key.weighted_score(piece.key, _mir_key(estimate.name))
        out["ours"]["key_name"] = estimate.name
    if piece.chords:
        result = chords.detect_chords(audio, ms.RENDER_SR, features=features, max_segments=10_000)
        intervals = np.array([[s["start"], s["end"]] for s in result.segments])
        out["ours"].update(chord_accuracy(piece, intervals, [s["chord"] for s in result.segments]))
    out["ours"]["seconds"] = time.perf_counter() - started
    tempo, beat_times = baseline_beats(features)
    out["baseline"]["acc1"], out["baseline"]["acc2"] = tempo_accuracy(tempo, piece.bpm)
    out["baseline"]["beat_f"] = mir_eval.beat.f_measure(ref_beats, beat_times)
    if piece.key:
        name = baseline_key(features)
        out["baseline"]["key"] = mir_eval.key.weighted_score(piece.key, name)
        out["baseline"]["key_name"] = name
    if piece.chords:
        out["baseline"].update(chord_accuracy(piece, *baseline_chords(features)))
    out["ours"]["bpm"] = grid.bpm or 0.0
    out["baseline"]["bpm"] = tempo
    return out


def _mir_key(name: str) -> str:
    tonic, mode = name.split()
    return f"{tonic} {mode}"


METRICS = (("key", "key weighted"), ("acc1", "tempo Acc1"), ("acc2", "tempo Acc2"), ("beat_f", "beat F"),
           ("downbeat_f", "downbeat F"), ("majmin", "chords majmin"), ("sevenths", "chords sevenths"))


def run(sets: dict[str, list[ms.Piece]], details: bool) -> None:
    table: dict[str, dict[str, dict[str, list[float]]]] = {}
    for set_name, pieces in sets.items():
        scores: dict[str, dict[str, list[float]]] = {"baseline": defaultdict(list), "ours": defaultdict(list)}
        for piece in pieces:
            result = evaluate(piece)
            for system in ("baseline", "ours"):
                for metric, value in result[system].items():
                    if isinstance(value, float | int):
                        scores[system][metric].append(float(value))
            if details:
                o, b = result["ours"], result["baseline"]
                print(
                    f"  {piece.name[:48]:48s} key {piece.key or '-':9s} ours {o.get('key_name', '-'):9s} base {b.get('key_name', '-'):9s} "
                    f"bpm {piece.bpm:5.1f} ours {o['bpm']:5.1f} base {b['bpm']:5.1f} beatF {o['beat_f']:.2f}/{b['beat_f']:.2f} "
                    f"downF {o['downbeat_f']:.2f} majmin {o.get('majmin', float('nan')):.2f}/{b.get('majmin', float('nan')):.2f} "
                    f"7ths {o.get('sevenths', float('nan')):.2f} {o['seconds']:.1f}s tempo candidates {o['candidates']}",
                    flush=True,
                )
        table[set_name] = scores
    print()
    print(f"{'set':12s} {'metric':16s} {'baseline':>9s} {'ours':>7s}  n")
    for set_name, scores in table.items():
        for metric, label in METRICS:
            ours = scores["ours"].get(metric)
            if not ours:
                continue
            base = scores["baseline"].get(metric)
            base_text = f"{np.mean(base):9.3f}" if base else f"{'-':>9s}"
            print(f"{set_name:12s} {label:16s} {base_text} {np.mean(ours):7.3f}  {len(ours)}")


def fit_key_profiles(count: int) -> None:
    """Mean tonic-aligned treble and bass chroma of the synthetic tuning set, per mode."""
    from audiolla_mcp.ops.chords import segment_pitch

    sums = {m: {"treble": np.zeros(12), "bass": np.zeros(12)} for m in ("major", "minor")}
    for piece in ms.synthetic_tonal_set(count, seed=0):
        features = MusicFeatures(piece.audio(), ms.RENDER_SR)
        pitch = segment_pitch(features)
        tonic_name, mode = piece.key.split()
        tonic = ms.PITCH_NAMES.index(tonic_name)
        for part in ("treble", "bass"):
            chroma = key.mean_chroma(getattr(pitch, part), pitch.ends - pitch.starts)
            sums[mode][part] += np.roll(chroma, -tonic)
    for mode, parts in sums.items():
        for part, total in parts.items():
            profile = total / total.max()
            print(f"{part:6s} {mode}: [{', '.join(f'{v:.3f}' for v in profile)}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a few pieces per set")
    parser.add_argument("--details", action="store_true", help="print one line per piece")
    parser.add_argument("--sets", default="chorales,organ,synthetic,drums,varied", help="comma-separated subset")
    parser.add_argument("--fit-key", type=int, metavar="N", help="fit key profiles on N synthetic pieces and exit")
    args = parser.parse_args()
    if args.fit_key:
        fit_key_profiles(args.fit_key)
        return
    makers = {
        "chorales": chorale_set, "organ": organ_chorale_set, "synthetic": synthetic_set, "drums": drum_set, "varied": varied_set,
    }
    sets = {name: makers[name](args.quick) for name in args.sets.split(",")}
    run(sets, args.details)


if __name__ == "__main__":
    main()
