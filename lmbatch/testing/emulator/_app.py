"""The ASGI application: every vendor's routes, vendor-shaped 404/405s and the call log."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from email.utils import formatdate
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lmbatch.testing.emulator._http import unrouted
from lmbatch.testing.emulator._settings import EmulatorSettings
from lmbatch.testing.emulator._state import CallRecord, EmulatorState
from lmbatch.testing.emulator._vendor import EmulatorVendor


class _CallLog:
    """Pure ASGI middleware recording (method, path, status, operation) of every call.

    It also sends the HTTP ``Date`` header, from the emulated vendor's clock (the server's
    own is turned off), so clients see the skew ``clock_offset`` sets.

    Pure ASGI rather than ``BaseHTTPMiddleware`` so streamed file bodies pass through as is.
    """

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})
        status = [500]
        recorded = [False]

        def record() -> None:
            if recorded[0]:
                return
            recorded[0] = True
            tags = scope["state"]
            self.state.record_call(
                CallRecord(
                    method=scope["method"],
                    path=scope["path"],
                    status=status[0],
                    provider=tags.get("provider"),
                    operation=tags.get("operation"),
                )
            )

        async def send_and_watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                date = formatdate(self.state.now(), usegmt=True).encode("latin-1")
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                message = {**message, "headers": [*headers, (b"date", date)]}
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Log the call before the client can see the end of the response, so a
                # test that reads the log right after its request always finds it.
                record()
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            record()


def _not_routed(state: EmulatorState) -> Callable[[Request, Exception], Awaitable[Response]]:
    """The 404/405 handler: in the shape of the vendor owning the path, else neutral."""

    async def handler(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        path = request.url.path
        owners = [
            (len(prefix), vendor)
            for vendor in state.vendors.values()
            for prefix in vendor.path_prefixes
            if path.startswith(prefix)
        ]
        if owners:
            _, owner = max(owners, key=lambda found: found[0])
            return owner.error_response(status, f"Unknown request URL: {request.method} {path}.")
        return unrouted(status, request.method, path, sorted(state.vendors))

    return handler


def create_app(
    settings: EmulatorSettings | None = None,
    *,
    state: EmulatorState | None = None,
    vendors: Sequence[type[EmulatorVendor[Any]]] | None = None,
) -> Starlette:
    """Build the emulator as an ASGI app, e.g. for ``httpx.ASGITransport``.

    The controls (``advance``, ``expire``, ``faults``, ``calls``, ``submissions``...) are on
    ``app.state.emulator``, an `EmulatorState`. Call its ``close()`` when done to delete
    the temporary storage.

    Args:
        settings: Behaviour; ignored when ``state`` is given.
        state: Share an existing state (the `Emulator` server does this).
        vendors: Vendor classes to serve (default: every installed one); ignored when
            ``state`` is given.

    Returns:
        The Starlette application.
    """
    state = state or EmulatorState(settings, vendors=vendors)
    routes = [route for vendor in state.vendors.values() for route in vendor.routes()]
    handler = _not_routed(state)
    app = Starlette(routes=routes, exception_handlers={404: handler, 405: handler})
    app.state.emulator = state
    app.add_middleware(_CallLog, state=state)
    return app
