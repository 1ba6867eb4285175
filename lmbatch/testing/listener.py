"""A tiny HTTP server on 127.0.0.1 that records what it receives (for leak tests).

Security tests point some URL (a foreign results host, a config file's ``base_url``...)
at one and assert it received nothing, or nothing secret::

    with Listener() as foreign:
        ...  # run lmbatch with something aimed at foreign.url
    assert foreign.requests == []

It answers every request with the configured status, headers and body (default: 200,
empty JSON object), so a client that does reach it gets an answer instead of hanging.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

__all__ = ["Listener", "Received"]


@dataclass(frozen=True)
class Received:
    """One request the listener got."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Listener:
    """A recording HTTP server on a free port of 127.0.0.1, run in a thread.

    Attributes:
        status: HTTP status of every answer.
        headers: Extra headers of every answer (e.g. ``Location`` for a redirect).
        body: Body of every answer.
        requests: What was received, in order.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"{}"
    requests: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                listener.requests.append(
                    Received(
                        self.command,
                        self.path,
                        {name.lower(): value for name, value in self.headers.items()},
                    )
                )
                self.send_response(listener.status)
                for name, value in listener.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(listener.body)))
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(listener.body)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep test output clean

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Listener:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
