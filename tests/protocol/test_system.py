"""list_models / pull_model over MCP: the registry, the cache dir, and the download policy."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from model_fixtures import isolated_home
from wire import assert_tool_error, wire

pytestmark = pytest.mark.usefixtures("isolated_home")
assert isolated_home


async def test_list_models_reports_registry_bundled_and_added(call, settings, tmp_path):
    from audiolla_mcp.models import add

    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "m.onnx").write_bytes(b"\0" * 10)
    add("mine", tmp_path / "w")
    data = wire(await call("list_models"))["structuredContent"]
    by_name = {m["name"]: m for m in data["models"]}
    assert by_name["silero-vad"]["installed"] and by_name["silero-vad"]["origin"] == "bundled"
    assert not by_name["htdemucs"]["installed"] and by_name["htdemucs"]["size_mb"] == 80
    assert by_name["mine"]["origin"] == "added" and by_name["mine"]["family"] == "uvr"
    assert data["models_dir"] == str(settings.models_dir) and data["downloads_enabled"] is False
    only = wire(await call("list_models", {"family": "demucs", "installed_only": True}))["structuredContent"]
    assert only["models"] == []


async def test_pull_model_is_refused_unless_downloads_are_enabled(call):
    assert_tool_error(await call("pull_model", {"name": "htdemucs"}),
                      "downloads are disabled", "audiolla-mcp models pull htdemucs", "AUDIOLLA_AUTO_DOWNLOAD=1")
    assert_tool_error(await call("pull_model", {"name": "nope"}), "unknown model 'nope'")
    bundled = wire(await call("pull_model", {"name": "silero-vad"}))["structuredContent"]
    assert bundled["ok"] is True


async def test_engine_ttl_setting_reaches_the_engine_registry(tmp_path, monkeypatch):
    from mcp import Client

    from audiolla_mcp.cli import _parser, _settings
    from audiolla_mcp.engines.base import DEFAULT_TTL_S, ENGINES
    from audiolla_mcp.server import build_server, make_app

    monkeypatch.setenv("AUDIOLLA_ENGINE_TTL", "42")
    assert _settings(_parser().parse_args(["--engine-ttl", "5"])).engine_ttl == 5
    settings = _settings(_parser().parse_args(["--workspace", str(tmp_path / "ws"), "--toolsets", "all"]))
    app = make_app(settings)
    try:
        async with Client(build_server(settings, app)) as client:
            data = wire(await client.call_tool("list_engines", {}))["structuredContent"]
        assert data["ttl_s"] == 42 == ENGINES.ttl
    finally:
        app.jobs.shutdown()
        ENGINES.set_ttl(DEFAULT_TTL_S)


def test_device_setting_is_checked_at_start_and_reaches_the_engines(tmp_path, monkeypatch):
    import os

    from audiolla_mcp.cli import _parser, _settings
    from audiolla_mcp.engines.base import resolve_device
    from audiolla_mcp.errors import ToolError
    from audiolla_mcp.server import make_app

    monkeypatch.setenv("AUDIOLLA_DEVICE", "auto")  # restored after the test
    workspace = ["--workspace", str(tmp_path / "ws")]
    with pytest.raises(ToolError, match="unknown device 'tpu'"):
        make_app(_settings(_parser().parse_args([*workspace, "--device", "tpu"])))
    app = make_app(_settings(_parser().parse_args([*workspace, "--device", "cpu"])))
    app.jobs.shutdown()
    assert os.environ["AUDIOLLA_DEVICE"] == "cpu" and resolve_device() == "cpu"
