"""Workspace resources and list_changed notifications on both protocol eras."""

from __future__ import annotations

import base64

import anyio
import pytest
from mcp.shared.exceptions import MCPError
from mcp import Client
from mcp_types import ResourceListChangedNotification


async def test_workspace_resources_list_and_read(client, signals):
    signals.sine("a.wav", seconds=0.2)
    (signals.root / "notes").mkdir()
    (signals.root / "notes" / "x.mid").write_bytes(b"MThd")
    listed = {str(r.uri): r for r in (await client.list_resources()).resources}
    assert listed["workspace://a.wav"].mime_type == "audio/wav"
    assert listed["workspace://notes/x.mid"].mime_type == "audio/midi"
    assert "audiolla://catalog" in listed
    read = await client.read_resource("workspace://notes/x.mid")
    assert base64.b64decode(read.contents[0].blob) == b"MThd"
    assert read.contents[0].mime_type == "audio/midi"
    templates = [t.uri_template for t in (await client.list_resource_templates()).resource_templates]
    assert "workspace://{+path}" in templates


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("workspace://../secret.txt", "leaves the workspace"),
        ("workspace://%2e%2e/secret.txt", "leaves the workspace"),
        ("workspace:///etc/passwd", "absolute"),
        ("workspace://missing.wav", "No file"),
    ],
)
async def test_resource_escapes_are_refused(client, workspace, uri, reason):
    (workspace.parent / "secret.txt").write_text("no")
    with pytest.raises(MCPError, match=reason):
        await client.read_resource(uri)


async def test_catalog_resource_lists_toolsets(client):
    import json

    data = json.loads((await client.read_resource("audiolla://catalog")).contents[0].text)
    assert "default" in data["toolsets"] and "files" in data["toolsets"]
    assert any(t["name"] == "list_files" for t in data["toolsets"]["files"])


async def test_list_changed_on_the_handshake_era(server, signals):
    signals.sine("a.wav", seconds=0.2)
    seen = anyio.Event()

    async def on_message(message):
        if isinstance(message, ResourceListChangedNotification):
            seen.set()

    async with Client(server, mode="legacy", message_handler=on_message) as client:
        assert client.server_capabilities.resources.list_changed is True
        result = await client.call_tool("trim", {"input": "a.wav", "end_s": 0.1})
        assert not result.is_error
        with anyio.fail_after(5):
            await seen.wait()


async def test_list_changed_on_the_2026_era(server, signals):
    signals.sine("a.wav", seconds=0.2)
    async with Client(server, mode="2026-07-28") as client:
        async with client.listen(resources_list_changed=True) as subscription:
            result = await client.call_tool("trim", {"input": "a.wav", "end_s": 0.1})
            assert not result.is_error
            with anyio.fail_after(5):
                event = await subscription.__anext__()
        assert "resources" in type(event).__name__.lower() or "list_changed" in str(event).lower()
