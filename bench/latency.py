"""Warm round trips over stdio on a 30 s stereo 44.1 kHz WAV: audio_info and measure_loudness.

Targets: audio_info ≤ 25 ms, measure_loudness ≤ 60 ms (median, warm).
    .venv/bin/python bench/latency.py [--calls 50]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import anyio
import numpy as np
import soundfile as sf
from _stdio import Client, audiolla, stats_ms


async def main(calls: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "ws"
        ws.mkdir()
        rng = np.random.default_rng(0)
        sf.write(str(ws / "song.wav"), 0.1 * rng.standard_normal((30 * 44100, 2)), 44100, subtype="PCM_16")
        async with Client(audiolla(ws, "--toolsets", "all"), mode="legacy") as client:
            for tool in ("audio_info", "measure_loudness"):
                await client.call_tool(tool, {"input": "song.wav"})  # warm
                times = []
                for _ in range(calls):
                    started = time.perf_counter()
                    result = await client.call_tool(tool, {"input": "song.wav"})
                    times.append(time.perf_counter() - started)
                    assert not result.is_error, result.content[0].text
                print(f"{tool:<18} {stats_ms(times)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=50)
    anyio.run(main, parser.parse_args().calls)
