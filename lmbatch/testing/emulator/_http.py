"""HTTP helpers every vendor's responses share, and the answer to a path no vendor serves."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse


def retry_headers(status: int) -> dict[str, str]:
    """Headers an error response carries: ``retry-after: 0`` on a 429.

    A 429 without ``retry-after`` makes SDKs guess a wait; tests run with retries off or
    want them immediate, so the emulator always says "now".

    Args:
        status: The response's HTTP status.

    Returns:
        Headers to add (empty unless ``status`` is 429).
    """
    return {"retry-after": "0"} if status == 429 else {}


def has_bearer_key(request: Request) -> bool:
    """Whether a request carries ``Authorization: Bearer <key>`` (any non-empty key).

    The check behind the ``auth_error`` of every vendor whose API takes a bearer key.

    Args:
        request: The incoming request.

    Returns:
        True when the header is there with a key.
    """
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


def unrouted(status: int, method: str, path: str, served: list[str]) -> JSONResponse:
    """The vendor-neutral 404 / 405 for a URL that no installed vendor claims.

    Args:
        status: 404 or 405.
        method: The request's method.
        path: The request's path.
        served: Names of the vendors this emulator serves.

    Returns:
        A JSON error naming the URL and the vendors served.
    """
    vendors = ", ".join(served) or "none (no lmbatch provider with emulator routes installed)"
    message = f"Unknown request URL: {method} {path}. Emulated vendors: {vendors}."
    return JSONResponse(
        {"error": {"message": message, "type": "not_found" if status == 404 else "not_allowed"}},
        status_code=status,
    )
