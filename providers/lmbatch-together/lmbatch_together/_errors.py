"""The one place where ``together`` SDK exceptions become lmbatch errors.

HTTP 401/403 → :class:`AuthenticationError`, 404 → :class:`BatchNotFoundError` (a read)
or :class:`ProviderRequestError` (upload, create), 429 → :class:`RateLimitError`, 5xx →
:class:`ProviderServerError`, other 4xx → :class:`ProviderRequestError`, no answer →
:class:`ProviderConnectionError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from lmbatch.provider import (
    AuthenticationError,
    BatchNotFoundError,
    ProviderConnectionError,
    ProviderError,
    ProviderRequestError,
    ProviderServerError,
    RateLimitError,
)

if TYPE_CHECKING:
    import together

__all__ = ["PROVIDER", "map_api_error", "mapped_errors"]

PROVIDER = "together"


def _code(body: Any) -> str | None:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = error.get("code") or error.get("type")
        return str(code) if code is not None else None
    return None


def map_api_error(exc: together.APIError, action: str, *, reads: bool = True) -> ProviderError:
    """Translate one SDK exception raised while doing ``action``.

    Args:
        reads: Whether the call names a batch or file (a 404 then means it is unknown).
    """
    import together

    message = f"Together {action} failed: {exc.message}"
    if isinstance(exc, together.APIConnectionError):
        return ProviderConnectionError(message, provider=PROVIDER)
    if not isinstance(exc, together.APIStatusError):
        return ProviderError(message, provider=PROVIDER)
    status = exc.status_code
    error_class: type[ProviderError] = ProviderRequestError
    if status in (401, 403):
        error_class = AuthenticationError
    elif status == 404 and reads:
        error_class = BatchNotFoundError
    elif status == 429:
        error_class = RateLimitError
    elif status >= 500:
        error_class = ProviderServerError
    return error_class(
        message,
        provider=PROVIDER,
        status_code=status,
        request_id=exc.response.headers.get("x-request-id"),
        code=_code(exc.body),
    )


@contextmanager
def mapped_errors(action: str, *, reads: bool = True) -> Iterator[None]:
    """Run a block of SDK calls; SDK exceptions leave it as lmbatch errors."""
    import together

    try:
        yield
    except together.APIError as exc:
        raise map_api_error(exc, action, reads=reads) from exc
