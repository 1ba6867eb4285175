"""Damaging a download on its way out, as a `ResultsTamper` asks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from starlette.responses import FileResponse, Response, StreamingResponse

from lmbatch.testing.emulator._faults import ResultsTamper, tamper_body


def tampered(response: Response, tamper: ResultsTamper) -> Response:
    """``response`` with its file body damaged; other responses pass unchanged."""
    if not isinstance(response, FileResponse):
        return response
    # Read the file the vendor would have streamed and damage it on the way out.
    body = tamper_body(Path(response.path).read_bytes(), tamper)
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    if tamper.action == "disconnect":
        return StreamingResponse(
            _then_drop(body), status_code=response.status_code, headers=headers
        )
    return Response(body, status_code=response.status_code, headers=headers)


async def _then_drop(body: bytes) -> AsyncIterator[bytes]:
    """Send ``body``, then fail mid-response: the server drops the connection."""
    yield body
    raise ConnectionAbortedError("emulated connection drop in the middle of a download")
