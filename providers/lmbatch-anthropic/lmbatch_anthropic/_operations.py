"""``AnthropicBatchOperations``: the Message Batches API behind lmbatch's contract.

Only wire translation lives here; encoding, decoding, status and error mapping each have
their own module (``_encoding``, ``_decoding``, ``_status``, ``_errors``). The official
``anthropic`` SDK (async client, GA ``/v1/messages/batches`` endpoints) is imported
lazily, so ``import lmbatch`` never imports it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, cast

from lmbatch.provider import (
    BatchInfo,
    BatchOperations,
    BatchPage,
    ConfigError,
    Hyperparameters,
    Message,
    PreparedBatch,
    ProviderConnectionError,
    ProviderLimits,
    ProviderRequestError,
    ProviderSettings,
    QueueLimit,
    ResultRecord,
    create_failure,
    create_uncertain,
    download_url,
)
from lmbatch_anthropic._body import RequestsBody
from lmbatch_anthropic._decoding import decode_record
from lmbatch_anthropic._encoding import (
    REQUEST_FIELDS,
    check_hyperparameters,
    check_request,
    check_structured_mode,
    encode_request,
    structured_mode,
)
from lmbatch_anthropic._errors import map_error, translate_errors
from lmbatch_anthropic._settings import BASE_URL_ENV, DEFAULT_BASE_URL, AnthropicSettings
from lmbatch_anthropic._status import batch_info

if TYPE_CHECKING:
    import anthropic

__all__ = ["AnthropicBatchOperations"]

#: The Message Batches create endpoint, relative to the client's base URL.
CREATE_PATH = "/v1/messages/batches"
#: What ``POST /v1/messages/count_tokens`` takes of a request's params.
COUNT_FIELDS = frozenset(
    {
        "cache_control",
        "messages",
        "model",
        "output_config",
        "speed",
        "system",
        "thinking",
        "tool_choice",
        "tools",
    }
)
#: The vendor's documented API root: a ``results_url`` on it is read through the
#: configured base URL (see :func:`lmbatch._urls.download_url`).
VENDOR_BASE_URLS = ("https://api.anthropic.com",)


class AnthropicBatchOperations(BatchOperations):
    """Anthropic Message Batches (provider name ``anthropic``).

    Options are those of :class:`~lmbatch_anthropic.AnthropicSettings`. Besides the
    common contract it offers :meth:`delete` for ended batches.
    """

    name: ClassVar[str] = "anthropic"
    settings_class: ClassVar[type[ProviderSettings]] = AnthropicSettings
    api_key_env: ClassVar[tuple[str, ...]] = ("ANTHROPIC_API_KEY",)
    default_base_url: ClassVar[str | None] = DEFAULT_BASE_URL
    base_url_env: ClassVar[str | None] = BASE_URL_ENV
    marks_create_start: ClassVar[bool] = True
    limits = ProviderLimits(
        max_requests_per_batch=100_000,
        max_bytes_per_batch=256 * 1024 * 1024,
        custom_id_pattern=r"^[a-zA-Z0-9_-]{1,64}$",
        custom_id_max_length=64,
    )
    #: "Max batch requests in processing queue": one queue for every model, counted in
    #: requests; the figure depends on the usage tier (100,000 at tier 1, 500,000 at
    #: tier 4): set ``queue_limit_requests`` from the console's Limits page.
    queue_limits: ClassVar[Mapping[str, QueueLimit]] = {
        "*": QueueLimit(per_model=False, source="docs.anthropic.com rate limits (Message Batches)")
    }
    #: An ended batch has one result line per request, whatever became of it.
    result_line_states: ClassVar[frozenset[str]] = frozenset(
        {"succeeded", "errored", "expired", "cancelled"}
    )
    #: Message Batches cost half the standard price; prompt-caching multipliers stack
    #: with it (batch cache reads and writes are half price too).
    batch_discount: ClassVar[float] = 0.5
    checks_model_names: ClassVar[bool] = True

    def __init__(
        self,
        settings: ProviderSettings | None = None,
        *,
        store: Any = None,
        **options: Any,
    ) -> None:
        super().__init__(settings, store=store, **options)
        assert isinstance(self.settings, AnthropicSettings)
        self.anthropic_settings: AnthropicSettings = self.settings
        self._client: anthropic.AsyncAnthropic | None = None

    # ------------------------------------------------------------------ the client

    @property
    def client(self) -> anthropic.AsyncAnthropic:
        """The SDK's async client, built on first use."""
        if self._client is None:
            self._client = self._build_client()
        return self._client

    def _build_client(self) -> anthropic.AsyncAnthropic:
        try:
            import anthropic
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise ConfigError(
                "the anthropic provider needs the `anthropic` package: "
                "pip install lmbatch-anthropic"
            ) from exc
        settings = self.anthropic_settings
        return anthropic.AsyncAnthropic(
            api_key=self.api_key(),
            base_url=self.base_url(),
            max_retries=settings.max_retries,
            timeout=settings.timeout,
        )

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    # -------------------------------------------------------------------- encoding

    def request_fields(self) -> tuple[str, frozenset[str]]:
        return "the Anthropic Messages API", REQUEST_FIELDS

    def validate_hyperparameters(self, params: Hyperparameters) -> None:
        settings = self.anthropic_settings
        check_hyperparameters(params, settings.model, settings.default_max_tokens)
        check_structured_mode(params, structured_mode(params, settings.structured_output))

    def validate_request(self, key: str, messages: list[Message], params: Hyperparameters) -> None:
        check_request(key, messages)

    def max_output_tokens(self, params: Hyperparameters) -> int | None:
        # Every request carries max_tokens: the caller's or the configured default.
        return params.max_tokens or self.anthropic_settings.default_max_tokens

    def batch_context(self, params: Hyperparameters) -> dict[str, Any]:
        mode = structured_mode(params, self.anthropic_settings.structured_output)
        if mode is None:
            return {}
        assert params.response_schema is not None
        context: dict[str, Any] = {"structured_output": mode}
        if mode == "tool":
            context["schema_tool"] = params.response_schema.name
        return context

    def encode_request(
        self, custom_id: str, messages: list[Message], params: Hyperparameters
    ) -> dict[str, Any]:
        settings = self.anthropic_settings
        assert settings.model is not None  # checked by validate_hyperparameters
        return encode_request(
            custom_id,
            messages,
            params,
            model=settings.model,
            default_max_tokens=settings.default_max_tokens,
            mode=structured_mode(params, settings.structured_output),
        )

    async def count_input_tokens(
        self, messages: list[Message], params: Hyperparameters
    ) -> int | None:
        """``POST /v1/messages/count_tokens`` on the params the batch request would carry."""
        request = self.encode_request("count", messages, params)
        # max_tokens, temperature, metadata, ... belong to the batch request only: the
        # count endpoint refuses fields it does not take.
        body = {name: value for name, value in request["params"].items() if name in COUNT_FIELDS}
        headers: dict[str, str] = {}
        if self.anthropic_settings.betas:
            headers["anthropic-beta"] = ",".join(self.anthropic_settings.betas)
        async with translate_errors(self.name):
            counted = await self.client.messages.count_tokens(**body, extra_headers=headers or None)
        return counted.input_tokens

    # ------------------------------------------------------------------- lifecycle

    async def submit_batch(self, batch: PreparedBatch) -> str:
        # The body is streamed from the spooled chunk (constant memory, however large):
        # the SDK's own create would hold every request as objects and again as JSON.
        # Measuring it reads the whole file: off the event loop, as other chunks upload.
        body = await asyncio.to_thread(RequestsBody, batch.path)
        headers = {"Content-Length": str(body.length)}
        if self.anthropic_settings.betas:
            headers["anthropic-beta"] = ",".join(self.anthropic_settings.betas)
        details = {"request_count": str(batch.request_count)}
        import anthropic
        import httpx2

        # Never retried: a repeat of a create that reached the vendor is billed twice.
        # The client's own post keeps its base URL, auth and default headers, timeout
        # and error mapping; only the body is ours.
        client = self.client.with_options(max_retries=0)
        self.create_started(batch)
        try:
            response = await client.post(
                CREATE_PATH,
                cast_to=httpx2.Response,
                content=body,
                options={"headers": headers},
            )
        except anthropic.AnthropicError as exc:
            error = map_error(
                exc, self.name, base_url=str(client.base_url), base_url_env=self.base_url_env
            )
            raise create_failure(batch, error, provider=self.name, details=details) from exc
        try:
            answer = response.json()
        except ValueError:
            answer = None  # a 200 that is not JSON: the batch may exist all the same
        batch_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(batch_id, str) or not batch_id:
            raise create_uncertain(
                batch,
                "answered without a batch id",
                provider=self.name,
                details=details,
                request_id=response.headers.get("request-id"),
            )
        return batch_id

    async def fetch_batch(self, batch_id: str) -> BatchInfo:
        async with translate_errors(self.name):
            raw = await self.client.messages.batches.with_raw_response.retrieve(batch_id)
            body = await raw.json()
        return batch_info(_as_dict(body), self.name)

    def decode_record(self, record: dict[str, Any], context: dict[str, Any]) -> ResultRecord:
        return decode_record(record, context, self.name)

    async def iter_result_lines(
        self, info: BatchInfo, context: dict[str, Any]
    ) -> AsyncIterator[str]:
        url = info["raw"].get("results_url")
        if not isinstance(url, str) or not url:
            archived = info["raw"].get("archived_at")
            raise ProviderRequestError(
                f"batch {info['id']} has no results_url"
                + (f" (its results were archived at {archived})" if archived else ""),
                provider=self.name,
            )
        # Never follow a link off the configured API: the client sends the key with it.
        url = download_url(
            url,
            base_url=str(self.client.base_url),
            vendor_base_urls=VENDOR_BASE_URLS,
            provider=self.name,
        )
        async for line in self._result_lines(info["id"], url):
            yield line

    async def _result_lines(self, batch_id: str, url: str) -> AsyncIterator[str]:
        """Stream a batch's results file line by line (never held in memory whole)."""
        import httpx2

        # Follow the URL the API gave (absolute; its path is not guaranteed, its host was
        # checked by download_url), with the client's auth headers, retries and error
        # mapping. No redirects: one would carry the key to a host nobody checked.
        async with translate_errors(self.name):
            response = await self.client.get(
                url,
                cast_to=httpx2.Response,
                options={"headers": {"Accept": "application/binary"}, "follow_redirects": False},
                stream=True,
                stream_cls=None,
            )
        try:
            async for line in response.aiter_lines():
                yield line
        except httpx2.TransportError as exc:
            raise ProviderConnectionError(
                f"the results of batch {batch_id} stopped streaming: {exc}",
                provider=self.name,
            ) from exc
        finally:
            await response.aclose()

    async def list_batches_page(self, cursor: str | None) -> BatchPage:
        limit = self.anthropic_settings.list_page_size
        query: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            query["after_id"] = cursor
        async with translate_errors(self.name):
            raw = await self.client.messages.batches.with_raw_response.list(**query)
            body = _as_dict(await raw.json())
        data = body.get("data") or []
        batches = [batch_info(item, self.name) for item in data if isinstance(item, dict)]
        last_id = body.get("last_id")
        more = bool(body.get("has_more")) and isinstance(last_id, str) and bool(last_id)
        return BatchPage(batches, cast(str, last_id) if more else None)

    async def cancel_batch(self, batch_id: str) -> None:
        async with translate_errors(self.name):
            await self.client.messages.batches.with_raw_response.cancel(batch_id)

    async def vendor_date(self) -> str | None:
        async with translate_errors(self.name):
            raw = await self.client.messages.batches.with_raw_response.list(limit=1)
        return raw.headers.get("date")

    # ------------------------------------------------------------------ extras

    async def delete(self, batch_id: str) -> None:
        """Delete an ended batch (or every batch of an lmbatch job) at Anthropic.

        Anthropic only deletes batches whose processing has ended; cancel first.

        Raises:
            ProviderRequestError: The batch has not ended.
            BatchNotFoundError: Anthropic does not know the batch.
        """
        job = self.store.get_job(batch_id)
        ids = job.batch_ids if job is not None and job.provider == self.name else [batch_id]
        for vendor_id in ids:
            async with translate_errors(self.name):
                await self.client.messages.batches.with_raw_response.delete(vendor_id)


def _as_dict(body: object) -> dict[str, Any]:
    return cast(dict[str, Any], body) if isinstance(body, dict) else {}
