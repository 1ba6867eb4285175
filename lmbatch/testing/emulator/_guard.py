"""The pre- and post-processing every emulated operation shares: auth, clock, faults."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse

from lmbatch.testing.emulator._faults import tamper_body
from lmbatch.testing.emulator._http import (
    anthropic_auth_error,
    anthropic_error,
    openai_auth_error,
    openai_error,
)
from lmbatch.testing.emulator._settings import Provider
from lmbatch.testing.emulator._state import EmulatorState

Action = Callable[[], Awaitable[Response]]


async def guarded(
    state: EmulatorState, request: Request, provider: Provider, operation: str, action: Action
) -> Response:
    """Run ``action`` for one API operation, honouring auth and injected faults.

    Args:
        state: The emulator state.
        request: The incoming request (tagged with provider and operation for the call log).
        provider: Which half of the emulator serves it.
        operation: Operation name, as used by `EndpointFault`.
        action: Performs the operation and builds the normal response.

    Returns:
        The response to send.
    """
    request.state.provider = provider
    request.state.operation = operation
    auth_check = openai_auth_error if provider == "openai" else anthropic_auth_error
    denied = auth_check(request, state.settings.require_auth)
    if denied is not None:
        return denied
    state.tick()
    fault = state.faults.check(provider, operation)
    if fault is not None and not fault.after_effect:
        return _fault_response(provider, fault.status)
    response = await action()
    if fault is not None:
        return _fault_response(provider, fault.status)
    tamper = state.faults.tamper_for(provider, operation)
    if tamper is not None and isinstance(response, FileResponse):
        # Read the file the vendor would have streamed and damage it on the way out.
        body = tamper_body(Path(response.path).read_bytes(), tamper)  # noqa: ASYNC240 - test fault path
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        if tamper.action == "disconnect":
            return StreamingResponse(
                _then_drop(body), status_code=response.status_code, headers=headers
            )
        return Response(body, status_code=response.status_code, headers=headers)
    return response


async def _then_drop(body: bytes) -> AsyncIterator[bytes]:
    """Send ``body``, then fail mid-response: the server drops the connection."""
    yield body
    raise ConnectionAbortedError("emulated connection drop in the middle of a download")


def _fault_response(provider: Provider, status: int) -> Response:
    if provider == "openai":
        return openai_error(status)
    message = "Overloaded" if status in (429, 529) else "Internal server error"
    if status == 429:
        message = "Number of request tokens has exceeded your per-minute rate limit"
    return anthropic_error(status, message)
