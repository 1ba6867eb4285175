"""The one place where Gemini's HTTP errors and ``google.rpc.Status`` codes become lmbatch's.

A failed call answers ``{"error": {"code": <HTTP status>, "message", "status": "<CODE>",
"details": [...]}}``. What the HTTP status means is core's
(:func:`lmbatch.provider.error_for_status`: 401/403 authentication, 404 an unknown batch,
or a wrong base URL for a call that names none, 429 ``RESOURCE_EXHAUSTED`` a rate limit,
5xx the server, no answer the connection); Gemini adds that a 400 with the reason
``API_KEY_INVALID`` is an :class:`AuthenticationError`. Every error carries the provider's
name, the HTTP status and the ``status`` word as ``code``. A failed create goes through
core's :func:`lmbatch.provider.create_failure`.

Per-request failures in results are ``google.rpc.Status`` objects whose ``code`` is a
gRPC code (``4`` = ``DEADLINE_EXCEEDED``); :data:`RPC_CODES` gives the name and the HTTP
status each stands for (the mapping of ``google/rpc/code.proto``), so that core sees a
transient failure (429, 5xx) as worth resubmitting.
"""

from __future__ import annotations

from typing import Any

import orjson

from lmbatch.provider import AuthenticationError, ProviderError, error_for_status

__all__ = ["PROVIDER", "RPC_CODES", "connection_error", "http_error", "rpc_status"]

PROVIDER = "gemini"

#: gRPC code → (name, the HTTP status it maps to), from ``google/rpc/code.proto``.
RPC_CODES: dict[int, tuple[str, int]] = {
    0: ("OK", 200),
    1: ("CANCELLED", 499),
    2: ("UNKNOWN", 500),
    3: ("INVALID_ARGUMENT", 400),
    4: ("DEADLINE_EXCEEDED", 504),
    5: ("NOT_FOUND", 404),
    6: ("ALREADY_EXISTS", 409),
    7: ("PERMISSION_DENIED", 403),
    8: ("RESOURCE_EXHAUSTED", 429),
    9: ("FAILED_PRECONDITION", 400),
    10: ("ABORTED", 409),
    11: ("OUT_OF_RANGE", 400),
    12: ("UNIMPLEMENTED", 501),
    13: ("INTERNAL", 500),
    14: ("UNAVAILABLE", 503),
    15: ("DATA_LOSS", 500),
    16: ("UNAUTHENTICATED", 401),
}
_BY_NAME = {name: (code, http) for code, (name, http) in RPC_CODES.items()}


def rpc_status(status: Any) -> tuple[str | None, int | None, str]:
    """``(code name, HTTP status, message)`` of a ``google.rpc.Status`` (or an error body).

    Reads a gRPC ``code`` (0..16), an HTTP ``code`` (100..599, as error envelopes carry)
    and the ``status`` word, whichever are there.
    """
    if not isinstance(status, dict):
        return None, None, ""
    message = status.get("message") if isinstance(status.get("message"), str) else ""
    word = status.get("status") if isinstance(status.get("status"), str) else None
    code = status.get("code")
    if isinstance(code, str) and code.strip().lstrip("-").isdigit():
        code = int(code)  # int32 as a string: seen in some Google JSON encoders
    http: int | None = None
    if isinstance(code, int) and not isinstance(code, bool):
        if code in RPC_CODES:
            word = word or RPC_CODES[code][0]
            http = RPC_CODES[code][1]
        elif 100 <= code <= 599:
            http = code
    if http is None and word in _BY_NAME:
        http = _BY_NAME[word][1]
    return word, http, str(message)


def _envelope(body: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    inner = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(inner, dict):
        return inner
    # Some proxies answer a list of envelopes.
    if isinstance(parsed, list) and parsed and isinstance(parsed[0], dict):
        first = parsed[0].get("error")
        return first if isinstance(first, dict) else {}
    return {}


def _reasons(error: dict[str, Any]) -> set[str]:
    details = error.get("details")
    if not isinstance(details, list):
        return set()
    return {
        str(item["reason"])
        for item in details
        if isinstance(item, dict) and isinstance(item.get("reason"), str)
    }


def http_error(
    status: int,
    body: bytes,
    action: str,
    *,
    provider: str = PROVIDER,
    names_a_resource: bool = True,
    base_url: str | None = None,
    base_url_env: str | None = None,
) -> ProviderError:
    """The lmbatch error for an HTTP error answer (not raised: the caller chains it).

    What the status means is core's (:func:`lmbatch.provider.error_for_status`); Gemini
    adds one case: an invalid key is a 400 with the reason ``API_KEY_INVALID``.

    Args:
        status: The HTTP status.
        body: The response body (a Google error envelope, or anything).
        action: What was being done, for the message (``"status check of batches/x"``).
        provider: The provider's name.
        names_a_resource: Whether the call named a batch or file: a 404 then means it is
            unknown. Otherwise (create, upload) a 404 means the URL is wrong.
        base_url: The API root, named in a 404 of a call that names nothing.
        base_url_env: The variable that sets it, named there too.
    """
    error = _envelope(body)
    word, _, message = rpc_status(error)
    if not message:
        message = body[:300].decode("utf-8", "replace").strip() or f"HTTP {status}"
    text = f"Gemini {action} failed: {message}"
    if "API_KEY_INVALID" in _reasons(error):
        return AuthenticationError(text, provider=provider, status_code=status, code=word)
    if status == 404 and not names_a_resource:
        text += " (check the model and api_version too)"
    return error_for_status(
        status,
        text,
        provider=provider,
        code=word,
        base_url=None if names_a_resource else base_url,
        base_url_env=base_url_env,
    )


def connection_error(exc: Exception, action: str, *, provider: str = PROVIDER) -> ProviderError:
    """The lmbatch error for a transport failure (no answer, timeout, dropped stream)."""
    kind = "timed out" if "Timeout" in type(exc).__name__ else "could not reach the API"
    return error_for_status(None, f"Gemini {action} {kind}: {exc}", provider=provider)
