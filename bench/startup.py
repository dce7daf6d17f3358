"""Spawn → initialize → tools/list over stdio: audiolla-mcp (all toolsets) vs a bare MCPServer.

Prints both medians and their ratio from one run (target ≤ 1.2).
    .venv/bin/python bench/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
from _stdio import Client, audiolla
from mcp import StdioServerParameters

BARE = """
from mcp.server.mcpserver import MCPServer
server = MCPServer("bare")
@server.tool()
def ping(x: int) -> int:
    return x
server.run()
"""


async def cold_start(params: StdioServerParameters) -> float:
    started = time.perf_counter()
    async with Client(params, mode="legacy") as client:
        tools = await client.list_tools()
        assert tools.tools
    return time.perf_counter() - started


async def main(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bare.py"
        script.write_text(BARE)
        bare = StdioServerParameters(command=sys.executable, args=[str(script)])
        ours = audiolla(Path(tmp) / "ws", "--toolsets", "all")
        bare_times, our_times = [], []
        for _ in range(runs):  # interleaved so drift hits both equally
            bare_times.append(await cold_start(bare))
            our_times.append(await cold_start(ours))
    b, o = statistics.median(bare_times), statistics.median(our_times)
    print(f"bare MCPServer (1 tool)        median {b * 1000:7.0f} ms")
    print(f"audiolla-mcp (all toolsets)    median {o * 1000:7.0f} ms")
    print(f"ratio {o / b:.2f} (target ≤ 1.2)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    anyio.run(main, parser.parse_args().runs)
