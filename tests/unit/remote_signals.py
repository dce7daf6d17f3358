"""A real HTTP listener on 127.0.0.1 for remote-URL and webhook tests.

Each path answers as scripted: `/ok` 200 with a body, `/big` a large body, `/slow` after a pause,
`/to/<path or URL>` a 302 there, `/loop` redirects to itself, `/flaky` 500 on the first request
and 200 after, `/gone` 410. Every request (method, path, headers, body) is recorded.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Listener:
    server: ThreadingHTTPServer
    seen: list[Seen] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait(self, count: int, timeout_s: float = 10.0) -> list[Seen]:
        deadline = time.monotonic() + timeout_s
        while len(self.seen) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.seen

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_listener() -> Listener:
    holder: dict[str, Listener] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _answer(self) -> None:
            size = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(size) if size else b""
            listener = holder["listener"]
            listener.seen.append(Seen(self.command, self.path, dict(self.headers), body))
            listener.arrived.set()
            if self.path == "/ok":
                self._send(200, b"hello")
            elif self.path == "/big":
                self._send(200, b"x" * 300_000)
            elif self.path == "/slow":
                time.sleep(2.0)
                self._send(200, b"late")
            elif self.path.startswith("/to/"):
                target = self.path[4:] if self.path.startswith("/to/http") else self.path[3:]
                self._send(302, b"", {"Location": target})
            elif self.path == "/loop":
                self._send(302, b"", {"Location": "/loop"})
            elif self.path == "/flaky":
                attempts = sum(1 for s in listener.seen if s.path == "/flaky")
                self._send(500 if attempts == 1 else 200, b"")
            elif self.path == "/gone":
                self._send(410, b"")
            else:
                self._send(200, b"")

        do_GET = do_POST = _answer

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    listener = Listener(server)
    holder["listener"] = listener
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    return listener
