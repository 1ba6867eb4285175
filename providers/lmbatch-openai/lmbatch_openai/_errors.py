"""The one place where ``openai`` SDK exceptions become lmbatch errors.

=====================================  ==============================
SDK exception                          lmbatch error
=====================================  ==============================
``APIStatusError`` 401, 403            :class:`AuthenticationError`
``APIStatusError`` 404                 :class:`BatchNotFoundError` (reads);
                                       :class:`ProviderRequestError` naming the
                                       base URL (upload, create)
``APIStatusError`` 429                 :class:`RateLimitError`
``APIStatusError`` 5xx                 :class:`ProviderServerError`
``APIConnectionError`` (and timeouts)  :class:`ProviderConnectionError`
``APIStatusError`` other 4xx           :class:`ProviderRequestError`
any other ``APIError``                 :class:`ProviderError`
=====================================  ==============================

Each keeps the provider name, the HTTP status, the vendor's ``x-request-id`` and error code.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

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
    import openai

__all__ = ["PROVIDER", "map_api_error", "mapped_errors"]

PROVIDER = "openai"


def map_api_error(
    exc: openai.APIError, action: str, *, base_url: str | None = None
) -> ProviderError:
    """Translate one SDK exception raised while doing ``action`` (e.g. ``"create batch"``).

    Args:
        base_url: Given for calls that name no batch (upload, create): a 404 there means
            the endpoint is not at this base URL, not that a batch is unknown.
    """
    import openai

    message = f"OpenAI {action} failed: {exc.message}"
    if isinstance(exc, openai.APIConnectionError):
        return ProviderConnectionError(message, provider=PROVIDER)
    if not isinstance(exc, openai.APIStatusError):
        return ProviderError(message, provider=PROVIDER, code=exc.code)
    status = exc.status_code
    error_class: type[ProviderError]
    if status == 404 and base_url is not None:
        error_class = ProviderRequestError
        message = (
            f"OpenAI {action} failed: not found at base URL {base_url} (HTTP 404: "
            f"{exc.message}); check the configured base_url (or OPENAI_BASE_URL)"
        )
    elif status in (401, 403):
        error_class = AuthenticationError
    elif status == 404:
        error_class = BatchNotFoundError
    elif status == 429:
        error_class = RateLimitError
    elif status >= 500:
        error_class = ProviderServerError
    elif 400 <= status < 500:
        error_class = ProviderRequestError
    else:
        error_class = ProviderError
    return error_class(
        message,
        provider=PROVIDER,
        status_code=status,
        request_id=exc.request_id,
        code=exc.code or exc.type,
    )


@contextmanager
def mapped_errors(action: str, *, base_url: str | None = None) -> Iterator[None]:
    """Run a block of SDK calls; SDK exceptions leave it as lmbatch errors."""
    import openai

    try:
        yield
    except openai.APIError as exc:
        raise map_api_error(exc, action, base_url=base_url) from exc
