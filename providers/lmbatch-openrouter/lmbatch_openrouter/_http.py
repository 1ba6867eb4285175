"""OpenRouter over raw HTTP (``httpx``, imported lazily); failed calls become lmbatch errors.

What a failed call means is core's (:func:`~lmbatch.provider.error_for_status`: 401/403
``AuthenticationError``, 404 ``BatchNotFoundError``, 429 ``RateLimitError``, 5xx
``ProviderServerError``, other 4xx such as 402 credits or 409 ``ProviderRequestError``, no
answer ``ProviderConnectionError``); OpenRouter adds 410 (a batch gone) as
``BatchNotFoundError``. Errors carry the HTTP status, the vendor's message and code and
its ``x-request-id``. Reads are retried (429, 5xx, lost connections); the create call
never is.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable
from typing import TYPE_CHECKING, Any

from lmbatch.provider import BatchNotFoundError, ProviderError, error_for_status

if TYPE_CHECKING:
    import httpx

__all__ = ["Api", "status_error"]

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def _message(response: httpx.Response) -> tuple[str, str | None]:
    """The vendor's error message and code (``{"error": {"message", "code"}}``)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase, None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = error.get("type") or error.get("code")
        return str(error.get("message") or response.reason_phrase), (
            str(code) if code is not None else None
        )
    return response.reason_phrase, None


def status_error(
    response: httpx.Response, action: str, provider: str, **where: str | None
) -> ProviderError:
    """The lmbatch error for an HTTP error answer to ``action`` (core's mapping, plus 410).

    ``where``: ``base_url`` and ``base_url_env`` for a call that names no batch (a 404
    there is a wrong base URL; see :func:`~lmbatch.provider.error_for_status`).
    """
    status = response.status_code
    message, code = _message(response)
    text = f"{provider} {action} failed (HTTP {status}): {message}"
    request_id = response.headers.get("x-request-id")
    if status == 410:  # a batch deleted, or past its 30-day retention
        return BatchNotFoundError(
            text, provider=provider, status_code=status, request_id=request_id, code=code
        )
    return error_for_status(
        status, text, provider=provider, request_id=request_id, code=code, **where
    )


class Api:
    """An ``httpx`` client on the configured base URL, with OpenRouter's headers."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        *,
        timeout: float,
        max_retries: int,
        provider: str,
        base_url_env: str | None,
    ) -> None:
        import httpx

        self.base_url = base_url
        self.max_retries = max_retries
        self.provider = provider
        self.base_url_env = base_url_env
        self.client = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout)

    def _lost(self, action: str, exc: Exception) -> ProviderError:
        return error_for_status(
            None, f"{self.provider} {action} failed: {exc!r}", provider=self.provider
        )

    async def get(self, path: str, action: str, params: Any = None) -> Any:
        """GET ``path`` and return its JSON; 429, 5xx and lost connections are retried."""
        import httpx

        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                response = await self.client.get(path, params=params)
            except httpx.TransportError as exc:
                if last:
                    raise self._lost(action, exc) from exc
            else:
                if response.is_success:
                    return response.json()
                if last or response.status_code not in _RETRY_STATUSES:
                    raise status_error(response, action, self.provider)
            await asyncio.sleep(min(0.5 * 2**attempt, 8.0))
        raise AssertionError("unreachable")  # pragma: no cover

    async def delete(self, path: str, action: str) -> None:
        """DELETE ``path`` (not retried: it is not needed, and a 409 is an answer)."""
        import httpx

        try:
            response = await self.client.delete(path)
        except httpx.TransportError as exc:
            raise self._lost(action, exc) from exc
        if not response.is_success:
            raise status_error(response, action, self.provider)

    async def create(self, body: AsyncIterable[bytes], length: int) -> Any:
        """``POST /batches`` once; return the answer's JSON (None when it is not JSON).

        Raises:
            ProviderError: The call failed (core's ``create_failure`` says whether a batch
                may exist).
        """
        import httpx

        headers = {"Content-Type": "application/json", "Content-Length": str(length)}
        try:
            response = await self.client.post("/batches", content=body, headers=headers)
        except httpx.TransportError as exc:
            raise self._lost("batch creation", exc) from exc
        if not response.is_success:
            where = {"base_url": self.base_url, "base_url_env": self.base_url_env}
            raise status_error(response, "batch creation", self.provider, **where)
        try:
            return response.json()
        except ValueError:
            return None  # a 2xx that is not JSON: the batch may exist all the same

    async def date(self) -> str | None:
        """The HTTP ``Date`` of a cheap list call (the vendor's clock)."""
        import httpx

        try:
            response = await self.client.get("/batches", params={"limit": 1})
        except httpx.TransportError:
            return None
        date = response.headers.get("date")
        return str(date) if date else None

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()
