"""Time `ops.loudness.measure` on 3 minutes of stereo 44.1 kHz audio against pyloudnorm.

pyloudnorm computes the integrated loudness only; `measure` also gives LRA, true peak (4×),
sample peak and max momentary/short-term. Target: `measure` well under 0.3 s.
    .venv/bin/python bench/loudness.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pyloudnorm

from audiolla_mcp.ops.loudness import measure

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit"))
from loudness_signals import drum_pulses, pink_noise

SR = 44100
SECONDS = 180


def _median_s(run: Callable[[], object], repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(repeats: int) -> None:
    signals = {
        "gaussian noise (worst case for true-peak pruning)":
            (0.1 * np.random.default_rng(0).standard_normal((2, SECONDS * SR))).astype(np.float32),
        "pink noise": pink_noise(SECONDS, SR, rms_dbfs=-16),
        "drum-like pulses": drum_pulses(SECONDS, SR),
    }
    meter = pyloudnorm.Meter(SR)
    for name, signal in signals.items():
        ours = _median_s(partial(measure, signal, SR), repeats)
        theirs = _median_s(partial(meter.integrated_loudness, signal.T), max(1, repeats // 2))
        print(f"{name:52s} measure {ours * 1000:7.1f} ms   pyloudnorm {theirs * 1000:7.1f} ms   "
              f"ratio {theirs / ours:5.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    main(parser.parse_args().repeats)
