"""``GroqBatchOperations``: lmbatch's contract on Groq's OpenAI-compatible Batch API.

Groq serves OpenAI's Files + Batches protocol under ``https://api.groq.com/openai/v1``, so
this is a subclass of :class:`~lmbatch_openai.OpenAICompatibleBatchOperations` with
Groq's declarations (name, key, base URL, limits, endpoint, request fields) and its
differences:

* ``completion_window`` from ``24h`` to ``7d``; a batch's ``expires_at`` follows it;
* answers carry ``x_groq`` (Groq's request id), timing fields in ``usage`` and, for
  reasoning models, ``message.reasoning``: the request id and timings go to
  ``finish_details``; the reasoning is a :class:`ThinkingOutput` before the text (read
  by ``lmbatch_openai``'s chat decoder);
* the list is one page (no ``has_more``), in no promised order, so the vendor's clock
  is read from one model's description (``GET /models/{model}``) instead.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from lmbatch_openai import OpenAICompatibleBatchOperations

from lmbatch.provider import (
    BatchInfo,
    BatchPage,
    ProviderLimits,
    ProviderSettings,
    ResultRecord,
)
from lmbatch_groq._settings import GroqSettings, window_seconds

__all__ = ["GroqBatchOperations"]

#: Request body fields of Groq's Chat Completions (``groq`` SDK
#: ``types/chat/completion_create_params.py``), less those lmbatch sets.
REQUEST_FIELDS = frozenset(
    {
        "citation_options",
        "compound_custom",
        "disable_tool_validation",
        "documents",
        "exclude_domains",
        "frequency_penalty",
        "function_call",
        "functions",
        "include_domains",
        "include_reasoning",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "metadata",
        "n",
        "parallel_tool_calls",
        "presence_penalty",
        "reasoning_effort",
        "reasoning_format",
        "response_format",
        "search_settings",
        "seed",
        "service_tier",
        "stop",
        "store",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
    }
)
#: Timing fields Groq adds to ``usage`` (seconds), kept in ``finish_details``.
TIMINGS = ("queue_time", "prompt_time", "completion_time", "total_time")


class GroqBatchOperations(OpenAICompatibleBatchOperations):
    """Batches on the Groq Batch API (provider name ``groq``).

    Example::

        ops = lmbatch.get_batch_operations("groq", model="llama-3.1-8b-instant")
        results = await ops.invoke({"q": "Hello"}, {"max_tokens": 50})

    Options are those of :class:`~lmbatch_groq.GroqSettings`.
    """

    name = "groq"
    settings_class: ClassVar[type[ProviderSettings]] = GroqSettings
    api_key_env: ClassVar[tuple[str, ...]] = ("GROQ_API_KEY",)
    default_base_url: ClassVar[str | None] = "https://api.groq.com/openai/v1"
    base_url_env: ClassVar[str | None] = "GROQ_BASE_URL"
    endpoints: ClassVar[tuple[str, ...]] = ("/v1/chat/completions",)
    limits = ProviderLimits(max_requests_per_batch=50_000, max_bytes_per_batch=100 * 1024 * 1024)
    #: Groq has published 25 % and later 50 %: the lower figure never under-estimates.
    batch_discount: ClassVar[float] = 0.25
    checks_model_names: ClassVar[bool] = True

    def request_fields(self) -> tuple[str, frozenset[str]]:
        return "Groq /v1/chat/completions", REQUEST_FIELDS

    def _with_window(self, info: BatchInfo) -> BatchInfo:
        """``expires_at`` from the batch's own window when it does not say (24 h to 7 d)."""
        window = window_seconds(str(info["raw"].get("completion_window") or ""))
        if info.get("expires_at") is None and info["created_at"] is not None and window:
            info["expires_at"] = info["created_at"] + timedelta(seconds=window)
        return info

    async def fetch_batch(self, batch_id: str) -> BatchInfo:
        return self._with_window(await super().fetch_batch(batch_id))

    async def list_batches_page(self, cursor: str | None) -> BatchPage:
        # Groq's list takes no ``limit`` or ``after`` (the ``groq`` SDK's
        # ``batches.list()``) and answers every batch at once: ``{object, data}``.
        with self._errors("listing batches"):
            page = await self._client().batches.list()
        infos = sorted(
            (
                self._with_window(self._batch_info(item.model_dump(mode="json")))
                for item in page.data
            ),
            key=lambda i: i["created_at"].timestamp() if i["created_at"] else 0.0,
            reverse=True,  # newest first, as core expects
        )
        return BatchPage(infos, None)

    async def vendor_date(self) -> str | None:
        # Groq's batch list takes no ``limit`` (the base class's probe would download every
        # batch): one model's description (``groq`` SDK ``models.retrieve``) is small.
        if not self.settings.model:
            return None  # read only before a create, which names a model
        with self._errors("reading the clock from the model"):
            raw = await self._client().models.with_raw_response.retrieve(self.settings.model)
        return raw.headers.get("date")

    def decode_record(self, record: dict[str, Any], context: dict[str, Any]) -> ResultRecord:
        decoded = super().decode_record(record, context)
        output = decoded.output
        response = record.get("response")
        body = response.get("body") if isinstance(response, dict) else None
        if output.error is not None or not isinstance(body, dict):
            return decoded
        x_groq = body.get("x_groq")
        if isinstance(x_groq, dict) and x_groq.get("id"):
            output.finish_details["groq_request_id"] = x_groq["id"]
        usage = body.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        timings = {name: usage[name] for name in TIMINGS if isinstance(usage.get(name), float)}
        if timings:
            output.finish_details["timings"] = timings
        return decoded
