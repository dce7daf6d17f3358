"""Schema fuzz of every exposed tool against the real `audiolla-mcp` process over stdio.

Arguments come from each tool's advertised input schema (hypothesis + hypothesis-jsonschema,
valid and invalid, see tests/reliability/fuzzing.py). Every reply is classified: result, clean
isError, unexpected exception ("internal"), protocol error, hang (no reply within the per-call
timeout) or crash (the process died; it is restarted and the run goes on). At the end: was any
file outside the workspace touched, is any temp file left, and is every new file one that a
successful reply reported (a failed call must leave nothing)?

    .venv/bin/python bench/fuzz.py [--calls 10000] [--timeout 60] [--parallel 1] [--tools a,b]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.strategies import SearchStrategy
from mcp import StdioServerParameters
from mcp.client.stdio import stdio_client

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from reliability.fuzzing import Ledger, arguments, narrowed, reseed, unaccounted_files
from reliability.sandbox import Sandbox
from reliability.sessions import Outcome, Session, session

VENV_BIN = Path(sys.executable).parent
LIMITS = ["--max-file-mb", "64", "--max-duration-s", "120", "--max-jobs", "2"]


class Target:
    """The server process and a client on it; restarted when it dies."""

    def __init__(self, box: Sandbox, scratch: Path):
        self.box = box
        self.log = scratch / "server.log"
        self.cwd = scratch / "cwd"
        self.cwd.mkdir(exist_ok=True)
        self.starts = 0

    @contextmanager
    def connect(self) -> Iterator[Session]:
        params = StdioServerParameters(
            command=str(VENV_BIN / "audiolla-mcp"),
            args=["--workspace", str(self.box.workspace), "--toolsets", "all", "--log-level", "WARNING",
                  "--models-dir", str(self.box.root / "models"), *LIMITS],
            cwd=str(self.cwd),
        )
        self.starts += 1
        with self.log.open("a") as errlog, session(stdio_client(params, errlog=errlog), mode="legacy") as connected:
            yield connected


def alive(client: Session) -> bool:
    return client.call("list_files", {"limit": 1}, timeout_s=30).verdict == "result"


def wait_for_jobs(client: Session, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        jobs = client.call("job_list", {"limit": 500}, timeout_s=30).structured or {}
        if not any(j["status"] in ("queued", "running") for j in jobs.get("jobs", [])):
            return
        time.sleep(0.5)


def job_outputs(client: Session, ledger: Ledger) -> None:
    """Files written by background jobs are reported by their job_result."""
    jobs = client.call("job_list", {"limit": 500}, timeout_s=30).structured or {}
    for job in jobs.get("jobs", []):
        if job["status"] == "succeeded":
            ledger.remember(client.call("job_result", {"job_id": job["job_id"]}, timeout_s=30).structured)


def examples(strategy: SearchStrategy[dict], count: int) -> list[dict]:
    """Up to `count` fresh draws (fewer when the strategy has fewer distinct values)."""
    drawn: list[dict] = []

    @settings(max_examples=count, database=None, deadline=None, suppress_health_check=list(HealthCheck),
              phases=[Phase.generate])
    @given(strategy)
    def draw(args: dict) -> None:
        drawn.append(args)

    draw()
    return drawn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--timeout", type=float, default=60.0, help="per-call timeout, seconds")
    parser.add_argument("--parallel", type=int, default=1, help="calls in flight at once")
    parser.add_argument("--tools", default="", help="only these tools (comma-separated)")
    parser.add_argument("--per-round", type=int, default=10, help="examples per tool per round")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="audiolla-fuzz-") as tmp:
        box = Sandbox.create(Path(tmp) / "sandbox")
        target = Target(box, Path(tmp))
        outside, before = box.snapshot(), {p.relative_to(box.workspace).as_posix() for p in box.workspace.rglob("*")}
        ledger = Ledger()
        started = time.monotonic()
        stack = [target.connect()]
        client = stack[0].__enter__()
        schemas = client.schemas()
        tools = [t for t in schemas if not options.tools or t in options.tools.split(",")]
        strategies = {tool: arguments(narrowed(schemas[tool], box, sorted(schemas))) for tool in tools}
        print(f"fuzzing {len(tools)} tools, target {options.calls} calls, timeout {options.timeout:g} s, "
              f"parallel {options.parallel}", flush=True)

        def run(batch: list[tuple[str, dict]]) -> list[Outcome]:
            nonlocal client
            outcomes = client.call_many(batch, options.timeout, options.parallel,
                                        queues=[str(i % options.parallel) for i in range(len(batch))])
            if any(o.verdict in ("crash", "hang") for o in outcomes) and not alive(client):
                print(f"  server lost after {ledger.calls} calls; restarting", flush=True)
                with contextlib.suppress(Exception):  # the old process is gone; its client may complain
                    stack[0].__exit__(None, None, None)
                stack[0] = target.connect()
                client = stack[0].__enter__()
            return outcomes

        while ledger.calls < options.calls:
            for tool, strategy in strategies.items():
                pending = [(tool, args) for args in examples(strategy, options.per_round)]
                for start in range(0, len(pending), max(1, options.parallel)):
                    batch = pending[start:start + max(1, options.parallel)]
                    for (name, args), outcome in zip(batch, run(batch)):
                        ledger.record(name, args, outcome)
                    reseed(box)
                if ledger.calls >= options.calls:
                    break
            elapsed = time.monotonic() - started
            print(f"  {ledger.calls} calls in {elapsed:.0f} s ({ledger.calls / elapsed:.1f}/s): {ledger.summary()}", flush=True)

        wait_for_jobs(client, 300)
        job_outputs(client, ledger)
        stack[0].__exit__(None, None, None)
        elapsed = time.monotonic() - started
        touched = {k for k in set(outside) | set(box.snapshot()) if outside.get(k) != box.snapshot().get(k)}
        stray = sorted(p.name for p in target.cwd.iterdir())
        partial = unaccounted_files(box, ledger, before)
        counts = [sum(c.values()) for c in ledger.by_tool.values()]
        print("\n== schema fuzz ==")
        print(f"calls               {ledger.calls} over {len(tools)} tools ({min(counts)}-{max(counts)} per tool)")
        print(f"wall time           {elapsed:.0f} s ({ledger.calls / elapsed:.1f} calls/s)")
        for verdict in ("result", "error", "internal", "protocol", "hang", "crash"):
            print(f"{verdict:<19} {ledger.verdicts[verdict]}")
        print(f"server starts       {target.starts}")
        print(f"outside touched     {sorted(touched) or 'none'}")
        print(f"written to cwd      {stray or 'none'}")
        print(f"temp files left     {box.leftovers() or 'none'}")
        print(f"unreported files    {partial[:20] or 'none'}")
        tracebacks = target.log.read_text(errors="replace").count("Traceback")
        print(f"server tracebacks   {tracebacks} (stderr log)")
        for tool, verdict, args, text in ledger.failures[:30]:
            print(f"  {verdict:<8} {tool} {str(args)[:200]} -> {text[:200]}")


if __name__ == "__main__":
    main()
