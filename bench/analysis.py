"""Speed of the analysis ops on a 3-minute track: first call in a fresh process, then warm.

The track is rendered offline (tests/unit/mir_signals.py: a 192 s song with drums, bass and
chords). Wall and CPU seconds are printed per op; targets (warm): analyze ≤ 2 s, key, chords and
beats ≤ 1.5 s each, no first call over 3 s. Run on an otherwise idle machine: wall time on a
shared one measures the neighbours.

    .venv/bin/python bench/analysis.py            # warm timings (median of --repeat runs)
    .venv/bin/python bench/analysis.py --first    # plus one fresh process per op
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "unit"))
sys.path.insert(0, str(ROOT / "src"))

import mir_signals as ms  # noqa: E402

OPS = {
    "analyze": ("audiolla_mcp.ops.analysis", "analyze", 2.0),
    "detect_key": ("audiolla_mcp.ops.key", "detect_key", 1.5),
    "detect_chords": ("audiolla_mcp.ops.chords", "detect_chords", 1.5),
    "detect_beats": ("audiolla_mcp.ops.beats", "detect_beats", 1.5),
    "track_melody": ("audiolla_mcp.ops.melody", "track_melody", None),
    "segment_structure": ("audiolla_mcp.ops.structure", "segment_structure", None),
    "dj_prep": ("audiolla_mcp.ops.analysis", "dj_prep", None),
}

FIRST_CALL = """
import sys, time
started = time.perf_counter()
import soundfile as sf, importlib
samples, sr = sf.read(sys.argv[1], dtype="float32", always_2d=True)
module = importlib.import_module(sys.argv[2])
getattr(module, sys.argv[3])(samples.T.copy(), sr)
print(time.perf_counter() - started)
"""


def track() -> np.ndarray:
    return ms.sectioned_song("ABACABDA" * 3, bpm=120, bars_per_section=4).audio()


def timed(fn, *args) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--first", action="store_true", help="also time a first call in a fresh process")
    args = parser.parse_args()
    import importlib

    from audiolla_mcp.ops.analysis import warm

    audio = track()
    print(f"track: {audio.shape[1] / ms.RENDER_SR:.0f} s, {audio.shape[0]} ch, {ms.RENDER_SR} Hz")
    warm()
    print(f"{'op':18s} {'wall s':>8s} {'cpu s':>8s} {'target':>7s}")
    for name, (module, function, target) in OPS.items():
        fn = getattr(importlib.import_module(module), function)
        runs = [timed(fn, audio, ms.RENDER_SR) for _ in range(args.repeat)]
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        print(f"{name:18s} {wall:8.2f} {cpu:8.2f} {target if target else '-':>7}")
    if args.first:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "track.wav"
            sf.write(path, audio.T, ms.RENDER_SR)
            print("\nfirst call in a fresh process (imports, cached JIT loads, decode included):")
            for name, (module, function, _) in OPS.items():
                out = subprocess.run([sys.executable, "-c", FIRST_CALL, str(path), module, function],
                                     capture_output=True, text=True, check=True, cwd=ROOT)
                print(f"{name:18s} {float(out.stdout.split()[-1]):8.2f}")


if __name__ == "__main__":
    main()
