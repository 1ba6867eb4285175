"""The one place where ``anthropic`` SDK exceptions become lmbatch errors.

The SDK's exception says what the vendor answered; core decides what that means
(:func:`lmbatch.provider.error_for_status`: 401/403 authentication, 404 not found, 429
rate limit, 5xx server, other 4xx request; no answer: connection). Only the extraction is
here:

==========================================  ==========================================
SDK exception                               what the vendor said
==========================================  ==========================================
``APIStatusError``                          its status, message, ``request-id`` and
                                            error type (as ``code``)
``APIConnectionError``, ``APITimeoutError``  no answer
any other ``AnthropicError``                :class:`ProviderError` with its text
==========================================  ==========================================

A failed *create* goes through :func:`lmbatch.provider.create_failure`: a 5xx, a timeout
or a lost connection leaves unknown whether the batch was created
(:class:`~lmbatch.SubmissionUncertainError`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from lmbatch.provider import LMBatchError, ProviderError, error_for_status

if TYPE_CHECKING:
    import anthropic

__all__ = ["map_error", "translate_errors"]


def map_error(
    exc: anthropic.AnthropicError,
    provider: str,
    *,
    base_url: str | None = None,
    base_url_env: str | None = None,
) -> ProviderError:
    """The lmbatch error for an SDK exception (not raised; the caller chains it).

    Args:
        provider: The provider's name.
        base_url: Given for a call that names no batch (a create): a 404 there means
            nothing answers at this base URL, not an unknown batch.
        base_url_env: The variable that sets the base URL, named in that error.
    """
    import anthropic

    if isinstance(exc, anthropic.APIStatusError):
        error_type = exc.type if isinstance(exc.type, str) else _body_type(exc.body)
        message = exc.api_message if isinstance(exc.api_message, str) else exc.message
        return error_for_status(
            exc.status_code,
            f"{provider} API error: {message}",
            provider=provider,
            request_id=exc.request_id,
            code=error_type,
            base_url=base_url,
            base_url_env=base_url_env,
        )
    if isinstance(exc, anthropic.APITimeoutError):
        return error_for_status(None, f"{provider} API call timed out", provider=provider)
    if isinstance(exc, anthropic.APIConnectionError):
        return error_for_status(
            None, f"could not reach the {provider} API: {exc.message}", provider=provider
        )
    return ProviderError(f"{provider} SDK error: {exc}", provider=provider)


def _body_type(body: Any) -> str | None:
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict) and isinstance(inner.get("type"), str):
            return str(inner["type"])
    return None


@asynccontextmanager
async def translate_errors(provider: str) -> AsyncIterator[None]:
    """Re-raise SDK exceptions inside the block as lmbatch errors of ``provider``."""
    import anthropic

    try:
        yield
    except LMBatchError:
        raise
    except anthropic.AnthropicError as exc:
        raise map_error(exc, provider) from exc
