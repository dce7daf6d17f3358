"""Load on the real HTTP server (127.0.0.1, bearer token): many sessions, heavy work, memory.

1. 200 concurrent streamable-HTTP sessions x 50 light calls each (audio_info, list_files,
   job_list), bounded by a semaphore, a wall-clock budget and an error budget: errors, p50/p99.
2. Light-call latency (one session, one call at a time) while a separation runs (full-size
   htdemucs with random weights, registered with `models add`; skipped without torch/demucs)
   and while a long analysis runs. Target: p99 <= 50 ms.
3. Server RSS at idle, with the engines loaded, and after `unload_engines`.

    .venv/bin/python bench/load.py [--sessions 200] [--calls 50] [--budget-s 900]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import numpy as np
import soundfile as sf
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
TOKEN = "load-bench-token"
LIGHT = (("audio_info", {"input": "song.wav"}), ("list_files", {"limit": 20}), ("job_list", {"limit": 5}))
SEPARATION_MODEL = "benchdemucs"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def describe(samples: list[float]) -> str:
    ms = [s * 1000 for s in samples]
    if not ms:
        return "no samples"
    return (f"p50 {percentile(ms, 0.5):7.1f} ms  p90 {percentile(ms, 0.9):7.1f} ms  p99 {percentile(ms, 0.99):7.1f} ms  "
            f"max {max(ms):7.1f} ms  mean {statistics.fmean(ms):6.1f} ms  n={len(ms)}")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_tone(path: Path, seconds: float, channels: int = 2) -> None:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * 44100)) / 44100
    music = 0.2 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 2 * t)) + 0.02 * rng.standard_normal(t.size)
    sf.write(str(path), np.tile(music.astype(np.float32), (channels, 1)).T, 44100, subtype="PCM_16")


def register_separation_model(models: Path) -> bool:
    """A full-size htdemucs (41.98 M parameters) with random weights, added like local weights."""
    try:
        sys.path.insert(0, str(ROOT / "tests" / "unit"))
        from model_fixtures import full_htdemucs_kwargs, write_demucs_repo
    except ImportError:
        return False
    repo = write_demucs_repo(models.parent / "repo", SEPARATION_MODEL, full_htdemucs_kwargs())
    env = {**os.environ, "AUDIOLLA_MODELS_DIR": str(models)}
    done = subprocess.run([str(VENV_BIN / "audiolla-mcp"), "models", "add", SEPARATION_MODEL, str(repo)], env=env,
                          capture_output=True, text=True, check=False)
    return done.returncode == 0


class Server:
    def __init__(self, workspace: Path, models: Path):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.process = subprocess.Popen(
            [str(VENV_BIN / "audiolla-mcp"), "serve", "--http", "--port", str(self.port), "--workspace", str(workspace),
             "--toolsets", "all", "--token", TOKEN, "--log-level", "WARNING", "--models-dir", str(models)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("server did not start")

    def client(self) -> Any:
        return _Connected(self.url)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


class _Connected:
    """`async with server.client() as client:` a real streamable-HTTP MCP session with the token."""

    def __init__(self, url: str):
        self.url = url

    async def __aenter__(self) -> Client:
        self._http = create_mcp_http_client(headers={"Authorization": f"Bearer {TOKEN}"})
        http = await self._http.__aenter__()
        self._client = Client(streamable_http_client(self.url, http_client=http, max_sse_event_size=None), mode="legacy")
        return await self._client.__aenter__()

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self._client.__aexit__(*exc)
        finally:
            await self._http.__aexit__(*exc)


async def sessions_phase(server: Server, sessions: int, calls: int, budget_s: float, max_errors: int) -> None:
    latencies: list[float] = []
    connects: list[float] = []
    errors: list[str] = []
    done = [0]
    started = time.monotonic()

    async def one_session(index: int) -> None:
        begun = time.perf_counter()
        async with server.client() as client:
            connects.append(time.perf_counter() - begun)
            for n in range(calls):
                name, args = LIGHT[(index + n) % len(LIGHT)]
                begun = time.perf_counter()
                result = await client.call_tool(name, args)
                latencies.append(time.perf_counter() - begun)
                if result.is_error:
                    errors.append(f"{name}: {result.content[0].text[:100]}")
                done[0] += 1

    async def guarded(index: int, tg: Any) -> None:
        try:
            await one_session(index)
        except Exception as exc:  # noqa: BLE001 - counted; the run stops once the error budget is spent
            errors.append(f"session {index}: {type(exc).__name__}: {exc}"[:200])
        if len(errors) > max_errors:
            tg.cancel_scope.cancel()

    with anyio.move_on_after(budget_s) as scope:
        async with anyio.create_task_group() as tg:
            for index in range(sessions):
                tg.start_soon(guarded, index, tg)
    elapsed = time.monotonic() - started
    print(f"\n== {sessions} concurrent sessions x {calls} light calls ==")
    print(f"completed calls   {done[0]} of {sessions * calls} in {elapsed:.1f} s ({done[0] / elapsed:.0f} calls/s)"
          + ("  [stopped by the time budget]" if scope.cancel_called else ""))
    print(f"errors            {len(errors)}" + (f"  e.g. {errors[:3]}" if errors else ""))
    print(f"session connect   {describe(connects)}")
    print(f"light call        {describe(latencies)}")


async def light_while(server: Server, label: str, heavy: Any, limit_s: float) -> None:
    """Light calls one at a time, every 20 ms, for as long as `heavy` runs (at most `limit_s`)."""
    latencies: list[float] = []
    finished = anyio.Event()
    outcome: list[str] = []

    async def run_heavy() -> None:
        try:
            outcome.append(await heavy())
        finally:
            finished.set()

    async with server.client() as client, anyio.create_task_group() as tg:
        for name, args in LIGHT:
            await client.call_tool(name, args)
        tg.start_soon(run_heavy)
        await anyio.sleep(0.2)
        deadline = time.monotonic() + limit_s
        n = 0
        while not finished.is_set() and time.monotonic() < deadline:
            name, args = LIGHT[n % len(LIGHT)]
            begun = time.perf_counter()
            await client.call_tool(name, args)
            latencies.append(time.perf_counter() - begun)
            n += 1
            await anyio.sleep(0.02)
        tg.cancel_scope.cancel()
    print(f"\n== light calls while {label} ==")
    print(f"heavy work        {outcome[0] if outcome else 'still running at the end of the window'}")
    p99 = percentile(latencies, 0.99) * 1000
    print(f"light call        {describe(latencies)}  -> p99 {'<=' if p99 <= 50 else '>'} 50 ms")


async def memory_phase(server: Server, idle: float, separation: bool) -> None:
    """RSS after unload_engines, then over more load/unload cycles: it must settle, not grow."""
    print("\n== memory ==")
    print(f"RSS at idle (fresh process)       {idle:6.0f} MB")
    for cycle in range(3 if separation else 1):
        async with server.client() as client:
            if cycle and separation:
                await client.call_tool("separate_stems", {"input": "song.wav", "model": SEPARATION_MODEL, "analyze": False,
                                                          "overwrite": True})
            state = (await client.call_tool("list_engines", {})).structured_content
            await client.call_tool("unload_engines", {})
            after = (await client.call_tool("list_engines", {})).structured_content
        await anyio.sleep(2.0)
        names = ", ".join(f"{e['family']}/{e['model']}" for e in state["engines"]) or "none"
        print(f"cycle {cycle}: with engines ({names}) server {state['process_rss_mb']:6.0f} MB + engine process "
              f"{state['engine_process_rss_mb']:6.0f} MB -> after unload_engines server "
              f"{rss_mb(server.process.pid):6.0f} MB + engine process {after['engine_process_rss_mb']:.0f} MB")


async def main(options: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="audiolla-load-") as tmp:
        workspace, models = Path(tmp) / "workspace", Path(tmp) / "models"
        workspace.mkdir()
        models.mkdir()
        write_tone(workspace / "song.wav", 3.0)
        write_tone(workspace / "mix.wav", options.separation_s)
        write_tone(workspace / "long.wav", options.analysis_s, channels=1)
        separation = register_separation_model(models)
        server = Server(workspace, models)
        try:
            async with server.client() as client:
                for name, args in LIGHT:
                    await client.call_tool(name, args)
            await anyio.sleep(2.0)
            idle = rss_mb(server.process.pid)
            print(f"server RSS at idle: {idle:.0f} MB (pid {server.process.pid})")

            await sessions_phase(server, options.sessions, options.calls, options.budget_s, options.max_errors)
            await anyio.sleep(2.0)
            print(f"server RSS after the sessions phase: {rss_mb(server.process.pid):.0f} MB")

            if separation:
                async def separate() -> str:
                    async with server.client() as client:
                        begun = time.perf_counter()
                        result = await client.call_tool("separate_stems", {"input": "mix.wav", "model": SEPARATION_MODEL,
                                                                           "analyze": False})
                        text = result.content[0].text[:120]
                        return f"separate_stems of {options.separation_s:g} s: {time.perf_counter() - begun:.1f} s, {text}"

                await light_while(server, "a separation runs (full-size htdemucs, random weights)", separate, 600)
            else:
                print("\n(separation phase skipped: torch/demucs not installed)")

            async def analyze() -> str:
                async with server.client() as client:
                    begun = time.perf_counter()
                    result = await client.call_tool("detect_beats", {"input": "long.wav"})
                    return f"detect_beats of {options.analysis_s:g} s: {time.perf_counter() - begun:.1f} s, {result.content[0].text[:100]}"

            await light_while(server, "a long analysis runs (detect_beats)", analyze, 600)

            await memory_phase(server, idle, separation)
        finally:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--budget-s", type=float, default=900.0, help="wall-clock budget of the sessions phase")
    parser.add_argument("--max-errors", type=int, default=100, help="stop the sessions phase after this many errors")
    parser.add_argument("--separation-s", type=float, default=30.0, help="length of the audio to separate")
    parser.add_argument("--analysis-s", type=float, default=600.0, help="length of the audio to analyse")
    anyio.run(main, parser.parse_args())
