"""``OpenRouterBatchOperations``: the OpenRouter Batch API (beta) behind lmbatch's contract.

Wire translation only: the body in :mod:`._chat`, status and results in :mod:`._status`,
HTTP and errors in :mod:`._http`, the create body in :mod:`._body`. Raw HTTP (``httpx``,
imported lazily) rather than the official ``openrouter`` SDK: the SDK has no results
paging, retries creates on 429 (a repeat may be billed twice) and would hold every
request of a batch as a model object.

OpenRouter has no cancel endpoint: ``cancel`` is not in :attr:`supported_methods` and
raises :class:`~lmbatch.OperationUnsupportedError`. :meth:`delete` removes a batch that
has ended (a running one is refused with HTTP 409).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from lmbatch.provider import (
    ALL_METHODS,
    BatchInfo,
    BatchOperations,
    BatchPage,
    Hyperparameters,
    Message,
    MissingCredentialsError,
    PreparedBatch,
    ProviderLimits,
    ProviderSettings,
    ResultRecord,
    ValidationError,
)
from lmbatch_openrouter._body import CreateBody, create_head
from lmbatch_openrouter._chat import RESERVED, check_request, encode_chat
from lmbatch_openrouter._http import Api
from lmbatch_openrouter._settings import API_KEY_ENV, OpenRouterSettings
from lmbatch_openrouter._status import batch_info, decode_result

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

    def _api_key(self) -> str:
        key = self.openrouter_settings.api_key
        value = (key.get_secret_value() if key is not None else "") or os.environ.get(API_KEY_ENV)
        if not value:
            raise MissingCredentialsError(
                f"the openrouter provider needs an API key: set {API_KEY_ENV} in the "
                "environment (or pass api_key=...)",
                env_var=API_KEY_ENV,
            )
        return value

    @property
    def api(self) -> Api:
        """The HTTP client, built on first use."""
        if self._api is None:
            settings = self.openrouter_settings
            headers = {"Authorization": f"Bearer {self._api_key()}"}
            if settings.app_url:
                headers["HTTP-Referer"] = settings.app_url
            if settings.app_title:
                headers["X-OpenRouter-Title"] = settings.app_title
            self._api = Api(
                settings.resolved_base_url(), headers, settings.timeout, settings.max_retries
            )
        return self._api

    def check_ready(self) -> None:
        self._api_key()
        super().check_ready()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        api, self._api = self._api, None
        if api is not None:
            await api.aclose()

    # -------------------------------------------------------------------- encoding

    def request_fields(self) -> tuple[str, frozenset[str]]:
        return f"OpenRouter {self.openrouter_settings.endpoint}", REQUEST_FIELDS

    def validate_hyperparameters(self, params: Hyperparameters) -> None:
        reserved = sorted(RESERVED & set(params.extra))
        if reserved:
            raise ValidationError(f"hyperparameters {reserved} are set by lmbatch")
        schema = params.response_schema
        if schema is not None and schema.json_schema.get("type") != "object":
            raise ValidationError(
                "hyperparameters['response_schema']: structured output needs an object schema"
            )

    def validate_request(self, key: str, messages: list[Message], params: Hyperparameters) -> None:
        check_request(key, messages)

    def batch_context(self, params: Hyperparameters) -> dict[str, Any]:
        return {"structured": params.response_schema is not None}

    def encode_request(
        self, custom_id: str, messages: list[Message], params: Hyperparameters
    ) -> dict[str, Any]:
        model = self.settings.model
        assert model is not None  # checked by check_ready
        return {"custom_id": custom_id, "body": encode_chat(model, messages, params)}

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
        details = {"job_id": batch.job_id, "chunk": str(batch.chunk_index)}
        self.create_started(batch)
        return await api.create(body, body.length, details)

    async def fetch_batch(self, batch_id: str) -> BatchInfo:
        raw = await self.api.get(f"/batches/{batch_id}", f"status check of batch {batch_id}")
        return batch_info(raw if isinstance(raw, dict) else {})

    async def iter_result_records(
        self, info: BatchInfo, context: dict[str, Any]
    ) -> AsyncIterator[ResultRecord]:
        structured = bool(context.get("structured"))
        inline = info["raw"].get("results")
        if isinstance(inline, list):  # a terminal batch carries its results
            for item in inline:
                yield decode_result(item, structured)
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
                yield decode_result(item, structured)
            cursor = page.get("next_cursor")
            if not isinstance(cursor, str) or not cursor:
                return

    async def list_batches_page(self, cursor: str | None) -> BatchPage:
        query: dict[str, Any] = {"limit": self.openrouter_settings.list_page_size}
        if cursor is not None:
            query["after"] = cursor
        body = await self.api.get("/batches", "listing batches", params=query)
        body = body if isinstance(body, dict) else {}
        infos = [batch_info(item) for item in body.get("data") or [] if isinstance(item, dict)]
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
            query: list[tuple[str, Any]] = [("limit", self.openrouter_settings.list_page_size)]
            query += [("status", status) for status in statuses]
            if cursor is not None:
                query.append(("after", cursor))
            body = await self.api.get("/batches", "listing batches", params=query)
            items = [batch_info(i) for i in body.get("data") or [] if isinstance(i, dict)]
            found += items
            cursor = body.get("last_id") if body.get("has_more") and items else None
            if not cursor:
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
