"""Full-size htdemucs (random weights, the real 41,984,456-parameter architecture) through
`engines.demucs.separate` vs demucs' own `apply_model` with its defaults (shifts=1, split,
overlap 0.25), same seed, same loaded model, same process, runs interleaved.

Targets: ≥ 1.5× faster with max abs diff ≤ 1e-4 on 30 s stereo; peak RSS separating 10 min
≤ 3 GB (measured in a fresh subprocess); over stdio, `audio_info` p99 ≤ 50 ms while a
separation runs in the background, and server RSS < 300 MB after `unload_engines`.
    .venv/bin/python bench/separation.py [--seconds 30] [--repeats 2] [--rss-seconds 600] [--calls 100]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit"))
from model_fixtures import full_htdemucs_kwargs, write_demucs_repo

SR = 44100
NAME = "bench_htdemucs"


def music(seconds: float, seed: int = 0) -> np.ndarray:
    """A stereo mix with bass, chords, hats and noise: a 10 s loop, repeated (so building a
    10-minute input does not itself dominate the peak memory being measured)."""
    t = np.arange(int(min(seconds, 10.0) * SR)) / SR
    rng = np.random.default_rng(seed)
    bass = 0.3 * np.sin(2 * np.pi * 55 * t) * (np.sin(2 * np.pi * 2 * t) > 0)
    chord = sum(0.1 * np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0))
    hats = 0.05 * rng.standard_normal(t.size) * (np.mod(t, 0.25) < 0.02)
    loop = np.stack([bass + chord + hats, bass + 0.8 * chord + hats]).astype(np.float32)
    repeats = -(-int(seconds * SR) // loop.shape[-1])
    return np.tile(loop, (1, repeats))[:, :int(seconds * SR)]


def install(root: Path) -> None:
    from audiolla_mcp import models

    os.environ["AUDIOLLA_MODELS_DIR"] = str(root / "models")
    repo = write_demucs_repo(root / "repo", NAME, full_htdemucs_kwargs())
    models.add(NAME, repo)


def speed(seconds: float, repeats: int) -> None:
    import torch
    from demucs.apply import apply_model
    from demucs.pretrained import get_model

    from audiolla_mcp.engines import demucs
    from audiolla_mcp.engines.base import ENGINES
    from audiolla_mcp.models import require

    mix = music(seconds)
    bag = get_model(NAME, repo=require(NAME))
    params = sum(p.numel() for p in bag.parameters())
    wav = torch.from_numpy(mix)
    ref = wav.mean(0)

    def baseline(seed: int) -> np.ndarray:
        random.seed(seed)
        with torch.no_grad():
            out = apply_model(bag, ((wav - ref.mean()) / ref.std())[None])[0]
        return (out * ref.std() + ref.mean()).numpy()

    def ours(seed: int) -> np.ndarray:
        result = demucs.separate(mix, SR, model=NAME, seed=seed)
        return np.stack([result.stems[s] for s in bag.sources])

    with ENGINES.use(demucs.DemucsEngine, NAME):  # load outside the timed runs, like `bag`
        pass
    # One untimed window through each path: first-call allocations and oneDNN set-up.
    short = music(5.0)
    with torch.no_grad():
        apply_model(bag, torch.from_numpy(short)[None], shifts=0)
    demucs.separate(short, SR, model=NAME, shifts=0)
    theirs_s, ours_s, diffs = [], [], []
    for seed in range(repeats):
        timed = {}
        # Alternate which path goes first, so drifting machine load hits both alike.
        for name, run in (("theirs", baseline), ("ours", ours))[:: 1 if seed % 2 == 0 else -1]:
            wall, cpu = time.perf_counter(), time.process_time()
            out = run(seed)
            timed[name] = (out, (time.perf_counter() - wall, time.process_time() - cpu))
        (expected, theirs_t), (got, ours_t) = timed["theirs"], timed["ours"]
        theirs_s.append(theirs_t)
        ours_s.append(ours_t)
        diffs.append(float(np.abs(got - expected).max()))
        print(f"  run {seed}: apply_model {_times(theirs_t)}   separate {_times(ours_t)}   "
              f"max |diff| {diffs[-1]:.2e}", flush=True)
    theirs = tuple(statistics.median(t[i] for t in theirs_s) for i in (0, 1))
    mine = tuple(statistics.median(t[i] for t in ours_s) for i in (0, 1))
    print(f"htdemucs ({params:,} params), {seconds:.0f} s stereo, torch threads "
          f"{torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}: apply_model "
          f"{_times(theirs)}, separate {_times(mine)}, speed-up {theirs[0] / mine[0]:.2f}x wall, "
          f"{theirs[1] / mine[1]:.2f}x CPU, max |diff| {max(diffs):.2e}")


def _times(wall_cpu: tuple[float, float]) -> str:
    return f"{wall_cpu[0]:6.1f} s ({wall_cpu[1]:6.1f} CPU-s)"


def peak_rss(seconds: float) -> None:
    from audiolla_mcp.engines import demucs
    from audiolla_mcp.engines.base import process_rss_mb, unload_all

    start = time.perf_counter()
    result = demucs.separate(music(seconds), SR, model=NAME)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    del result
    unload_all()
    print(f"{seconds:.0f} s stereo separated in {elapsed:.0f} s: peak RSS {peak:.0f} MB, "
          f"RSS after unload_all {process_rss_mb():.0f} MB")


async def latency(root: Path, seconds: float, calls: int) -> None:
    """Light calls answered while the server separates in the background; RSS after unloading."""
    import soundfile as sf
    from _stdio import Client, audiolla, stats_ms
    from mcp import StdioServerParameters

    workspace = root / "ws"
    workspace.mkdir()
    sf.write(workspace / "song.wav", music(seconds).T, SR)
    base = audiolla(workspace, "--toolsets", "all", "--models-dir", str(root / "models"))
    params = StdioServerParameters(command=base.command, args=base.args, env=dict(os.environ))
    async with Client(params, mode="legacy") as client:
        await client.call_tool("audio_info", {"input": "song.wav"})
        started = await client.call_tool("separate_stems", {"input": "song.wav", "model": NAME,
                                                            "background": True, "analyze": False})
        job_id = started.structured_content["job_id"]
        # Time the calls while windows are being inferred, not while the model loads.
        while not (await client.call_tool("job_status", {"job_id": job_id})).structured_content.get("progress"):
            await anyio.sleep(0.2)
        times = []
        while len(times) < calls:
            begin = time.perf_counter()
            result = await client.call_tool("audio_info", {"input": "song.wav"})
            times.append(time.perf_counter() - begin)
            assert not result.is_error, result.content[0].text
        status = (await client.call_tool("job_status", {"job_id": job_id})).structured_content
        print(f"audio_info during separation (job {status['status']}, progress "
              f"{status.get('progress') or 0:.0%}): {stats_ms(times)}")
        await client.call_tool("job_cancel", {"job_id": job_id})
        while (await client.call_tool("job_status", {"job_id": job_id})).structured_content["status"] in (
                "queued", "running"):
            await anyio.sleep(0.5)
        freed = (await client.call_tool("unload_engines", {})).structured_content
        print(f"server RSS {freed['process_rss_mb_before']:.0f} MB → {freed['process_rss_mb_after']:.0f} MB "
              f"after unload_engines ({', '.join(freed['unloaded']) or 'nothing loaded'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rss-seconds", type=float, default=600.0,
                        help="length separated in the peak-RSS subprocess; 0 skips it")
    parser.add_argument("--calls", type=int, default=100,
                        help="audio_info calls timed during a background separation; 0 skips it")
    parser.add_argument("--rss-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_only:
        os.environ["AUDIOLLA_MODELS_DIR"] = str(args.rss_only)
        peak_rss(args.rss_seconds)
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        install(root)
        if args.repeats:
            speed(args.seconds, args.repeats)
        if args.calls:
            anyio.run(latency, root, args.seconds, args.calls)
        if args.rss_seconds:
            subprocess.run([sys.executable, __file__, "--rss-only", str(root / "models"),
                            "--rss-seconds", str(args.rss_seconds)], check=True)


if __name__ == "__main__":
    main()
