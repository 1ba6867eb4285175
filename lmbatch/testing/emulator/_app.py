"""The ASGI application: both vendor halves, vendor-shaped 404/405s and the call log."""

from __future__ import annotations

from email.utils import formatdate

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lmbatch.testing.emulator._anthropic import AnthropicRoutes
from lmbatch.testing.emulator._http import anthropic_error, openai_error
from lmbatch.testing.emulator._openai import OpenAIRoutes
from lmbatch.testing.emulator._settings import EmulatorSettings
from lmbatch.testing.emulator._state import CallRecord, EmulatorState


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


async def _not_routed(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = f"Unknown request URL: {request.method} {request.url.path}."
    if request.url.path.startswith("/v1/messages"):
        return anthropic_error(status, message)
    return openai_error(status, message)


def create_app(
    settings: EmulatorSettings | None = None, *, state: EmulatorState | None = None
) -> Starlette:
    """Build the emulator as an ASGI app, e.g. for ``httpx.ASGITransport``.

    The controls (``advance``, ``expire``, ``faults``, ``calls``, ``submissions``...) are on
    ``app.state.emulator``, an `EmulatorState`. Call its ``close()`` when done to delete
    the temporary storage.

    Args:
        settings: Behaviour; ignored when ``state`` is given.
        state: Share an existing state (the `Emulator` server does this).

    Returns:
        The Starlette application.
    """
    state = state or EmulatorState(settings)
    routes = [*OpenAIRoutes(state).routes(), *AnthropicRoutes(state).routes()]
    app = Starlette(
        routes=routes,
        exception_handlers={404: _not_routed, 405: _not_routed},
    )
    app.state.emulator = state
    app.add_middleware(_CallLog, state=state)
    return app
