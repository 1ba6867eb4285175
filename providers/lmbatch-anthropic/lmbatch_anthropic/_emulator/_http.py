"""Anthropic-shaped HTTP responses: request ids, the error envelope, the header checks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lmbatch.testing.emulator import base62_id, retry_headers

_ERRORS: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def anthropic_id(prefix: str) -> str:
    """An Anthropic-style id: ``prefix`` + ``01`` + 22 base62 chars (``msgbatch_01…``)."""
    return base62_id(prefix + "01", 22)


def rfc3339(ts: float) -> str:
    """Format a unix time the way the Anthropic API does (microseconds, ``+00:00``)."""
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="microseconds")


def anthropic_error_type(status: int) -> str:
    """Anthropic's ``error.type`` for an HTTP status."""
    return _ERRORS.get(status, "api_error" if status >= 500 else "invalid_request_error")


def anthropic_error_object(status: int, message: str, request_id: str | None) -> dict[str, Any]:
    """The ``{"type":"error","error":{type,message},"request_id"}`` envelope."""
    return {
        "type": "error",
        "error": {"type": anthropic_error_type(status), "message": message},
        "request_id": request_id,
    }


def new_anthropic_request_id() -> str:
    """A ``request-id`` value like Anthropic's."""
    return anthropic_id("req_")


def anthropic_json(body: Any, status: int = 200, request_id: str | None = None) -> JSONResponse:
    """A JSON response with Anthropic's ``request-id`` header."""
    headers = {"request-id": request_id or new_anthropic_request_id(), **retry_headers(status)}
    return JSONResponse(body, status_code=status, headers=headers)


def anthropic_error(status: int, message: str) -> JSONResponse:
    """An Anthropic error response whose body repeats the ``request-id`` header."""
    request_id = new_anthropic_request_id()
    return anthropic_json(anthropic_error_object(status, message, request_id), status, request_id)


def anthropic_fault(status: int) -> JSONResponse:
    """What a scripted endpoint fault answers: the vendor's usual message for ``status``."""
    message = "Overloaded" if status in (429, 529) else "Internal server error"
    if status == 429:
        message = "Number of request tokens has exceeded your per-minute rate limit"
    return anthropic_error(status, message)


def anthropic_auth_error(request: Request, require: bool) -> Response | None:
    """401 without ``x-api-key`` (or a bearer token); 400 without ``anthropic-version``."""
    if require:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        has_bearer = scheme.lower() == "bearer" and bool(token.strip())
        if not request.headers.get("x-api-key", "").strip() and not has_bearer:
            return anthropic_error(401, "x-api-key header is required")
    if not request.headers.get("anthropic-version", "").strip():
        return anthropic_error(400, "anthropic-version: header is required")
    return None
