"""What the emulator host would give a plugin vendor, built on today's public emulator API.

The lmbatch emulator (``lmbatch.testing.emulator``) is about to serve plugin vendors
through a hook, with a base class that runs every operation under auth, the clock, the
scripted faults and download tampering. Until that lands, this module gives the Gemini
vendor the same things from the public names of ``lmbatch.testing.emulator``
(``EmulatorState``, its ``FaultPlan``): :class:`VendorHost` (``guarded``, lifecycle
controls, an ASGI app that sends the vendor's ``Date`` header) and
:class:`VendorServer` (a background uvicorn server for tests). Once the hook is there,
``GeminiEmulator`` subclasses the host's vendor base class and this module goes.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from email.utils import formatdate
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Protocol, Self

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lmbatch.testing.emulator import EmulatorSettings, EmulatorState, ResultsTamper

__all__ = ["Action", "Job", "VendorHost", "VendorServer"]

Action = Callable[[], Awaitable[Response]]
_START_TIMEOUT = 10.0


class Job(Protocol):
    """A batch record the host drives through its lifecycle."""

    id: str
    polls: int
    last_step_at: float

    @property
    def terminal(self) -> bool:
        """Whether the batch has ended."""
        ...

    def step(self) -> None:
        """Advance one lifecycle step."""
        ...

    def expire(self, finished: int) -> None:
        """End as expired with ``finished`` requests run."""
        ...


class VendorHost:
    """One vendor's part of the emulator: routes, error shape, auth check, batches.

    Attributes:
        name: The vendor's name (its operations' faults name it as ``provider``).
        operations: Its operation names, as ``EndpointFault`` names them.
        state: The emulator state served (settings, clock, faults, storage).
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    base_path: ClassVar[str] = ""
    path_prefixes: ClassVar[tuple[str, ...]] = ()
    operations: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        #: Every call answered: ``(method, path, query string, operation, status)``.
        self.calls: list[tuple[str, str, str, str | None, int]] = []

    # What a vendor writes ----------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        """The vendor's routes."""
        raise NotImplementedError

    def error_response(self, status: int, message: str | None = None) -> Response:
        """An HTTP error in the vendor's shape."""
        raise NotImplementedError

    def fault_response(self, status: int) -> Response:
        """What a scripted ``EndpointFault`` answers."""
        return self.error_response(status)

    def auth_error(self, request: Request) -> Response | None:
        """The refusal of a request without credentials, or None."""
        return None

    def jobs(self) -> Iterable[Job]:
        """The vendor's batches."""
        return ()

    def reset(self) -> None:
        """Forget every record."""

    # What the host gives -----------------------------------------------------------------

    async def guarded(self, request: Request, operation: str, action: Action) -> Response:
        """Run ``action`` for one operation under auth, the clock, faults and tampering."""
        request.state.provider = self.name
        request.state.operation = operation
        denied = self.auth_error(request)
        if denied is not None:
            return denied
        self.tick()
        fault = self.state.faults.check(self.name, operation)  # type: ignore[arg-type]
        if fault is not None and not fault.after_effect:
            return self.fault_response(fault.status)
        response = await action()
        if fault is not None:
            return self.fault_response(fault.status)
        tamper = self.state.faults.tamper_for(self.name, operation)  # type: ignore[arg-type]
        if tamper is not None and isinstance(response, FileResponse):
            return _tampered(response, tamper)
        return response

    def tick(self) -> None:
        """In ``"time"`` mode, catch every batch up with the wall clock."""
        settings = self.state.settings
        if settings.mode != "time":
            return
        now = time.monotonic()
        with self.state.lock:
            for job in self.jobs():
                while not job.terminal and now - job.last_step_at >= settings.seconds_per_step:
                    job.step()
                    job.last_step_at += settings.seconds_per_step

    def _targets(self, batch_id: str | None) -> list[Job]:
        jobs = list(self.jobs())
        if batch_id is None:
            return jobs
        found = [job for job in jobs if job.id == batch_id]
        if not found:
            raise KeyError(batch_id)
        return found

    def advance(self, batch_id: str | None = None, steps: int = 1) -> None:
        """Move one batch (default: every unfinished one) ``steps`` lifecycle steps on."""
        with self.state.lock:
            for _ in range(steps):
                for job in self._targets(batch_id):
                    if not job.terminal:
                        job.step()
                        job.last_step_at = time.monotonic()

    def finish(self, batch_id: str | None = None) -> None:
        """Advance one batch (default: all) to its final state."""
        with self.state.lock:
            for job in self._targets(batch_id):
                while not job.terminal:
                    job.step()

    def expire(self, batch_id: str, finished: int = 0) -> None:
        """End a batch as expired with only its first ``finished`` requests run."""
        with self.state.lock:
            self._targets(batch_id)[0].expire(finished)

    def app(self) -> Starlette:
        """The vendor alone as an ASGI app (unknown URLs answer the vendor's 404)."""

        async def not_routed(request: Request, exc: Exception) -> Response:
            status = exc.status_code if isinstance(exc, HTTPException) else 500
            return self.error_response(status, f"Unknown request URL: {request.url.path}")

        app = Starlette(routes=self.routes(), exception_handlers={404: not_routed, 405: not_routed})
        app.add_middleware(_CallLog, vendor=self)
        return app


class _CallLog:
    """Logs every call (``VendorHost.calls``) and sends the HTTP ``Date`` header from the
    emulated vendor's clock (pure ASGI: streamed bodies pass as they are)."""

    def __init__(self, app: ASGIApp, vendor: VendorHost) -> None:
        self.app = app
        self.vendor = vendor
        self.state = vendor.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})

        async def dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                date = formatdate(self.state.now(), usegmt=True).encode("latin-1")
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                message = {**message, "headers": [*headers, (b"date", date)]}
                with self.state.lock:
                    self.vendor.calls.append(
                        (
                            scope["method"],
                            scope["path"],
                            scope.get("query_string", b"").decode("latin-1"),
                            scope["state"].get("operation"),
                            message["status"],
                        )
                    )
            await send(message)

        await self.app(scope, receive, dated)


def _tampered(response: FileResponse, tamper: ResultsTamper) -> Response:
    """The file body damaged as ``tamper`` asks (the same actions as the host's)."""
    lines = [line for line in Path(response.path).read_bytes().splitlines(True) if line.strip()]
    if tamper.action == "empty" or not lines:
        body = b""
    elif tamper.action == "truncate":
        body = b"".join(lines[:-1]) + lines[-1][: max(1, len(lines[-1]) // 2)]
    elif tamper.action in ("drop_tail", "disconnect"):
        body = b"".join(lines[: len(lines) // 2])
    elif tamper.action == "duplicate_all":
        body = b"".join(line for line in lines for _ in range(2))
    else:  # unknown_id
        first = json.loads(lines[0])
        first["key"] = "never-submitted-id"
        body = b"".join(lines) + (json.dumps(first) + "\n").encode()
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    if tamper.action == "disconnect":
        return StreamingResponse(_then_drop(body), status_code=200, headers=headers)
    return Response(body, status_code=200, headers=headers)


async def _then_drop(body: bytes) -> AsyncIterator[bytes]:
    yield body
    raise ConnectionAbortedError("emulated connection drop in the middle of a download")


class VendorServer:
    """One vendor served alone on ``127.0.0.1`` by uvicorn in a background thread.

    Usable as a sync or async context manager; stops the server and deletes the
    emulator's storage on exit.

    Args:
        make: Builds the vendor from the emulator state.
        settings: Behaviour (mode, faults...); defaults to ``EmulatorSettings()``.
    """

    def __init__(
        self,
        make: Callable[[EmulatorState], VendorHost],
        settings: EmulatorSettings | None = None,
    ) -> None:
        self.state = EmulatorState(settings)
        self.vendor = make(self.state)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._port: int | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (the vendor's ``base_path`` appended)."""
        if self._port is None:
            raise RuntimeError("the server is not running; use it as a context manager")
        return f"http://127.0.0.1:{self._port}{self.vendor.base_path}"

    def start(self) -> None:
        """Start serving; returns once the server accepts connections."""
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.vendor.app(),
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=2,
            date_header=False,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="lmbatch-gemini-emulator"
        )
        thread.daemon = True
        self._server, self._thread, self._sock = server, thread, sock
        thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the emulator did not start")
            time.sleep(0.005)

    def stop(self) -> None:
        """Stop the server, wait for its thread, delete the storage."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self.state.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)
