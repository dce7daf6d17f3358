"""Time every effects, dynamics, restoration and mastering op on 3 minutes of stereo 44.1 kHz.

Each op runs once cold (its first call in this process: imports, JIT cache loads) and then
`--repeats` times warm; the table shows the cold time, the warm median (wall clock), the CPU
time of that warm run (what the op costs when it has the cores to itself: on a shared machine
wall time also counts other people's work; threaded ops can use more CPU than wall time) and
the warm wall time as a share of real time. Target (issue 3): ≤ 1 s warm, except time_stretch
(≤ 0.5× real time) and pitch_correct; no first call > 3 s.
    .venv/bin/python bench/effects.py [--repeats 2] [--only NAME,...]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit"))
from fx_signals import SR, music, white

SECONDS = 180.0
SLOW = {"time_stretch (x1.1, +2 st)", "pitch_correct (chromatic)"}


def _times(run: Callable[[], object], repeats: int) -> tuple[float, float, float]:
    """(cold wall s, warm wall median s, CPU s of the warm run with the median wall time)."""
    start = time.perf_counter()
    run()
    cold = time.perf_counter() - start
    warm = []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        run()
        warm.append((time.perf_counter() - start, time.process_time() - cpu))
    wall, cpu = sorted(warm)[len(warm) // 2]
    return cold, wall, cpu


def _cases(x: np.ndarray) -> dict[str, Callable[[], object]]:
    from pydantic import TypeAdapter

    from audiolla_mcp.ops import dsp, dynamics, fx, mastering, pitch, restore
    from audiolla_mcp.ops.effect_specs import BandCompressor, EffectSpec, EqBand

    bands = [EqBand(type="high_pass", freq_hz=30), EqBand(type="low_shelf", freq_hz=120, gain_db=2),
             EqBand(type="peak", freq_hz=2500, gain_db=-3, q=1.5), EqBand(type="high_shelf", freq_hz=9000, gain_db=1.5)]
    chain = TypeAdapter(list[EffectSpec]).validate_python(
        [{"type": "compressor"}, {"type": "chorus"}, {"type": "reverb"}, {"type": "delay", "delay_seconds": 0.25}])
    decay = np.exp(-np.arange(2 * SR) / (0.4 * SR)).astype(np.float32)
    ir = white(2.0, amp=1.0, channels=2, seed=9) * decay
    trigger = np.zeros_like(x)
    trigger[:, ::SR] = 1.0
    clipped = np.clip(x * 2, -0.6, 0.6)
    t = np.arange(x.shape[-1]) / SR
    hummed = x + (0.02 * np.sin(2 * np.pi * 50 * t)).astype(np.float32)
    noisy = x + white(SECONDS, amp=0.02, channels=2, seed=3)
    reference = music(SECONDS, peak=0.9, seed=11)
    return {
        "eq (4 bands)": lambda: dsp.eq(x, SR, bands),
        "fx_chain (comp, chorus, reverb, delay)": lambda: fx.fx_chain(x, SR, chain),
        "multiband_compress (4 bands)": lambda: dynamics.multiband_compress(
            x, SR, [120, 1000, 6000], [BandCompressor()] * 4),
        "transient_shaper": lambda: dynamics.transient_shaper(x, SR, 4, -3),
        "deess": lambda: dynamics.deess(x, SR),
        "sidechain_duck": lambda: dynamics.sidechain_duck(x, trigger, SR),
        "convolution_reverb (2 s stereo IR)": lambda: fx.convolution_reverb(x, SR, ir, SR),
        "time_stretch (x1.1, +2 st)": lambda: pitch.time_stretch(x, SR, 1.1, 2.0),
        "pitch_correct (chromatic)": lambda: pitch.pitch_correct(x, SR),
        "declip": lambda: restore.declip(clipped),
        "dehum (auto, 8 harmonics)": lambda: restore.dehum(hummed, SR),
        "reduce_noise (non-stationary)": lambda: restore.reduce_noise(noisy, SR),
        "reduce_noise (stationary, noise clip)": lambda: restore.reduce_noise(
            noisy, SR, stationary=True, noise=noisy[:, : 2 * SR]),
        "hpss": lambda: restore.hpss(x, SR),
        "master chain (transparent)": lambda: mastering.master_chain(x, SR, "transparent"),
        "master reference (matchering)": lambda: mastering.master_reference(x, SR, reference, SR),
    }


def main(repeats: int, only: list[str]) -> None:
    x = music(SECONDS, seed=1)
    print(f"3-min stereo {SR} Hz, {repeats} warm runs each (1 for the slow ones)\n")
    print(f"{'op':42s} {'first call s':>12s} {'warm s':>8s} {'warm cpu s':>10s} {'× real time':>12s}  target")
    for name, run in _cases(x).items():
        if only and not any(key in name for key in only):
            continue
        cold, warm, cpu = _times(run, 1 if name in SLOW else repeats)
        if name.startswith("time_stretch"):
            verdict = "yes" if warm <= 0.5 * SECONDS else "NO"
        elif name in SLOW:
            verdict = "n/a"
        else:
            verdict = "yes" if warm <= 1.0 else "NO"
        print(f"{name:42s} {cold:12.3f} {warm:8.3f} {cpu:10.3f} {warm / SECONDS:12.4f}  {verdict}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--only", default="", help="comma-separated substrings of op names")
    args = parser.parse_args()
    main(args.repeats, [s for s in args.only.split(",") if s])
