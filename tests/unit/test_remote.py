"""The remote-URL policy and webhook delivery, against a real listener on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from remote_signals import start_listener

from audiolla_mcp.config import Settings
from audiolla_mcp.errors import ToolError
from audiolla_mcp.jobs import JobManager
from audiolla_mcp.remote import RemotePolicy
from audiolla_mcp.webhooks import SIGNATURE_HEADER, WebhookNotifier, sign

IP_HOSTS = (
    "127.0.0.1",
    "10.1.2.3",
    "192.168.0.10",
    "169.254.169.254",
    "::1",
    "::ffff:127.0.0.1",
    "0.0.0.0",
    "100.64.0.1",
)
LOOPBACK = RemotePolicy(
    allowlist=("127.0.0.1",), schemes=("https", "http"), allow_private=True, max_bytes=100_000, timeout_s=1.0
)


@pytest.fixture
def listener():
    started = start_listener()
    yield started
    started.close()


def test_disabled_by_default():
    policy = RemotePolicy.from_settings(Settings())
    assert not policy.enabled
    with pytest.raises(ToolError, match="Remote URLs are disabled"):
        policy.check("https://example.com/hook")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://example.com/x", "allows only https"),
        ("ftp://example.com/x", r"not an http\(s\) URL"),
        ("https://evil.example.net/x", "not on this server's remote allowlist"),
        ("https://user:pw@example.com/x", "credentials"),
        ("https://localhost/x", "loopback"),
        ("https://127.0.0.1/x", "loopback"),
        ("https://10.1.2.3/x", "private"),
        ("https://192.168.0.10/x", "private"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://[::1]/x", "loopback"),
        ("https://[::ffff:127.0.0.1]/x", "loopback"),
        ("https://0.0.0.0/x", "unspecified"),
        ("https://100.64.0.1/x", "reserved"),
    ],
)
def test_refused_urls(url, reason):
    policy = RemotePolicy(allowlist=("example.com", "localhost", "evil.example.org", *IP_HOSTS))
    with pytest.raises(ToolError, match=reason):
        policy.check(url)


def test_allowlist_patterns_and_public_addresses_pass():
    policy = RemotePolicy(allowlist=("hooks.example.com", "*.cdn.example.org", "93.184.216.34"))
    assert policy.check("https://93.184.216.34/x").address == "93.184.216.34"
    with pytest.raises(ToolError, match="allowlist"):
        policy.check("https://cdn.example.org/x")  # '*.' covers subdomains only
    for allowed in ("https://a.cdn.example.org/x", "https://HOOKS.example.com./x"):
        try:
            policy.check(allowed)
        except ToolError as exc:  # no DNS here: it may fail later, but never on the allowlist
            assert "allowlist" not in str(exc)
    anything = RemotePolicy(allowlist=("*",))
    target = anything.check("https://8.8.8.8:8443/path?q=1")
    assert (target.host, target.port, target.address) == ("8.8.8.8", 8443, "8.8.8.8")


def test_private_addresses_only_with_the_opt_in():
    assert LOOPBACK.check("http://127.0.0.1:9/x").address == "127.0.0.1"
    assert RemotePolicy(allowlist=("localhost",), allow_private=True).check("https://localhost/x").address in (
        "127.0.0.1",
        "::1",
    )
    with pytest.raises(ToolError, match="unspecified"):
        RemotePolicy(allowlist=("0.0.0.0",), allow_private=True).check("https://0.0.0.0/x")


def test_settings_build_the_policy():
    settings = Settings(
        remote_allowlist=["Hooks.Example.com."], remote_schemes=["https", "http"], remote_max_mb=1, remote_timeout_s=5
    )
    policy = RemotePolicy.from_settings(settings)
    assert policy.allowlist == ("hooks.example.com",) and policy.schemes == ("https", "http")
    assert policy.max_bytes == 1024 * 1024 and policy.timeout_s == 5


def test_request_reads_follows_checked_redirects_and_caps(listener):
    assert LOOPBACK.request("GET", listener.base + "/ok").body == b"hello"
    assert LOOPBACK.request("GET", listener.base + "/to/ok").body == b"hello"
    assert [s.path for s in listener.seen] == ["/ok", "/to/ok", "/ok"]
    with pytest.raises(ToolError, match="over the 0 MB cap|more than the"):
        LOOPBACK.request("GET", listener.base + "/big")
    with pytest.raises(ToolError, match="redirected more than 5 times"):
        LOOPBACK.request("GET", listener.base + "/loop")
    started = time.monotonic()
    with pytest.raises(ToolError, match="took longer than 1 s"):
        LOOPBACK.request("GET", listener.base + "/slow")
    assert time.monotonic() - started < 1.9


def test_a_redirect_to_a_refused_host_is_not_followed(listener):
    with pytest.raises(ToolError, match="not on this server's remote allowlist"):
        LOOPBACK.request("GET", listener.base + "/to/http://localhost:1/ok")
    without_private = RemotePolicy(allowlist=("127.0.0.1",), schemes=("http",))
    with pytest.raises(ToolError, match="loopback"):
        without_private.request("GET", listener.base + "/ok")
    assert [s.path for s in listener.seen] == ["/to/http://localhost:1/ok"]


def test_webhook_is_signed_and_retried(listener):
    notifier = WebhookNotifier(LOOPBACK, "s3cret", attempts=3, backoff_s=0.05)
    body = json.dumps({"event": "job.finished", "job": {"id": "j1"}}).encode()
    delivery = notifier.deliver(listener.base + "/flaky", body)
    assert delivery.ok and delivery.attempts == 2 and delivery.status == 200
    last = listener.seen[-1]
    assert last.method == "POST" and last.body == body
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert last.headers[SIGNATURE_HEADER] == expected == sign("s3cret", body)
    gone = notifier.deliver(listener.base + "/gone", body)
    assert not gone.ok and gone.attempts == 1 and gone.status == 410  # a 4xx other than 408/425/429 is final


def test_webhooks_need_a_secret_and_an_allowed_url():
    with pytest.raises(ToolError, match="signing secret"):
        WebhookNotifier(LOOPBACK, None).check("http://127.0.0.1:9/x")
    with pytest.raises(ToolError, match="disabled"):
        WebhookNotifier(RemotePolicy(), "k").check("https://example.com/x")


def test_job_manager_calls_on_finish_once_per_job(tmp_path, listener):
    jobs = JobManager(tmp_path / "jobs")
    notifier = WebhookNotifier(LOOPBACK, "k", backoff_s=0.05)
    try:
        record = jobs.submit(
            "demo", {}, lambda p, c: ({"n": 1}, "done"), on_finish=lambda r: notifier.notify(listener.base + "/hook", r)
        )
        assert jobs.wait(record.id, 10).status == "succeeded"
        seen = listener.wait(1)
        assert len(seen) == 1
        payload = json.loads(seen[0].body)
        assert payload["event"] == "job.finished" and payload["job"]["id"] == record.id
        assert payload["job"]["status"] == "succeeded" and payload["job"]["result"] == {"n": 1}
        assert seen[0].headers[SIGNATURE_HEADER] == sign("k", seen[0].body)
    finally:
        jobs.shutdown()
