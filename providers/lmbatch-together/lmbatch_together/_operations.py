"""``TogetherBatchOperations``: lmbatch's contract on the Together AI Batch API.

Together speaks a variant of the OpenAI batch protocol, through its own SDK (``together``,
imported on first use, Stainless-generated like ``openai``'s). Everything else is
inherited from :class:`~lmbatch_openai.OpenAICompatibleBatchOperations`, with the
``together`` client and exceptions plugged in (``new_client``, ``sdk``, ``stream_errors``):
Chat Completions encoding and decoding, error mapping, result files, cancel, clean-up.
What differs is Together's:

* input lines are ``{"custom_id", "body"}`` (no ``method``/``url``); a custom id is at
  most 64 characters; bodies say ``max_tokens`` (not ``max_completion_tokens``);
* the input file is uploaded with purpose ``batch-api`` (the SDK's signed-URL upload);
* ``POST /v1/batches`` takes ``model_id`` and ``priority`` and answers
  ``{"job": {...}, "warning": ...}``;
* statuses are upper case, with a ``progress`` percentage instead of request counts
  (see :mod:`lmbatch_together._status`); listing is one unpaginated array.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, cast

from lmbatch_openai import OpenAICompatibleBatchOperations

from lmbatch.provider import (
    BatchInfo,
    BatchPage,
    Hyperparameters,
    Message,
    PreparedBatch,
    ProviderError,
    ProviderLimits,
    ProviderSettings,
    QueueLimit,
    create_failure,
    create_uncertain,
)
from lmbatch_together._settings import TogetherSettings
from lmbatch_together._status import job_info

if TYPE_CHECKING:
    import together

__all__ = ["TogetherBatchOperations"]

logger = logging.getLogger("lmbatch.together")

#: Request body fields of Together's Chat Completions (``together`` SDK
#: ``types/chat/completion_create_params.py``), less those lmbatch sets.
REQUEST_FIELDS = frozenset(
    {
        "chat_template_kwargs", "compliance", "context_length_exceeded_behavior", "echo",
        "frequency_penalty", "function_call", "logit_bias", "logprobs", "max_tokens", "min_p",
        "n", "presence_penalty", "reasoning", "reasoning_effort", "repetition_penalty",
        "response_format", "safety_model", "seed", "stop", "temperature", "tool_choice",
        "tools", "top_k", "top_p",
    }
)  # fmt: skip


class TogetherBatchOperations(OpenAICompatibleBatchOperations):
    """Batches on the Together AI Batch API (provider name ``together``).

    Example::

        ops = lmbatch.get_batch_operations("together", model="Qwen/Qwen3-235B-A22B-fp8-tput")
        results = await ops.invoke({"q": "Hello"}, {"max_tokens": 50})

    Options are those of :class:`~lmbatch_together.TogetherSettings`.
    """

    name = "together"
    settings_class: ClassVar[type[ProviderSettings]] = TogetherSettings
    api_key_env: ClassVar[tuple[str, ...]] = ("TOGETHER_API_KEY",)
    default_base_url: ClassVar[str | None] = "https://api.together.ai"  # the SDK's
    base_url_env: ClassVar[str | None] = "TOGETHER_BASE_URL"
    endpoints: ClassVar[tuple[str, ...]] = ("/v1/chat/completions",)
    limits = ProviderLimits(
        max_requests_per_batch=50_000,
        max_bytes_per_batch=100 * 1024 * 1024,
        custom_id_max_length=64,
    )
    #: Together discounts batches on some models only: 0 never under-estimates a cost.
    #: 30 billion enqueued tokens per model (docs.together.ai, batch overview).
    queue_limits: ClassVar[Mapping[str, QueueLimit]] = {
        "*": QueueLimit(tokens=30_000_000_000, source="docs.together.ai batch overview")
    }
    batch_discount: ClassVar[float] = 0.0
    checks_model_names: ClassVar[bool] = True

    def new_client(self) -> together.AsyncTogether:
        """The ``together`` SDK's client: every inherited call goes through it."""
        import together

        settings = self.openai_settings
        return together.AsyncTogether(
            api_key=self.api_key(),
            base_url=self.base_url(),
            max_retries=settings.max_retries,
            timeout=settings.timeout,
        )

    def sdk(self) -> ModuleType:
        import together

        return together

    def stream_errors(self) -> tuple[type[Exception], ...]:
        import httpx

        return (httpx.TransportError,)

    def _together(self) -> together.AsyncTogether:
        return cast("together.AsyncTogether", self._client())

    # ------------------------------------------------------------------ encoding

    def request_fields(self) -> tuple[str, frozenset[str]]:
        return "Together /v1/chat/completions", REQUEST_FIELDS

    def encode_request(
        self, custom_id: str, messages: list[Message], params: Hyperparameters
    ) -> dict[str, Any]:
        body = super().encode_request(custom_id, messages, params)["body"]
        if "max_completion_tokens" in body:  # Together names it max_tokens
            body["max_tokens"] = body.pop("max_completion_tokens")
        return {"custom_id": custom_id, "body": body}

    # ---------------------------------------------------------------- submission

    async def submit_batch(self, batch: PreparedBatch) -> str:
        settings = self.settings
        assert isinstance(settings, TogetherSettings)
        client = self._together()
        with self._errors("upload of the batch input file", names_batch=False):
            uploaded = await client.files.upload(file=batch.path, purpose="batch-api", check=False)
        extra: dict[str, Any] = {"model_id": settings.model}
        if settings.priority is not None:
            extra["priority"] = settings.priority
        self.create_started(batch)
        details = {"input_file_id": uploaded.id}
        try:
            # Never retried: a repeated create may make (and bill) a second batch.
            with self._errors("batch creation", names_batch=False):
                created = await client.with_options(max_retries=0).batches.create(
                    endpoint=settings.endpoint,  # type: ignore[arg-type]
                    input_file_id=uploaded.id,
                    **extra,
                )
        except ProviderError as exc:
            failure = create_failure(batch, exc, provider=self.name, details=details)
            if failure is exc:  # refused: no job exists, the uploaded file is useless
                await self._delete_file_quietly(uploaded.id)
            raise failure from (exc.__cause__ or exc)
        batch_id = getattr(getattr(created, "job", None), "id", None)  # {"job": {...}}
        if not isinstance(batch_id, str) or not batch_id:
            raise create_uncertain(
                batch, "answered without a job id", provider=self.name, details=details
            )
        if getattr(created, "warning", None):
            logger.warning("Together batch %s: %s", batch_id, created.warning)
        return batch_id

    async def vendor_date(self) -> str | None:
        with self._errors("listing batches"):
            raw = await self._together().batches.with_raw_response.list()
        date = raw.headers.get("date")
        return str(date) if date else None

    # ------------------------------------------------------------------- reading

    async def fetch_batch(self, batch_id: str) -> BatchInfo:
        with self._errors(f"status check of batch {batch_id}"):
            job = await self._together().batches.retrieve(batch_id)
        return job_info(job.model_dump(mode="json", by_alias=True), self.name)

    async def list_batches_page(self, cursor: str | None) -> BatchPage:
        # One unpaginated array, in no promised order: newest first here, as core expects.
        with self._errors("listing batches"):
            jobs = await self._together().batches.list()
        infos = [job_info(job.model_dump(mode="json", by_alias=True), self.name) for job in jobs]
        infos.sort(key=lambda i: i["created_at"].timestamp() if i["created_at"] else 0.0)
        return BatchPage(infos[::-1], None)
