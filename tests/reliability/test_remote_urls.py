"""Remote URLs: no tool reaches the network unless the operator's policy allows the URL.

Every parameter that takes a URL is found in the advertised input schemas. Each one is refused
while remote URLs are off (the default) and when the scheme, the host or the address it resolves
to is not allowed, before any job starts; with the policy opened for 127.0.0.1 it delivers a
signed request to a local listener, and a redirect from there to a host off the allowlist is not
followed.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest
from unit.remote_signals import Listener, start_listener

from audiolla_mcp.webhooks import SIGNATURE_HEADER, sign

from .sandbox import Sandbox, seed_base64
from .schemas import Builder
from .sessions import Session, served

URL_TEXT = re.compile(r"\bURLs?\b")
SECRET = "reliability-webhook-secret"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    box = Sandbox.create(tmp_path_factory.mktemp("remote"))
    with served(box) as connected:
        connected.box = box
        yield connected


@pytest.fixture
def listener() -> Iterator[Listener]:
    started = start_listener()
    yield started
    started.close()


@pytest.fixture
def policy(client: Session) -> Iterator[object]:
    """The operator's remote settings, restored after each test."""
    settings = client.app.settings
    saved = (settings.remote_allowlist, settings.remote_schemes, settings.remote_allow_private, settings.webhook_secret)
    yield settings
    settings.remote_allowlist, settings.remote_schemes, settings.remote_allow_private, settings.webhook_secret = saved


def url_calls(client: Session, url: str) -> list[tuple[str, dict]]:
    """One call per URL parameter of every exposed tool, with `url` in it (in the background
    when the tool has that switch: URLs are for job notifications)."""
    calls = []
    for tool, schema in client.schemas().items():
        for name, sub in schema.get("properties", {}).items():
            if name.endswith("url") or URL_TEXT.search(sub.get("description", "")):
                args = Builder(tool, schema, seed_base64(client.box)).arguments((("prop", name),), url)
                if "background" in schema["properties"]:
                    args["background"] = True
                calls.append((tool, args))
    return calls


def jobs(client: Session) -> int:
    return len(client.call("job_list", {"limit": 500}).structured["jobs"])


def test_url_parameters_are_found(client: Session) -> None:
    tools = {tool for tool, _ in url_calls(client, "https://example.com/hook")}
    exposed = set(client.schemas())
    assert {"run_preset", "run_pipeline", "batch"} & exposed <= tools
    assert tools


def test_every_url_is_refused_while_remote_urls_are_off(client: Session, listener: Listener, policy: object) -> None:
    before = jobs(client)
    for secret, reason in ((None, "need a signing secret"), (SECRET, "Remote URLs are disabled")):
        policy.webhook_secret = secret
        for url in ("https://hooks.example.com/x", f"{listener.base}/hook", "http://169.254.169.254/latest/meta-data"):
            for tool, args in url_calls(client, url):
                outcome = client.call(tool, args)
                assert outcome.verdict == "error" and reason in outcome.text, (tool, outcome.text)
    assert jobs(client) == before
    assert listener.seen == []


@pytest.mark.parametrize(("allowlist", "schemes", "url", "reason"), [
    (["127.0.0.1"], ["https"], "http://127.0.0.1:{port}/hook", "allows only https"),
    (["127.0.0.1"], ["https", "http"], "http://127.0.0.1:{port}/hook", "a loopback address"),
    (["localhost"], ["https", "http"], "http://localhost:{port}/hook", "a loopback address"),
    (["127.0.0.1"], ["https", "http"], "http://hooks.example.com/x", "not on this server's remote allowlist"),
    (["*"], ["https", "http"], "http://169.254.169.254/latest/meta-data", "a link-local address"),
    (["*"], ["https", "http"], "http://10.0.0.7/hook", "a private address"),
    (["*"], ["https", "http"], "http://[::ffff:127.0.0.1]:{port}/hook", "a loopback address"),
    (["*"], ["https", "http"], "http://user:pw@127.0.0.1:{port}/hook", "credentials"),
    (["*"], ["https", "http"], "ftp://127.0.0.1/hook", "not an http(s) URL"),
])
def test_the_policy_refuses_before_any_job_starts(client: Session, listener: Listener, policy: object,
                                                   allowlist: list[str], schemes: list[str], url: str, reason: str) -> None:
    policy.remote_allowlist, policy.remote_schemes, policy.webhook_secret = allowlist, schemes, SECRET
    before = jobs(client)
    for tool, args in url_calls(client, url.format(port=listener.server.server_address[1])):
        outcome = client.call(tool, args)
        assert outcome.verdict == "error" and reason in outcome.text, (tool, outcome.text)
    assert jobs(client) == before
    assert listener.seen == []


def test_allowed_urls_get_signed_deliveries_and_redirects_are_checked_again(client: Session, listener: Listener,
                                                                            policy: object) -> None:
    policy.remote_allowlist, policy.remote_schemes = ["127.0.0.1"], ["https", "http"]
    policy.remote_allow_private, policy.webhook_secret = True, SECRET
    calls = url_calls(client, f"{listener.base}/hook")
    for tool, args in calls:
        assert client.call(tool, args).verdict == "result"
    seen = listener.wait(len(calls), timeout_s=60)
    assert len(seen) == len(calls)
    for request in seen:
        assert request.path == "/hook" and request.method == "POST"
        assert request.headers[SIGNATURE_HEADER] == sign(SECRET, request.body)
        assert json.loads(request.body)["event"] == "job.finished"

    listener.seen.clear()
    port = listener.server.server_address[1]
    tool, args = url_calls(client, f"{listener.base}/to/http://localhost:{port}/hook")[0]
    assert client.call(tool, args).verdict == "result"
    first = listener.wait(1, timeout_s=60)
    time.sleep(1.0)
    assert first and all(request.path.startswith("/to/") for request in listener.seen)
