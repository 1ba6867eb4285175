"""The one place where ``mistralai`` SDK exceptions become lmbatch errors.

The provider reads what the vendor said; core decides what it means
(:func:`~lmbatch.provider.error_for_status`):

=====================================  ==============================================
SDK exception                          read as
=====================================  ==============================================
``MistralError``                       its HTTP status, the body's ``message`` (or
                                       ``detail``) and ``type``, ``x-request-id``
``NoResponseError``, transport errors  no answer (``ProviderConnectionError``)
``ResponseValidationError``            ``ProviderError`` (an answer the SDK cannot read)
=====================================  ==============================================

A create that fails other than with a 4xx may have made the job: the provider passes the
error through :func:`~lmbatch.provider.create_failure`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from lmbatch.provider import LMBatchError, ProviderError, error_for_status

__all__ = ["mapped_errors"]


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


def _map(
    exc: Exception, action: str, provider: str, base_url: str | None, base_url_env: str | None
) -> ProviderError:
    import httpx2
    from mistralai.client import errors

    if isinstance(exc, errors.NoResponseError | httpx2.TransportError):
        return error_for_status(None, f"{provider} {action} failed: {exc!r}", provider=provider)
    if not isinstance(exc, errors.MistralError) or isinstance(exc, errors.ResponseValidationError):
        return ProviderError(f"{provider} {action} failed: {exc}", provider=provider)
    message, code = _vendor_message(exc.body)
    return error_for_status(
        exc.status_code,
        f"{provider} {action} failed (HTTP {exc.status_code}): {message}",
        provider=provider,
        request_id=exc.headers.get("x-request-id"),
        code=code,
        base_url=base_url,
        base_url_env=base_url_env,
    )


@contextmanager
def mapped_errors(
    action: str, provider: str, base_url: str | None = None, base_url_env: str | None = None
) -> Iterator[None]:
    """SDK exceptions inside the block leave as lmbatch errors.

    Args:
        action: What the block does, for messages.
        provider: The provider's name.
        base_url: Given for calls that name no batch (a 404 is then a wrong base URL).
        base_url_env: The variable that sets the base URL, named then.
    """
    try:
        yield
    except LMBatchError:
        raise
    except Exception as exc:
        raise _map(exc, action, provider, base_url, base_url_env) from exc
