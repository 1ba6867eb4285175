"""The one place where ``anthropic`` SDK exceptions become lmbatch errors.

==========================================  ===============================
SDK exception                               lmbatch error
==========================================  ===============================
401, 403                                    ``AuthenticationError``
404                                         ``BatchNotFoundError`` (``ProviderRequestError``
                                            naming the base URL for a create)
429                                         ``RateLimitError``
5xx, 529 / ``overloaded_error``             ``ProviderServerError``
``APIConnectionError``, ``APITimeoutError``  ``ProviderConnectionError``
other 4xx                                   ``ProviderRequestError``
any other ``AnthropicError``                ``ProviderError``
==========================================  ===============================

Every error carries ``provider="anthropic"``, the HTTP status, the vendor's ``request-id``
and its error type (as ``code``). A failed *create* is special (:func:`submission_error`):
a 5xx, a timeout or a lost connection leaves unknown whether the batch was created, so it
becomes :class:`~lmbatch.SubmissionUncertainError` instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from lmbatch.provider import (
    AuthenticationError,
    BatchNotFoundError,
    LMBatchError,
    ProviderConnectionError,
    ProviderError,
    ProviderRequestError,
    ProviderServerError,
    RateLimitError,
    SubmissionUncertainError,
)

if TYPE_CHECKING:
    import anthropic

__all__ = ["map_error", "submission_error", "translate_errors"]

_PROVIDER = "anthropic"


def _status_class(status: int, error_type: str | None) -> type[ProviderError]:
    if status in (401, 403):
        return AuthenticationError
    if status == 404:
        return BatchNotFoundError
    if status == 429:
        return RateLimitError
    if status >= 500 or error_type == "overloaded_error":
        return ProviderServerError
    return ProviderRequestError


def map_error(exc: anthropic.AnthropicError) -> ProviderError:
    """The lmbatch error for an SDK exception (not raised; the caller chains it)."""
    import anthropic

    if isinstance(exc, anthropic.APIStatusError):
        error_type = exc.type if isinstance(exc.type, str) else _body_type(exc.body)
        message = exc.api_message if isinstance(exc.api_message, str) else exc.message
        cls = _status_class(exc.status_code, error_type)
        return cls(
            f"Anthropic API error: {message}",
            provider=_PROVIDER,
            status_code=exc.status_code,
            request_id=exc.request_id,
            code=error_type,
        )
    if isinstance(exc, anthropic.APITimeoutError):
        return ProviderConnectionError("Anthropic API call timed out", provider=_PROVIDER)
    if isinstance(exc, anthropic.APIConnectionError):
        return ProviderConnectionError(
            f"could not reach the Anthropic API: {exc.message}", provider=_PROVIDER
        )
    return ProviderError(f"Anthropic SDK error: {exc}", provider=_PROVIDER)


def submission_error(
    exc: anthropic.AnthropicError, details: dict[str, str], base_url: str | None = None
) -> ProviderError:
    """The error for a failed create call.

    A definite refusal (4xx) maps as usual: nothing was created. A 5xx, a timeout or a
    connection failure may have happened after the vendor created the batch, so it becomes
    :class:`SubmissionUncertainError` and is never retried blindly. A 404 names no batch:
    the endpoint is not at ``base_url`` (a wrong base URL), not an unknown batch.
    """
    mapped = map_error(exc)
    if isinstance(mapped, BatchNotFoundError):
        return ProviderRequestError(
            f"Anthropic batch creation failed: not found at base URL {base_url} (HTTP 404: "
            f"{_message(exc)}); check the configured base_url (or ANTHROPIC_BASE_URL)",
            provider=_PROVIDER,
            status_code=mapped.status_code,
            request_id=mapped.request_id,
            code=mapped.code,
        )
    if isinstance(mapped, ProviderServerError | ProviderConnectionError):
        return SubmissionUncertainError(
            f"the create call failed ({mapped}); the batch may or may not exist",
            details=details,
            provider=_PROVIDER,
            status_code=mapped.status_code,
            request_id=mapped.request_id,
            code=mapped.code,
        )
    return mapped


def _message(exc: anthropic.AnthropicError) -> str:
    api_message = getattr(exc, "api_message", None)
    return api_message if isinstance(api_message, str) else str(exc)


def _body_type(body: Any) -> str | None:
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict) and isinstance(inner.get("type"), str):
            return str(inner["type"])
    return None


@asynccontextmanager
async def translate_errors() -> AsyncIterator[None]:
    """Re-raise SDK exceptions inside the block as lmbatch errors."""
    import anthropic

    try:
        yield
    except LMBatchError:
        raise
    except anthropic.AnthropicError as exc:
        raise map_error(exc) from exc
