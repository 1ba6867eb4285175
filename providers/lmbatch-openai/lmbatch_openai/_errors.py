"""The one place where ``openai`` SDK exceptions become lmbatch errors.

The SDK's exception says what the vendor answered; core decides what that means
(:func:`lmbatch.provider.error_for_status`: 401/403 authentication, 404 not found, 429
rate limit, 5xx server, other 4xx request; no answer: connection). Only the extraction is
here:

=====================================  ==============================================
SDK exception                          what the vendor said
=====================================  ==============================================
``APIStatusError``                     its status, message, ``x-request-id`` and error
                                       code (else type)
``APIConnectionError`` (and timeouts)  no answer
any other ``APIError``                 :class:`ProviderError` with its message and code
=====================================  ==============================================

Every error names the provider (``self.name``: an OpenAI-compatible vendor's own). Another
Stainless-generated SDK with the same exception family (``together``) is read the same way
(``sdk=``); where its exceptions lack ``request_id``/``code``, they come from the
``x-request-id`` header and the body's ``error.code`` (else ``error.type``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Any

from lmbatch.provider import ProviderError, error_for_status

if TYPE_CHECKING:
    import openai

__all__ = ["map_api_error", "mapped_errors"]


def _body_code(body: Any) -> str | None:
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") or error.get("type") if isinstance(error, dict) else None
    return str(code) if code is not None else None


def map_api_error(
    exc: openai.APIError,
    action: str,
    *,
    provider: str,
    base_url: str | None = None,
    base_url_env: str | None = None,
    sdk: ModuleType | None = None,
) -> ProviderError:
    """Translate one SDK exception raised while doing ``action`` (e.g. ``"batch creation"``).

    Args:
        provider: The provider's name.
        base_url: Given for calls that name no batch (upload, create): a 404 there means
            the endpoint is not at this base URL, not that a batch is unknown.
        base_url_env: The variable that sets the base URL, named in that error.
        sdk: The SDK package that raised it (default ``openai``).
    """
    if sdk is None:
        import openai

        sdk = openai
    message = f"{provider}: {action} failed: {exc.message}"
    code = getattr(exc, "code", None) or getattr(exc, "type", None) or _body_code(exc.body)
    if isinstance(exc, sdk.APIConnectionError):
        return error_for_status(None, message, provider=provider)
    if not isinstance(exc, sdk.APIStatusError):
        return ProviderError(message, provider=provider, code=getattr(exc, "code", None))
    return error_for_status(
        exc.status_code,
        message,
        provider=provider,
        request_id=getattr(exc, "request_id", None) or exc.response.headers.get("x-request-id"),
        code=code,
        base_url=base_url,
        base_url_env=base_url_env,
    )


@contextmanager
def mapped_errors(
    action: str,
    *,
    provider: str,
    base_url: str | None = None,
    base_url_env: str | None = None,
    sdk: ModuleType | None = None,
) -> Iterator[None]:
    """Run a block of SDK calls; SDK exceptions (of ``sdk``, default ``openai``) leave it
    as lmbatch errors."""
    if sdk is None:
        import openai

        sdk = openai
    try:
        yield
    except sdk.APIError as exc:
        raise map_api_error(
            exc,
            action,
            provider=provider,
            base_url=base_url,
            base_url_env=base_url_env,
            sdk=sdk,
        ) from exc
