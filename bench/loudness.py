"""Time `ops.loudness` measure and normalize on stereo 44.1 kHz audio against pyloudnorm.

measure: 30 s and 3 min of Gaussian noise (−20 dBFS RMS), pink noise (−20 dBFS RMS) and
programme-like music (a chord over drum pulses). normalize: 3 min of that music to −7 LUFS under
a −1 dBTP ceiling (about 12 dB of true-peak limiting) and to −20 LUFS (a gain of +2.3 dB alone).
pyloudnorm measures the integrated loudness only and normalises by a gain only (no limiter):
it is the floor of what the same job costs in plain numpy/scipy, not the same work.
Targets: measure 30 s ≤ 40 ms; normalize 3 min ≤ 1.5 s with limiting, ≤ 0.5 s without.

The machine may be shared: every time is the median of interleaved runs, given as wall clock
and as this process's CPU time. `--baseline FILE` also times another copy of the module (for
instance the previous commit's, written out with `git show`) in the same runs and checks that
it reports the same figures.
    .venv/bin/python bench/loudness.py [--repeats 5] [--baseline /tmp/loudness_before.py]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import ModuleType

import numpy as np
import pyloudnorm

from audiolla_mcp.ops import loudness

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit"))
from loudness_signals import music_like, pink_noise

SR = 44100
LIMITED = (-7.0, -1.0)
GAIN_ONLY = (-20.0, -1.0)


def _load(path: str) -> ModuleType:
    """Another copy of the loudness module, importable beside the current one."""
    spec = importlib.util.spec_from_file_location("audiolla_mcp.ops._loudness_baseline", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _signals(seconds: int) -> dict[str, np.ndarray]:
    return {
        "gaussian noise −20 dBFS": (0.1 * np.random.default_rng(0).standard_normal((2, seconds * SR))).astype(np.float32),
        "pink noise −20 dBFS": pink_noise(seconds, SR, rms_dbfs=-20),
        "music (chord + drums)": music_like(seconds, SR),
    }


def _timed(runs: dict[str, Callable[[], object]], repeats: dict[str, int]) -> dict[str, tuple[float, float]]:
    """Median (wall s, CPU s) of each run, the runs interleaved so load drifts hit all alike."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    for round_ in range(max(repeats.values())):
        for name, run in runs.items():
            if round_ < repeats[name]:
                wall, cpu = time.perf_counter(), time.process_time()
                run()
                times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    return {name: (statistics.median(t[0] for t in got), statistics.median(t[1] for t in got))
            for name, got in times.items()}


def _line(label: str, times: dict[str, tuple[float, float]]) -> str:
    wall, cpu = times["ours"]
    text = f"{label:44s} ours {wall * 1000:8.1f} ms (cpu {cpu * 1000:7.1f})"
    if "before" in times:
        before_wall, before_cpu = times["before"]
        text += (f" | before {before_wall * 1000:8.1f} ms (cpu {before_cpu * 1000:7.1f})"
                 f" ×{before_wall / wall:4.1f} wall ×{before_cpu / cpu:4.1f} cpu")
    theirs_wall, theirs_cpu = times["pyloudnorm"]
    return text + f" | pyloudnorm {theirs_wall * 1000:8.1f} ms ×{theirs_wall / wall:5.1f} wall ×{theirs_cpu / cpu:5.1f} cpu"


def _same(ours: object, before: object) -> str:
    fields = ours.__dict__
    differ = {k: (v, before.__dict__.get(k)) for k, v in fields.items() if before.__dict__.get(k) != v}
    return "  same report as before" if not differ else f"  differs from before: {differ}"


def _measure_rows(seconds: int, baseline: ModuleType | None, repeats: int) -> None:
    meter = pyloudnorm.Meter(SR)
    for name, signal in _signals(seconds).items():
        runs = {"ours": partial(loudness.measure, signal, SR),
                "pyloudnorm": partial(meter.integrated_loudness, signal.T)}
        counts = {"ours": repeats, "pyloudnorm": max(1, repeats // 2)}
        if baseline is not None:
            runs["before"] = partial(baseline.measure, signal, SR)
            counts["before"] = repeats
        print(_line(f"measure {seconds:3d} s {name}", _timed(runs, counts)))
        if baseline is not None:
            print(_same(loudness.measure(signal, SR), baseline.measure(signal, SR)))


def _pyloudnorm_normalize(meter: pyloudnorm.Meter, signal: np.ndarray, target: float) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it warns of the clipping it leaves, having no limiter
        return pyloudnorm.normalize.loudness(signal.T, meter.integrated_loudness(signal.T), target)


def _normalize_rows(baseline: ModuleType | None, repeats: int) -> None:
    signal = music_like(180, SR)
    meter = pyloudnorm.Meter(SR)
    found = loudness.measure(signal, SR)
    for (target, ceiling), label in [(LIMITED, "limited"), (GAIN_ONLY, "gain only")]:
        over = found.true_peak_dbtp + target - found.integrated_lufs - ceiling
        runs = {"ours": partial(loudness.normalize, signal, SR, target, ceiling),
                "pyloudnorm": partial(_pyloudnorm_normalize, meter, signal, target)}
        counts = {"ours": repeats, "pyloudnorm": max(1, repeats // 2)}
        if baseline is not None:
            runs["before"] = partial(baseline.normalize, signal, SR, target, ceiling)
            counts["before"] = max(1, repeats // 2)
        print(_line(f"normalize 180 s music, {label} ({over:+.1f} dB at gain)", _timed(runs, counts)))
        _, report = loudness.normalize(signal, SR, target, ceiling)
        print(f"  {report}")
        if baseline is not None:
            print(f"  before: {baseline.normalize(signal, SR, target, ceiling)[1]}")


def main(repeats: int, baseline_path: str | None) -> None:
    loudness.warm()
    baseline = _load(baseline_path) if baseline_path else None
    for seconds in (30, 180):
        _measure_rows(seconds, baseline, repeats)
    _normalize_rows(baseline, repeats)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline", help="another copy of ops/loudness.py to time beside this one")
    arguments = parser.parse_args()
    main(arguments.repeats, arguments.baseline)
