"""The remote-URL policy: which URLs the server may reach, and the one way it reaches them.

Off by default. The operator turns it on by naming hosts (`--remote-allowlist`); then a URL is
used only if its scheme is allowed (https, plus http when opted in), its host is on the
allowlist, and every address the host resolves to is public — loopback, private, link-local,
multicast and reserved ranges are refused unless `AUDIOLLA_REMOTE_ALLOW_PRIVATE=1` (for tests
and trusted LANs). The request then goes to the address that was checked (so a second DNS answer
cannot point it elsewhere), redirects are checked again hop by hop, and the response size and the
total time are capped. Webhooks use it now; URL inputs will use it too.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from .errors import ToolError

if TYPE_CHECKING:
    from .config import Settings

MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Target:
    """A URL that passed the policy, with the address the request must go to."""

    url: str
    scheme: str
    host: str
    port: int
    address: str


@dataclass(frozen=True)
class RemoteResponse:
    status: int
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class RemotePolicy:
    allowlist: tuple[str, ...] = ()
    schemes: tuple[str, ...] = ("https",)
    allow_private: bool = False
    max_bytes: int = 50 * 1024 * 1024
    timeout_s: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RemotePolicy:
        return cls(
            allowlist=tuple(h.strip().lower().rstrip(".") for h in settings.remote_allowlist if h.strip()),
            schemes=tuple(s.strip().lower() for s in settings.remote_schemes if s.strip()) or ("https",),
            allow_private=settings.remote_allow_private,
            max_bytes=int(settings.remote_max_mb * 1024 * 1024),
            timeout_s=settings.remote_timeout_s,
        )

    @property
    def enabled(self) -> bool:
        return bool(self.allowlist)

    # -- checking ---------------------------------------------------------------------------

    def check(self, url: str) -> Target:
        """Validate `url` and resolve its host; raise ToolError saying why it is refused."""
        if not self.enabled:
            raise ToolError(
                "Remote URLs are disabled on this server; the operator enables them with "
                "--remote-allowlist (AUDIOLLA_REMOTE_ALLOWLIST)."
            )
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise ToolError(f"{_short(url)} is not an http(s) URL.")
        if scheme not in self.schemes:
            raise ToolError(
                f"{_short(url)} uses {scheme}; this server allows only {', '.join(self.schemes)} "
                "(plain http needs --remote-schemes https,http)."
            )
        if parts.username or parts.password:
            raise ToolError(f"{_short(url)} carries credentials in the URL; remove them.")
        host = (parts.hostname or "").lower().rstrip(".")
        if not host:
            raise ToolError(f"{_short(url)} has no host.")
        if not self._allowed_host(host):
            raise ToolError(f"The host {host!r} is not on this server's remote allowlist.")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise ToolError(f"{_short(url)} has an invalid port.") from None
        addresses = self._addresses(host, port)
        for address in addresses:
            reason = self._refused_address(address)
            if reason:
                raise ToolError(
                    f"The host {host!r} resolves to {address}, {reason}; remote URLs must reach public addresses."
                )
        return Target(url=url.strip(), scheme=scheme, host=host, port=port, address=str(addresses[0]))

    def _allowed_host(self, host: str) -> bool:
        for pattern in self.allowlist:
            if pattern == "*" or pattern == host:
                return True
            if pattern.startswith("*.") and host.endswith(pattern[1:]):
                return True
        return False

    def _addresses(self, host: str, port: int) -> list[IPAddress]:
        try:
            return [_ip(host)]
        except ValueError:
            pass
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise ToolError(f"The host {host!r} does not resolve ({exc}).") from None
        addresses = list(dict.fromkeys(_ip(info[4][0]) for info in infos))
        if not addresses:
            raise ToolError(f"The host {host!r} does not resolve.")
        return addresses

    def _refused_address(self, address: IPAddress) -> str | None:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if address.is_unspecified or address.is_multicast:
            return "an unspecified or multicast address"
        if self.allow_private or address.is_global:
            return None
        if address.is_loopback:
            return "a loopback address"
        if address.is_link_local:
            return "a link-local address"
        if address.is_private:
            return "a private address"
        return "a reserved address"

    # -- fetching ---------------------------------------------------------------------------

    def request(
        self, method: str, url: str, *, content: bytes | None = None, headers: dict[str, str] | None = None
    ) -> RemoteResponse:
        """One request under the policy: each hop re-checked, body and total time capped."""
        deadline = time.monotonic() + self.timeout_s
        target = self.check(url)
        with httpx.Client(follow_redirects=False, trust_env=False) as client:
            for _ in range(MAX_REDIRECTS + 1):
                response = self._send(client, method, target, content, headers or {}, deadline)
                location = response.headers.get("location")
                if response.status not in REDIRECTS or not location:
                    return response
                if response.status == 303 or (response.status in (301, 302) and method.upper() == "POST"):
                    method, content = "GET", None
                target = self.check(urljoin(target.url, location))
        raise ToolError(f"{_short(url)} redirected more than {MAX_REDIRECTS} times.")

    def _send(
        self,
        client: httpx.Client,
        method: str,
        target: Target,
        content: bytes | None,
        headers: dict[str, str],
        deadline: float,
    ) -> RemoteResponse:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ToolError(f"{_short(target.url)} took longer than {self.timeout_s:g} s.")
        parts = urlsplit(target.url)
        pinned = _bracket(target.address)
        default_port = 443 if target.scheme == "https" else 80
        netloc = pinned if target.port == default_port else f"{pinned}:{target.port}"
        host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
        url = urlunsplit((target.scheme, netloc, parts.path or "/", parts.query, ""))
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        try:
            with client.stream(
                method,
                url,
                content=content,
                headers={**headers, "Host": host_header},
                timeout=httpx.Timeout(remaining),
                extensions=extensions,
            ) as response:
                declared = int(response.headers.get("content-length") or 0)
                if declared > self.max_bytes:
                    raise ToolError(
                        f"{_short(target.url)} answers with {declared / 1e6:.1f} MB, over the {self.max_bytes / 1e6:.0f} MB cap."
                    )
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise ToolError(f"{_short(target.url)} sent more than the {self.max_bytes / 1e6:.0f} MB cap.")
                    if time.monotonic() > deadline:
                        raise ToolError(f"{_short(target.url)} took longer than {self.timeout_s:g} s.")
                return RemoteResponse(response.status_code, target.url, dict(response.headers), bytes(body))
        except httpx.TimeoutException:
            raise ToolError(f"{_short(target.url)} took longer than {self.timeout_s:g} s.") from None
        except httpx.HTTPError as exc:
            raise ToolError(f"{_short(target.url)} could not be reached: {type(exc).__name__}.") from None


def _ip(text: str) -> IPAddress:
    return ipaddress.ip_address(text.split("%", 1)[0])


def _bracket(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _short(url: str) -> str:
    """The URL without credentials or query (which may hold tokens), for messages."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return repr(f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}")
