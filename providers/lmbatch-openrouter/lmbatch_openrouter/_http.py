"""OpenRouter over raw HTTP: the one place where HTTP failures become lmbatch errors.

==================================  ===============================================
answer                              lmbatch error
==================================  ===============================================
401, 403                            ``AuthenticationError``
404, 410 (batch gone)               ``BatchNotFoundError`` (a create's 404 names the
                                    base URL: ``ProviderRequestError``)
429                                 ``RateLimitError``
5xx                                 ``ProviderServerError``
lost connection, timeout            ``ProviderConnectionError``
other 4xx (402 credits, 409 delete  ``ProviderRequestError``
of a running batch, 400, 413...)
==================================  ===============================================

Errors carry ``provider="openrouter"``, the HTTP status, the vendor's message and its
``x-request-id`` when sent. Reads are retried (429, 5xx, lost connections); the create
call never is: its failure is definite (4xx) or :class:`SubmissionUncertainError`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    import httpx

__all__ = ["PROVIDER", "Api"]

PROVIDER = "openrouter"
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


def status_error(response: httpx.Response, action: str) -> ProviderError:
    """The lmbatch error for an HTTP error answer to ``action``."""
    status = response.status_code
    message, code = _message(response)
    cls: type[ProviderError] = ProviderRequestError
    if status in (401, 403):
        cls = AuthenticationError
    elif status in (404, 410):
        cls = BatchNotFoundError
    elif status == 429:
        cls = RateLimitError
    elif status >= 500:
        cls = ProviderServerError
    return cls(
        f"OpenRouter {action} failed (HTTP {status}): {message}",
        provider=PROVIDER,
        status_code=status,
        request_id=response.headers.get("x-request-id"),
        code=code,
    )


class Api:
    """An ``httpx`` client on the configured base URL, with OpenRouter's headers."""

    def __init__(
        self, base_url: str, headers: dict[str, str], timeout: float, max_retries: int
    ) -> None:
        import httpx

        self.base_url = base_url
        self.max_retries = max_retries
        self.client = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout)

    async def get(self, path: str, action: str, params: Any = None) -> Any:
        """GET ``path`` and return its JSON; 429, 5xx and lost connections are retried."""
        import httpx

        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                response = await self.client.get(path, params=params)
            except httpx.TransportError as exc:
                if last:
                    raise ProviderConnectionError(
                        f"OpenRouter {action} failed: {exc!r}", provider=PROVIDER
                    ) from exc
            else:
                if response.is_success:
                    return response.json()
                if last or response.status_code not in _RETRY_STATUSES:
                    raise status_error(response, action)
            await asyncio.sleep(min(0.5 * 2**attempt, 8.0))
        raise AssertionError("unreachable")  # pragma: no cover

    async def delete(self, path: str, action: str) -> None:
        """DELETE ``path`` (not retried: it is not needed, and a 409 is an answer)."""
        import httpx

        try:
            response = await self.client.delete(path)
        except httpx.TransportError as exc:
            raise ProviderConnectionError(
                f"OpenRouter {action} failed: {exc!r}", provider=PROVIDER
            ) from exc
        if not response.is_success:
            raise status_error(response, action)

    async def create(self, body: AsyncIterable[bytes], length: int, details: dict[str, str]) -> str:
        """``POST /batches`` once; return the batch id.

        Raises:
            ProviderError: The vendor refused the batch (nothing was created).
            SubmissionUncertainError: The batch may or may not exist.
        """
        import httpx

        headers = {"Content-Type": "application/json", "Content-Length": str(length)}
        try:
            response = await self.client.post("/batches", content=body, headers=headers)
        except httpx.TransportError as exc:
            raise SubmissionUncertainError(
                f"the create call failed ({exc!r}); the batch may or may not exist",
                details=details,
                provider=PROVIDER,
            ) from exc
        if response.status_code >= 500:
            mapped = status_error(response, "batch creation")
            raise SubmissionUncertainError(
                f"{mapped}; the batch may or may not exist",
                details=details,
                provider=PROVIDER,
                status_code=mapped.status_code,
                request_id=mapped.request_id,
                code=mapped.code,
            )
        if response.status_code == 404:
            message, code = _message(response)
            raise ProviderRequestError(
                f"OpenRouter batch creation failed: not found at base URL {self.base_url} "
                f"(HTTP 404: {message}); check base_url (or OPENROUTER_BASE_URL)",
                provider=PROVIDER,
                status_code=404,
                code=code,
            )
        if not response.is_success:
            raise status_error(response, "batch creation")
        try:
            answer = response.json()
        except ValueError:
            answer = None  # a 2xx that is not JSON: the batch may exist all the same
        batch_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(batch_id, str) or not batch_id:
            raise SubmissionUncertainError(
                "the create call answered without a batch id", details=details, provider=PROVIDER
            )
        return batch_id

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
