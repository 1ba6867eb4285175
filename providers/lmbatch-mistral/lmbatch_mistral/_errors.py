"""The one place where ``mistralai`` SDK exceptions become lmbatch errors.

=====================================  ==============================================
SDK exception                          lmbatch error
=====================================  ==============================================
``MistralError`` 401, 403              ``AuthenticationError``
``MistralError`` 404                   ``BatchNotFoundError`` (a create or upload's
                                       404 names the base URL: ``ProviderRequestError``)
``MistralError`` 429                   ``RateLimitError``
``MistralError`` 5xx                   ``ProviderServerError``
``MistralError`` other 4xx (422...)    ``ProviderRequestError``
``NoResponseError``, transport errors  ``ProviderConnectionError``
``ResponseValidationError``            ``ProviderError`` (an answer the SDK cannot read)
=====================================  ==============================================

Errors carry ``provider="mistral"``, the HTTP status, the vendor's message and its
``x-request-id``. A create that fails with a 5xx, a lost connection or an unreadable
answer may have made the job: :class:`SubmissionUncertainError`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

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

__all__ = ["PROVIDER", "map_error", "mapped_errors"]

PROVIDER = "mistral"


def _vendor_message(body: str) -> tuple[str, str | None]:
    try:
        data = json.loads(body)
    except ValueError:
        return body[:200], None
    if not isinstance(data, dict):
        return body[:200], None
    message = data.get("message") or data.get("detail") or body[:200]
    code = data.get("type") or data.get("code")
    return str(message), str(code) if code is not None else None


def map_error(exc: Exception, action: str, base_url: str | None = None) -> ProviderError:
    """The lmbatch error for an SDK exception (``base_url``: a call that names no batch)."""
    import httpx2
    from mistralai.client import errors

    if isinstance(exc, errors.NoResponseError | httpx2.TransportError):
        return ProviderConnectionError(f"Mistral {action} failed: {exc!r}", provider=PROVIDER)
    if not isinstance(exc, errors.MistralError) or isinstance(exc, errors.ResponseValidationError):
        return ProviderError(f"Mistral {action} failed: {exc}", provider=PROVIDER)
    status = exc.status_code
    message, code = _vendor_message(exc.body)
    cls: type[ProviderError] = ProviderRequestError
    if status in (401, 403):
        cls = AuthenticationError
    elif status == 404 and base_url is not None:
        message += f" (not found at base URL {base_url}: check base_url or MISTRAL_BASE_URL)"
    elif status == 404:
        cls = BatchNotFoundError
    elif status == 429:
        cls = RateLimitError
    elif status >= 500:
        cls = ProviderServerError
    return cls(
        f"Mistral {action} failed (HTTP {status}): {message}",
        provider=PROVIDER,
        status_code=status,
        request_id=exc.headers.get("x-request-id"),
        code=code,
    )


@contextmanager
def mapped_errors(
    action: str, base_url: str | None = None, *, create: dict[str, str] | None = None
) -> Iterator[None]:
    """SDK exceptions inside the block leave as lmbatch errors.

    Args:
        action: What the block does, for messages.
        base_url: Given for calls that name no batch (a 404 is then a wrong base URL).
        create: The submission's details, for the job-creating call: anything but a
            definite refusal (4xx) becomes :class:`SubmissionUncertainError`.
    """
    try:
        yield
    except LMBatchError:
        raise
    except Exception as exc:
        mapped = map_error(exc, action, base_url)
        uncertain = type(mapped) is ProviderError or isinstance(
            mapped, ProviderServerError | ProviderConnectionError
        )
        if create is None or not uncertain:
            raise mapped from exc
        raise SubmissionUncertainError(
            f"{mapped}; the batch job may or may not exist",
            details=create,
            provider=PROVIDER,
            status_code=mapped.status_code,
            request_id=mapped.request_id,
            code=mapped.code,
        ) from exc
