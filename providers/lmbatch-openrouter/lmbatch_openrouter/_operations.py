"""``OpenRouterBatchOperations``: the OpenRouter Batch API (beta) behind lmbatch's contract.

Wire translation only: request bodies are OpenAI chat completions (``lmbatch_openai``'s
codec), status and results in :mod:`._status`, HTTP in :mod:`._http`, the create body in
:mod:`._body`. Raw HTTP (``httpx``, imported lazily) rather than the official
``openrouter`` SDK: the SDK has no results paging, retries creates on 429 (a repeat may
be billed twice) and would hold every request of a batch as a model object.

OpenRouter has no cancel endpoint: ``cancel`` is not in :attr:`supported_methods` and
raises :class:`~lmbatch.OperationUnsupportedError`. :meth:`delete` removes a batch that
has ended (a running one is refused with HTTP 409).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from lmbatch_openai import encode_chat_body, validate_chat_hyperparameters, validate_chat_request

from lmbatch.provider import (
    ALL_METHODS,
    BatchInfo,
    BatchOperations,
    BatchPage,
    Hyperparameters,
    Message,
    PreparedBatch,
    ProviderError,
    ProviderLimits,
    ProviderSettings,
    ResultRecord,
    create_failure,
    create_uncertain,
)
from lmbatch_openrouter._body import CreateBody, create_head
from lmbatch_openrouter._http import Api
from lmbatch_openrouter._settings import (
    API_KEY_ENV,
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    OpenRouterSettings,
)
from lmbatch_openrouter._status import batch_info, decode_item

__all__ = ["OpenRouterBatchOperations"]

#: The chat body's documented fields (the official SDK's ``ChatRequest``).
REQUEST_FIELDS = frozenset(
    [
        "cache_control",
        "debug",
        "deferred_tools",
        "frequency_penalty",
        "image_config",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "messages",
        "metadata",
        "min_p",
        "modalities",
        "model",
        "models",
        "parallel_tool_calls",
        "plugins",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "prompt_cache_options",
        "reasoning",
        "reasoning_effort",
        "repetition_penalty",
        "response_format",
        "seed",
        "service_tier",
        "session_id",
        "stop",
        "temperature",
        "tool_choice",
        "tools",
        "top_a",
        "top_k",
        "top_logprobs",
        "top_p",
        "trace",
        "user",
    ]
)


class OpenRouterBatchOperations(BatchOperations):
    """Batches on OpenRouter's Batch API (provider name ``openrouter``).

    Options are those of :class:`~lmbatch_openrouter.OpenRouterSettings`.
    """

    name: ClassVar[str] = "openrouter"
    settings_class: ClassVar[type[ProviderSettings]] = OpenRouterSettings
    api_key_env: ClassVar[tuple[str, ...]] = (API_KEY_ENV,)
    default_base_url: ClassVar[str | None] = DEFAULT_BASE_URL
    base_url_env: ClassVar[str | None] = BASE_URL_ENV
    #: No cancel endpoint at OpenRouter.
    supported_methods: ClassVar[frozenset[str]] = ALL_METHODS - {"cancel"}
    limits = ProviderLimits(max_requests_per_batch=5_000, max_bytes_per_batch=200 * 1024 * 1024)
    marks_create_start: ClassVar[bool] = True
    #: About half the synchronous per-token price (``usage.cost`` is authoritative).
    batch_discount: ClassVar[float] = 0.5

    def __init__(
        self, settings: ProviderSettings | None = None, *, store: Any = None, **options: Any
    ) -> None:
        super().__init__(settings, store=store, **options)
        assert isinstance(self.settings, OpenRouterSettings)
        self.openrouter_settings: OpenRouterSettings = self.settings
        self._api: Api | None = None

    # ------------------------------------------------------------------ the client

    @property
    def api(self) -> Api:
        """The HTTP client, built on first use."""
        if self._api is None:
            settings = self.openrouter_settings
            headers = {"Authorization": f"Bearer {self.api_key()}"}
            if settings.app_url:
                headers["HTTP-Referer"] = settings.app_url
            if settings.app_title:
                headers["X-OpenRouter-Title"] = settings.app_title
            self._api = Api(
                str(self.base_url()).rstrip("/"),
                headers,
                timeout=settings.timeout,
                max_retries=settings.max_retries,
                provider=self.name,
                base_url_env=self.base_url_env,
            )
        return self._api

    async def aclose(self) -> None:
        """Close the HTTP client."""
        api, self._api = self._api, None
        if api is not None:
            await api.aclose()

    # -------------------------------------------------------------------- encoding

    def request_fields(self) -> tuple[str, frozenset[str]]:
        return f"OpenRouter {self.openrouter_settings.endpoint}", REQUEST_FIELDS

    def validate_hyperparameters(self, params: Hyperparameters) -> None:
        validate_chat_hyperparameters(params)

    def validate_request(self, key: str, messages: list[Message], params: Hyperparameters) -> None:
        # OpenRouter batches take no inline data: images and PDFs by URL.
        validate_chat_request(key, messages, images="url", pdfs="url")

    def encode_request(
        self, custom_id: str, messages: list[Message], params: Hyperparameters
    ) -> dict[str, Any]:
        model = self.settings.model
        assert model is not None  # checked by check_ready
        body = encode_chat_body(model, messages, params, max_tokens_field="max_tokens")
        return {"custom_id": custom_id, "body": body}

    # ------------------------------------------------------------------- lifecycle

    async def submit_batch(self, batch: PreparedBatch) -> str:
        settings = self.openrouter_settings
        assert settings.model is not None
        provider: dict[str, Any] = {}
        if settings.providers:
            provider["only"] = list(settings.providers)
        if settings.allow_fallbacks is not None:
            provider["allow_fallbacks"] = settings.allow_fallbacks
        head = create_head(settings.endpoint, settings.model, provider or None)
        # Measuring reads the whole chunk: off the event loop.
        body = await asyncio.to_thread(CreateBody, batch.path, head)
        api = self.api
        self.create_started(batch)
        try:
            answer = await api.create(body, body.length)  # never retried
        except ProviderError as exc:
            raise create_failure(batch, exc, provider=self.name) from exc
        batch_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(batch_id, str) or not batch_id:
            raise create_uncertain(batch, "answered without a batch id", provider=self.name)
        return batch_id

    async def fetch_batch(self, batch_id: str) -> BatchInfo:
        raw = await self.api.get(f"/batches/{batch_id}", f"status check of batch {batch_id}")
        return batch_info(raw if isinstance(raw, dict) else {}, self.name)

    async def iter_result_records(
        self, info: BatchInfo, context: dict[str, Any]
    ) -> AsyncIterator[ResultRecord]:
        # Results are JSON arrays (inline, or in pages), not JSONL: decoded item by item.
        structured = context.get("response_schema") is not None
        inline = info["raw"].get("results")
        if isinstance(inline, list):  # a terminal batch carries its results
            for item in inline:
                yield decode_item(item, structured, self.name)
            return
        # Newer API: results by page, when the batch object leaves them out.
        cursor: str | None = None
        while True:
            page = await self.api.get(
                f"/batches/{info['id']}/results",
                f"results of batch {info['id']}",
                params={"cursor": cursor} if cursor else None,
            )
            page = page if isinstance(page, dict) else {}
            for item in page.get("data") or page.get("results") or []:
                yield decode_item(item, structured, self.name)
            cursor = page.get("next_cursor")
            if not isinstance(cursor, str) or not cursor:
                return

    async def list_batches_page(
        self, cursor: str | None, statuses: tuple[str, ...] = ()
    ) -> BatchPage:
        query: list[tuple[str, Any]] = [("limit", self.openrouter_settings.list_page_size)]
        query += [("status", status) for status in statuses]  # OpenRouter filters itself
        if cursor is not None:
            query.append(("after", cursor))
        body = await self.api.get("/batches", "listing batches", params=query)
        body = body if isinstance(body, dict) else {}
        infos = [
            batch_info(item, self.name) for item in body.get("data") or [] if isinstance(item, dict)
        ]
        last_id = body.get("last_id") or (infos[-1]["id"] if infos else None)
        more = bool(body.get("has_more")) and isinstance(last_id, str) and bool(last_id)
        return BatchPage(infos, last_id if more else None)

    async def vendor_date(self) -> str | None:
        return await self.api.date()

    # ---------------------------------------------------------------------- extras

    async def list_by_status(self, *statuses: str) -> list[BatchInfo]:
        """Every batch in one of ``statuses`` (``validating``, ``in_progress``,
        ``completed``, ``failed``, ``expired``, ``cancelled``), newest first.

        OpenRouter filters the list itself (``status`` repeated in the query); the
        list folds ``finalizing`` and ``cancelling`` into ``in_progress``.
        """
        found: list[BatchInfo] = []
        cursor: str | None = None
        while True:
            page = await self.list_batches_page(cursor, statuses)
            found += page.batches
            cursor = page.next_cursor
            if cursor is None:
                return found

    async def delete(self, batch_id: str) -> None:
        """Delete an ended batch (or every batch of an lmbatch job) at OpenRouter.

        OpenRouter deletes only batches in a terminal status, with their stored requests
        and results (billing records stay).

        Raises:
            ProviderRequestError: The batch is still running (HTTP 409).
            BatchNotFoundError: OpenRouter does not know the batch.
        """
        job = self.store.get_job(batch_id)
        ids = job.batch_ids if job is not None and job.provider == self.name else [batch_id]
        for vendor_id in ids:
            await self.api.delete(f"/batches/{vendor_id}", f"deletion of batch {vendor_id}")
