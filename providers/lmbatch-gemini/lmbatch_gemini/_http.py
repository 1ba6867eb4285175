"""Talking to the Gemini API over HTTP: URLs, the key header, retries, streams, uploads.

URLs are built as the google-genai SDK builds them (``_api_client._build_request``):
``{root}/{version}/{path}``, with ``root`` the base URL without a version and ``version``
``v1`` or ``v1beta``; uploads go to ``{root}/upload/{version}/files``. The key travels in
the ``x-goog-api-key`` header only, never in a URL (URLs end up in logs).

Uploads use the resumable protocol, as the SDK does (``_api_client._upload_fd``): a start
call (``X-Goog-Upload-Command: start``) answers with the session URL in
``X-Goog-Upload-URL``; the body follows in 8 MB chunks (``upload``, the last one ``upload,
finalize``) at their ``X-Goog-Upload-Offset``. The session URL names Google's host: it is
read through the configured root, like the SDK does, so a gateway or emulator root is
honoured and the key never goes to another host.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import orjson

from lmbatch.provider import ProviderError, ProviderRequestError, download_url
from lmbatch_gemini._errors import PROVIDER, connection_error, http_error
from lmbatch_gemini._settings import DEFAULT_BASE_URL

if TYPE_CHECKING:
    import httpx

__all__ = ["UPLOAD_CHUNK_BYTES", "GeminiHTTP", "parse_json"]

#: Bytes per upload call (the SDK's ``CHUNK_SIZE``).
UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024
#: Pause before the first retry of a failed idempotent call; doubled each time.
_FIRST_PAUSE = 0.5
_LONGEST_PAUSE = 8.0


class GeminiHTTP:
    """One HTTP client for the Gemini API (built on first use, closed by :meth:`aclose`).

    Args:
        root: The API root, without a version.
        version: ``v1`` or ``v1beta``.
        api_key: The key sent as ``x-goog-api-key``.
        timeout: Seconds before one call times out.
        max_retries: Retries of idempotent calls after a transient failure.
        provider: The provider's name, in errors.
        base_url_env: The variable that sets the root, named in a 404 of a call naming
            nothing.
    """

    def __init__(
        self,
        root: str,
        version: str,
        api_key: str,
        *,
        timeout: float,
        max_retries: int,
        provider: str = PROVIDER,
        base_url_env: str | None = None,
    ) -> None:
        self.root = root
        self.version = version
        self.timeout = timeout
        self.max_retries = max_retries
        self.provider = provider
        self.base_url_env = base_url_env
        self._api_key = api_key
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        """The httpx client (the key in its default headers; redirects never followed)."""
        if self._client is None:
            import httpx  # on first use: looking providers up loads every provider module

            self._client = httpx.AsyncClient(
                headers={"x-goog-api-key": self._api_key},
                timeout=self.timeout,
                follow_redirects=False,  # a redirect would carry the key to another host
            )
        return self._client

    async def aclose(self) -> None:
        """Close the client."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def url(self, path: str) -> str:
        """``{root}/{version}/{path}``."""
        return f"{self.root}/{self.version}/{path}"

    # ------------------------------------------------------------------ calls

    async def call(
        self,
        method: str,
        url: str,
        *,
        action: str,
        retry: bool = True,
        names_a_resource: bool = True,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one call; an error answer or a transport failure leaves as an lmbatch error.

        Args:
            action: What is being done, for error messages.
            retry: Retry (up to ``max_retries`` times) after a 429, a 5xx or a transport
                failure. Never for a call that may create something billable.
            names_a_resource: See :func:`lmbatch_gemini._errors.http_error`.
            **kwargs: Passed to ``httpx.AsyncClient.request``.
        """
        import httpx

        attempts = self.max_retries + 1 if retry else 1
        for attempt in range(attempts):
            try:
                response = await self.client.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                error: ProviderError = connection_error(exc, action, provider=self.provider)
                cause: BaseException | None = exc
            else:
                if response.status_code < 400:
                    return response
                error = self.error(response.status_code, response.content, action, names_a_resource)
                cause = None
            if attempt + 1 >= attempts or not error.is_transient:
                raise error from cause
            await asyncio.sleep(min(_LONGEST_PAUSE, _FIRST_PAUSE * 2**attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def error(
        self, status: int, body: bytes, action: str, names_a_resource: bool = True
    ) -> ProviderError:
        """The lmbatch error for an error answer of this API."""
        return http_error(
            status,
            body,
            action,
            provider=self.provider,
            names_a_resource=names_a_resource,
            base_url=self.root,
            base_url_env=self.base_url_env,
        )

    async def call_json(self, method: str, url: str, *, action: str, **kwargs: Any) -> Any:
        """:meth:`call`, answering the parsed JSON body (an error if it is not JSON)."""
        response = await self.call(method, url, action=action, **kwargs)
        return parse_json(response, action, self.provider)

    async def lines(self, url: str, *, action: str) -> AsyncIterator[bytes]:
        """Stream a download line by line (never held whole), without line breaks.

        Raises:
            ProviderError: The download failed or stopped (a stop is transient: core
                reads the results again).
        """
        import httpx

        try:
            response = await self.client.send(self.client.build_request("GET", url), stream=True)
        except httpx.TransportError as exc:
            raise connection_error(exc, action, provider=self.provider) from exc
        try:
            if response.status_code >= 400:
                body = await response.aread()
                raise self.error(response.status_code, body, action)
            pending = b""
            async for chunk in response.aiter_bytes():
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    yield line
            if pending:
                yield pending
        except httpx.TransportError as exc:
            stopped = f"{action} (the download stopped)"
            raise connection_error(exc, stopped, provider=self.provider) from exc
        finally:
            await response.aclose()

    # ------------------------------------------------------------------ uploads

    async def upload(
        self, chunks: Iterator[bytes], size: int, *, display_name: str, mime_type: str
    ) -> dict[str, Any]:
        """Upload a file through the resumable protocol; return Gemini's ``File``.

        Args:
            chunks: The body, in blocks of at most :data:`UPLOAD_CHUNK_BYTES` (read in a
                worker thread, so the event loop never waits on the disk).
            size: Bytes of the whole body.
            display_name: The file's display name.
            mime_type: Its mime type.
        """
        action = "upload of the batch input file"
        start = await self.call(
            "POST",
            f"{self.root}/upload/{self.version}/files",
            action=action,
            names_a_resource=False,
            headers={
                "X-Goog-Upload-Protocol": "resumable",
                "X-Goog-Upload-Command": "start",
                "X-Goog-Upload-Header-Content-Length": str(size),
                "X-Goog-Upload-Header-Content-Type": mime_type,
                "Content-Type": "application/json",
            },
            content=orjson.dumps({"file": {"displayName": display_name}}),
        )
        session = start.headers.get("x-goog-upload-url")
        if not session:
            raise ProviderRequestError(
                f"Gemini {action} failed: the start call answered no X-Goog-Upload-URL",
                provider=self.provider,
                status_code=start.status_code,
            )
        # Like the SDK: the session URL is followed on the configured root.
        session = download_url(
            session,
            base_url=self.root,
            vendor_base_urls=(DEFAULT_BASE_URL,),
            provider=self.provider,
        )
        offset = 0
        response = start
        while True:
            chunk = await asyncio.to_thread(next, chunks, None)
            if chunk is None:
                break
            last = offset + len(chunk) >= size
            # A chunk sent again at the same offset replaces itself: safe to retry.
            response = await self.call(
                "POST",
                session,
                action=action,
                headers={
                    "X-Goog-Upload-Command": "upload, finalize" if last else "upload",
                    "X-Goog-Upload-Offset": str(offset),
                },
                content=chunk,
            )
            offset += len(chunk)
            if response.headers.get("x-goog-upload-status", "").lower() != "active":
                break
        if response.headers.get("x-goog-upload-status", "").lower() != "final" or offset != size:
            raise ProviderRequestError(
                f"Gemini {action} failed: the upload did not finalize ({offset} of {size} "
                f"bytes sent, status {response.headers.get('x-goog-upload-status')!r})",
                provider=self.provider,
                status_code=response.status_code,
            )
        file = parse_json(response, action, self.provider).get("file")
        if not isinstance(file, dict) or not isinstance(file.get("name"), str):
            raise ProviderRequestError(
                f"Gemini {action} failed: the answer names no file", provider=self.provider
            )
        return file


def parse_json(response: httpx.Response, action: str, provider: str = PROVIDER) -> dict[str, Any]:
    """The JSON object of a successful answer (``{}`` for an empty body).

    Raises:
        ProviderRequestError: The body is not a JSON object.
    """
    if not response.content.strip():
        return {}
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise ProviderRequestError(
            f"Gemini {action}: the answer is not a JSON object",
            provider=provider,
            status_code=response.status_code,
        )
    return body
