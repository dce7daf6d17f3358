"""The engine process: calls, progress, cancel, errors, a crash, and stopping once idle."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from engine_process_targets import count, killed, refuse, weigh, where

from audiolla_mcp.engines.process import ENGINE_PROCESS, engine_process
from audiolla_mcp.errors import Cancelled, ToolError
from audiolla_mcp.progress import CancelToken


@pytest.fixture
def child(monkeypatch):
    """A fresh engine process that can import the targets module."""
    ENGINE_PROCESS.stop()
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    monkeypatch.setenv("AUDIOLLA_DEVICE", "cpu")
    with engine_process(True):
        yield ENGINE_PROCESS
    ENGINE_PROCESS.set_ttl(600.0)
    ENGINE_PROCESS.stop()


def test_outside_a_tool_the_call_stays_in_this_process():
    assert where(np.arange(4.0)) == (os.getpid(), 6.0)
    assert not ENGINE_PROCESS.running


def test_a_call_runs_in_the_child_and_returns_its_value(child):
    pid, total = where(np.arange(10.0))
    assert pid != os.getpid() and total == 45.0
    assert child.running and where(np.zeros(1))[0] == pid  # one child serves every call


def test_progress_comes_back_in_order(child):
    seen = []
    assert count(4, progress=lambda done, total, message=None: seen.append((done, total, message))) == 4
    assert seen == [(i, 4, "counting") for i in range(1, 5)]


def test_cancel_reaches_the_running_call(child):
    token = CancelToken()

    def progress(done, total, message=None):
        if done == 2:
            token.cancel()

    started = time.monotonic()
    with pytest.raises(Cancelled):
        count(200, progress=progress, cancel=token)
    assert time.monotonic() - started < 5  # 200 steps would take 10 s


def test_a_tool_error_keeps_its_message(child):
    with pytest.raises(ToolError, match="no such model"):
        refuse("no such model")


def test_a_killed_child_is_a_clear_error_and_the_next_call_starts_a_new_one(child):
    first = where(np.zeros(1))[0]
    with pytest.raises(ToolError, match="engine process stopped during the call.*signal 9"):
        killed()
    assert where(np.zeros(1))[0] != first


def test_unload_lists_the_engines_and_stops_the_child(child):
    assert weigh("a") == 1000.0
    [info] = child.engines()
    assert (info.family, info.model, info.state) == ("test", "a", "idle")
    assert child.unload_all() == ["test/a"]
    assert not child.running and child.engines() == [] and child.rss_mb() == 0.0


def test_the_child_stops_itself_once_its_engines_expire(child):
    child.set_ttl(0.0)
    weigh("b")
    deadline = time.monotonic() + 15
    while child.running and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not child.running
