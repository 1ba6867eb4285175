"""A local HTTP sink for Anthropic batch creates: it reads bodies and keeps none of them.

Used to measure what *sending* costs the client: the emulator would parse every body it
receives (and hold it), so running it in the measured process would hide the client's
own figure. The sink answers ``POST /v1/messages/batches`` with a batch id after reading
the body in small blocks, and counts what it saw: bytes, the requests in the body (the
``"custom_id"`` fields) and whether the body had a declared ``Content-Length``.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

__all__ = ["AnthropicSink", "SinkBody"]

_BLOCK = 256 * 1024
_MARK = b'"custom_id"'


@dataclass
class SinkBody:
    """What the sink saw of one create body."""

    content_length: int
    received: int = 0
    requests: int = 0
    head: bytes = b""
    tail: bytes = b""


@dataclass
class _Seen:
    bodies: list[SinkBody] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class AnthropicSink:
    """``with AnthropicSink() as sink:`` serves on ``sink.base_url`` in a thread."""

    def __init__(self) -> None:
        self.seen = _Seen()
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: benchmarks print their own figures

            def do_POST(self) -> None:
                declared = self.headers.get("Content-Length")
                if declared is None or not self.path.startswith("/v1/messages/batches"):
                    self._answer(411 if declared is None else 404, {"error": "no"})
                    return
                body = SinkBody(content_length=int(declared))
                remaining = body.content_length
                carry = b""  # the end of the last block: a mark may span two blocks
                while remaining > 0:
                    block = self.rfile.read(min(_BLOCK, remaining))
                    if not block:
                        break
                    remaining -= len(block)
                    if not body.head:
                        body.head = block[:64]
                    window = carry + block
                    body.requests += window.count(_MARK)
                    carry = window[-(len(_MARK) - 1) :]
                    body.received += len(block)
                    body.tail = (body.tail + block)[-64:]
                with seen.lock:
                    seen.bodies.append(body)
                    number = len(seen.bodies)
                self._answer(200, {"id": f"msgbatch_sink{number:04d}", "type": "message_batch"})

            def _answer(self, status: int, payload: dict[str, str]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("request-id", "req_sink")
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """The URL to give the Anthropic provider as ``base_url``."""
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def bodies(self) -> list[SinkBody]:
        """Every create body received so far."""
        with self.seen.lock:
            return list(self.seen.bodies)

    def __enter__(self) -> AnthropicSink:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
