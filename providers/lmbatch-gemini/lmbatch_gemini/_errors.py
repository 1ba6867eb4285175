"""The one place where Gemini's HTTP errors and ``google.rpc.Status`` codes become lmbatch's.

A failed call answers ``{"error": {"code": <HTTP status>, "message", "status": "<CODE>",
"details": [...]}}``:

==============================================  ===================================
HTTP status                                     lmbatch error
==============================================  ===================================
400 with reason ``API_KEY_INVALID``, 401, 403   :class:`AuthenticationError`
404 (a batch or file named in the call)         :class:`BatchNotFoundError`
404 (create, upload: nothing was named)         :class:`ProviderRequestError` naming
                                                the base URL, version and model
429 ``RESOURCE_EXHAUSTED``                      :class:`RateLimitError`
5xx                                             :class:`ProviderServerError`
lost connection, timeout                        :class:`ProviderConnectionError`
any other 4xx                                   :class:`ProviderRequestError`
==============================================  ===================================

Every error carries ``provider="gemini"``, the HTTP status and the ``status`` word as
``code``. A failed *create* is special (:func:`create_error`): a 5xx, a timeout or a lost
connection leaves unknown whether the batch was made, so it becomes
:class:`SubmissionUncertainError`.

Per-request failures in results are ``google.rpc.Status`` objects whose ``code`` is a
gRPC code (``4`` = ``DEADLINE_EXCEEDED``); :data:`RPC_CODES` gives the name and the HTTP
status each stands for (the mapping of ``google/rpc/code.proto``), so that core sees a
transient failure (429, 5xx) as worth resubmitting.
"""

from __future__ import annotations

from typing import Any

import orjson

from lmbatch.provider import (
    AuthenticationError,
    BatchNotFoundError,
    ProviderConnectionError,
    ProviderError,
    ProviderRequestError,
    ProviderServerError,
    RateLimitError,
    SubmissionUncertainError,
)

__all__ = [
    "PROVIDER",
    "RPC_CODES",
    "connection_error",
    "create_error",
    "http_error",
    "rpc_status",
]

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
    status: int, body: bytes, action: str, *, names_a_resource: bool = True, where: str = ""
) -> ProviderError:
    """The lmbatch error for an HTTP error answer (not raised: the caller chains it).

    Args:
        status: The HTTP status.
        body: The response body (a Google error envelope, or anything).
        action: What was being done, for the message (``"status check of batches/x"``).
        names_a_resource: Whether the call named a batch or file: a 404 then means it is
            unknown. Otherwise (create, upload) a 404 means the URL is wrong.
        where: The URL root, version and model, named in a 404 of a call naming nothing.
    """
    error = _envelope(body)
    word, _, message = rpc_status(error)
    if not message:
        message = body[:300].decode("utf-8", "replace").strip() or f"HTTP {status}"
    text = f"Gemini {action} failed: {message}"
    error_class: type[ProviderError]
    if status in (401, 403) or "API_KEY_INVALID" in _reasons(error):
        error_class = AuthenticationError
    elif status == 404 and not names_a_resource:
        error_class = ProviderRequestError
        text = (
            f"Gemini {action} failed: not found ({message}); check base_url, api_version "
            f"and model{f' ({where})' if where else ''}"
        )
    elif status == 404:
        error_class = BatchNotFoundError
    elif status == 429:
        error_class = RateLimitError
    elif status >= 500:
        error_class = ProviderServerError
    else:
        error_class = ProviderRequestError
    return error_class(text, provider=PROVIDER, status_code=status, code=word)


def connection_error(exc: Exception, action: str) -> ProviderConnectionError:
    """The lmbatch error for a transport failure (no answer, timeout, dropped stream)."""
    kind = "timed out" if "Timeout" in type(exc).__name__ else "could not reach the API"
    return ProviderConnectionError(f"Gemini {action} {kind}: {exc}", provider=PROVIDER)


def create_error(error: ProviderError, details: dict[str, str]) -> ProviderError:
    """The error to raise for a failed create call.

    A definite refusal (a 4xx: nothing was made) stays as it is. A 5xx, a timeout or a
    lost connection may have come after Gemini made the batch: it becomes
    :class:`SubmissionUncertainError`, never retried blindly (a repeat is billed twice).
    """
    if isinstance(error, ProviderServerError | ProviderConnectionError):
        return SubmissionUncertainError(
            f"the create call failed ({error}); the batch may or may not exist",
            details=details,
            provider=PROVIDER,
            status_code=error.status_code,
            code=error.code,
        )
    return error
