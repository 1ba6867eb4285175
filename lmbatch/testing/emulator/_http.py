"""Vendor-shaped HTTP responses: JSON bodies, request ids, error envelopes, auth checks."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lmbatch.testing.emulator._ids import anthropic_id, hex_id

_OPENAI_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("permission_error", None, "You are not allowed to perform this request."),
    404: ("invalid_request_error", None, "Not found."),
    409: ("invalid_request_error", None, "Conflict."),
    413: ("invalid_request_error", None, "Request too large."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
    500: (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}

_ANTHROPIC_ERRORS: dict[int, str] = {
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


def openai_error_object(
    status: int, message: str | None = None, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """The ``{"error": {message, type, param, code}}`` body OpenAI sends for ``status``."""
    kind, default_code, default_message = _OPENAI_ERRORS.get(
        status,
        ("server_error", None, "Server error.")
        if status >= 500
        else ("invalid_request_error", None, "Invalid request."),
    )
    return {
        "error": {
            "message": message or default_message,
            "type": kind,
            "param": param,
            "code": code if code is not None else default_code,
        }
    }


def anthropic_error_type(status: int) -> str:
    """Anthropic's ``error.type`` for an HTTP status."""
    return _ANTHROPIC_ERRORS.get(status, "api_error" if status >= 500 else "invalid_request_error")


def anthropic_error_object(status: int, message: str, request_id: str | None) -> dict[str, Any]:
    """The ``{"type":"error","error":{type,message},"request_id"}`` envelope."""
    return {
        "type": "error",
        "error": {"type": anthropic_error_type(status), "message": message},
        "request_id": request_id,
    }


def new_openai_request_id() -> str:
    """An ``x-request-id`` value like OpenAI's."""
    return hex_id("req_", 32)


def new_anthropic_request_id() -> str:
    """A ``request-id`` value like Anthropic's."""
    return anthropic_id("req_")


def _retry_headers(status: int) -> dict[str, str]:
    # A 429 without retry-after makes SDKs guess; tests run with max_retries=0 anyway.
    return {"retry-after": "0"} if status == 429 else {}


def openai_json(body: Any, status: int = 200) -> JSONResponse:
    """A JSON response with OpenAI's response headers."""
    headers = {"x-request-id": new_openai_request_id(), "openai-version": "2020-10-01"}
    headers.update({"openai-processing-ms": "1", **_retry_headers(status)})
    return JSONResponse(body, status_code=status, headers=headers)


def openai_error(
    status: int, message: str | None = None, *, param: str | None = None, code: str | None = None
) -> JSONResponse:
    """An OpenAI error response."""
    return openai_json(openai_error_object(status, message, param=param, code=code), status)


def anthropic_json(body: Any, status: int = 200, request_id: str | None = None) -> JSONResponse:
    """A JSON response with Anthropic's ``request-id`` header."""
    headers = {"request-id": request_id or new_anthropic_request_id(), **_retry_headers(status)}
    return JSONResponse(body, status_code=status, headers=headers)


def anthropic_error(status: int, message: str) -> JSONResponse:
    """An Anthropic error response whose body repeats the ``request-id`` header."""
    request_id = new_anthropic_request_id()
    return anthropic_json(anthropic_error_object(status, message, request_id), status, request_id)


def openai_auth_error(request: Request, require: bool) -> Response | None:
    """401 unless ``Authorization: Bearer <non-empty>`` is present."""
    if not require:
        return None
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return None
    return openai_error(
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization "
        "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        code="invalid_api_key" if scheme else None,
    )


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
