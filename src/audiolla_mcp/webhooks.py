"""Webhooks: when a background job finishes, POST its record to the URL the caller gave.

The body is the job record as JSON (`{"event": "job.finished", "job": {...}}`), signed with
HMAC-SHA256 under the operator's `AUDIOLLA_WEBHOOK_SECRET` in `X-Audiolla-Signature:
sha256=<hex>` so the receiver can tell it came from this server. Delivery goes through the
remote-URL policy, runs on its own thread (a slow receiver never holds a job slot), and retries
network errors, 429 and 5xx answers with exponential backoff.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ToolError
from .remote import RemotePolicy

if TYPE_CHECKING:
    from .config import Settings
    from .jobs import JobRecord

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Audiolla-Signature"
EVENT = "job.finished"
RETRY_STATUSES = (408, 425, 429)


def sign(secret: str, body: bytes) -> str:
    """The signature header value for `body`: 'sha256=' + hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Delivery:
    ok: bool
    attempts: int
    status: int | None
    error: str | None


class WebhookNotifier:
    def __init__(self, policy: RemotePolicy, secret: str | None, *, attempts: int = 4, backoff_s: float = 1.0):
        self.policy = policy
        self.secret = secret
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookNotifier:
        return cls(RemotePolicy.from_settings(settings), settings.webhook_secret)

    def check(self, url: str) -> None:
        """Refuse a webhook URL now, at submission, rather than when the job ends."""
        if not self.secret:
            raise ToolError(
                "Webhooks need a signing secret; the operator sets --webhook-secret (AUDIOLLA_WEBHOOK_SECRET)."
            )
        self.policy.check(url)

    def notify(self, url: str, record: JobRecord) -> threading.Thread:
        """Deliver in the background; returns the delivering thread."""
        body = json.dumps({"event": EVENT, "job": record.public()}, separators=(",", ":")).encode()
        thread = threading.Thread(
            target=self.deliver, args=(url, body), name=f"audiolla-webhook-{record.id}", daemon=True
        )
        thread.start()
        return thread

    def deliver(self, url: str, body: bytes) -> Delivery:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "audiolla-mcp webhook",
            "X-Audiolla-Event": EVENT,
            "X-Audiolla-Delivery": uuid.uuid4().hex,
            SIGNATURE_HEADER: sign(self.secret or "", body),
        }
        status: int | None = None
        error: str | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                status = self.policy.request("POST", url, content=body, headers=headers).status
                error = None
                if status < 300:
                    return Delivery(True, attempt, status, None)
                if status < 500 and status not in RETRY_STATUSES:
                    break
            except ToolError as exc:
                error = str(exc)
            if attempt < self.attempts:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
        log.warning("webhook to %s failed after %d attempt(s): %s", url.split("?")[0], attempt, error or status)
        return Delivery(False, attempt, status, error)
