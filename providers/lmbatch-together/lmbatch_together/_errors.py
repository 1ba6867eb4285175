"""The one place where ``together`` SDK exceptions become lmbatch errors.

The SDK's exception says what the vendor answered (status, message, request id, error
code); core's :func:`~lmbatch.provider.error_for_status` decides what it means.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from lmbatch.provider import ProviderError, error_for_status

if TYPE_CHECKING:
    import together

__all__ = ["map_api_error", "mapped_errors"]


def _code(body: Any) -> str | None:
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") or error.get("type") if isinstance(error, dict) else None
    return str(code) if code is not None else None


def map_api_error(
    exc: together.APIError, action: str, *, provider: str, base_url: str | None = None
) -> ProviderError:
    """Translate one SDK exception raised while doing ``action``.

    Args:
        base_url: Given for calls that name no batch (upload, create): a 404 there means
            nothing answers at this base URL.
    """
    import together

    message = f"{provider}: {action} failed: {exc.message}"
    if isinstance(exc, together.APIConnectionError):
        return error_for_status(None, message, provider=provider)
    if not isinstance(exc, together.APIStatusError):
        return ProviderError(message, provider=provider)
    return error_for_status(
        exc.status_code,
        message,
        provider=provider,
        request_id=exc.response.headers.get("x-request-id"),
        code=_code(exc.body),
        base_url=base_url,
        base_url_env="TOGETHER_BASE_URL",
    )


@contextmanager
def mapped_errors(action: str, *, provider: str, base_url: str | None = None) -> Iterator[None]:
    """Run a block of SDK calls; SDK exceptions leave it as lmbatch errors."""
    import together

    try:
        yield
    except together.APIError as exc:
        raise map_api_error(exc, action, provider=provider, base_url=base_url) from exc
