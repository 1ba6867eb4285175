"""OpenAI-shaped HTTP responses: JSON bodies, request ids, the error envelope, the auth check."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lmbatch.testing.emulator import has_bearer_key, hex_id, retry_headers

_ERRORS: dict[int, tuple[str, str | None, str]] = {
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


def openai_error_object(
    status: int, message: str | None = None, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """The ``{"error": {message, type, param, code}}`` body OpenAI sends for ``status``."""
    kind, default_code, default_message = _ERRORS.get(
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


def new_openai_request_id() -> str:
    """An ``x-request-id`` value like OpenAI's."""
    return hex_id("req_", 32)


def openai_json(body: Any, status: int = 200) -> JSONResponse:
    """A JSON response with OpenAI's response headers."""
    headers = {"x-request-id": new_openai_request_id(), "openai-version": "2020-10-01"}
    headers.update({"openai-processing-ms": "1", **retry_headers(status)})
    return JSONResponse(body, status_code=status, headers=headers)


def openai_error(
    status: int, message: str | None = None, *, param: str | None = None, code: str | None = None
) -> JSONResponse:
    """An OpenAI error response."""
    return openai_json(openai_error_object(status, message, param=param, code=code), status)


def openai_auth_error(request: Request, require: bool) -> Response | None:
    """401 unless ``Authorization: Bearer <non-empty>`` is present."""
    if not require or has_bearer_key(request):
        return None
    scheme = request.headers.get("authorization", "").partition(" ")[0]
    return openai_error(
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization "
        "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        code="invalid_api_key" if scheme else None,
    )
