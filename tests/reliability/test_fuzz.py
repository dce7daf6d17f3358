"""Schema fuzz, the CI slice: every exposed tool, calls generated from its input schema, through
the real client. `bench/fuzz.py` runs the same generator for 10,000+ calls against a subprocess.

Every reply must be a result or a clean isError (no protocol error, no unexpected exception, no
hang); nothing outside the workspace may change, no temp file may stay behind, and every new
file must be one a successful reply reported (a failed call leaves nothing).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e.conftest import stdio_params
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from .fuzzing import Ledger, arguments, narrowed, reseed, unaccounted_files
from .sandbox import Sandbox
from .sessions import Session, served, session

EXAMPLES = 2
"""Generated calls per tool in CI (tools without parameters get one)."""
LIMITS = {"max_file_mb": 64.0, "max_duration_s": 120.0, "max_jobs": 2}
"""Bounds that keep a generated call from running for minutes (they are fuzzed too)."""


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, Session]]:
    box = Sandbox.create(tmp_path_factory.mktemp("fuzz"))
    with served(box, **LIMITS) as client:
        yield box, client


def visible_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir()}


def wait_for_jobs(client: Session, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while any(r.status in ("queued", "running") for r in client.app.jobs.list()) and time.monotonic() < deadline:
        time.sleep(0.2)


def fuzz_one(client: Session, box: Sandbox, tool: str, strategy: st.SearchStrategy[dict], ledger: Ledger) -> None:
    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    @given(strategy)
    def call(args: dict) -> None:
        ledger.record(tool, args, client.call(tool, args, timeout_s=90))
        reseed(box)

    call()


def test_every_tool_answers_generated_calls_cleanly(fuzzed: tuple[Sandbox, Session]) -> None:
    box, client = fuzzed
    schemas = client.schemas()
    strategies = {tool: arguments(narrowed(schema, box, sorted(schemas))) for tool, schema in schemas.items()}
    outside, before = box.snapshot(), visible_files(box.workspace)
    ledger = Ledger()
    for tool, strategy in strategies.items():
        fuzz_one(client, box, tool, strategy, ledger)
    wait_for_jobs(client)
    print(f"\n{ledger.calls} generated calls over {len(schemas)} tools: {ledger.summary()}")
    assert len(ledger.by_tool) == len(schemas)
    assert ledger.failures == []
    assert ledger.verdicts["result"] > 0 and ledger.verdicts["error"] > 0
    assert box.snapshot() == outside
    assert box.leftovers() == []
    assert unaccounted_files(box, ledger, before) == []
    assert client.call("list_files", {}).verdict == "result"


@pytest.mark.slow
def test_concurrent_calls_to_one_model_engine_do_not_kill_the_server(tmp_path: Path) -> None:
    """Regression: four enhance_speech calls at once aborted the process (libDF's shared
    streaming state is not thread-safe). Model-backed tools, four calls each, all at once."""
    box = Sandbox.create(tmp_path)
    calls = [(tool, {"input": "seed.wav", **extra}) for n in range(4) for tool, extra in (
        ("enhance_speech", {"output": f"enhanced{n}.wav"}), ("detect_voice", {}), ("audio_to_midi", {"output": f"notes{n}.mid"}))]
    params = stdio_params(box.workspace)
    params.args = [*params.args, "--toolsets", "speech,midi"]
    with session(params, mode="legacy") as client:
        outcomes = client.call_many(calls, timeout_s=120, concurrency=len(calls), queues=[str(i) for i in range(len(calls))])
        assert [o.verdict for o in outcomes] == ["result"] * len(calls), [o.text[:80] for o in outcomes]
        assert "enhance_speech" in client.schemas()  # still serving
