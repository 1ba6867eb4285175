"""``GroqBatchOperations``: lmbatch's contract on Groq's OpenAI-compatible Batch API.

Groq serves OpenAI's Files + Batches protocol under ``https://api.groq.com/openai/v1``, so
this is the OpenAI provider with Groq's declarations (name, key, base URL, limits, request
fields) and its differences:

* ``completion_window`` from ``24h`` to ``7d``; a batch's ``expires_at`` follows it;
* chat completions only; list without pages;
* answers carry ``x_groq`` (Groq's request id), timing fields in ``usage`` and, for
  reasoning models, ``message.reasoning``: the request id and timings go to
  ``finish_details``, the reasoning to a :class:`ThinkingOutput` before the text.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, ClassVar

from lmbatch_openai import OpenAIBatchOperations

from lmbatch.provider import (
    BatchInfo,
    BatchPage,
    PreparedBatch,
    ProviderError,
    ProviderLimits,
    ResultRecord,
    ThinkingOutput,
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


class GroqBatchOperations(OpenAIBatchOperations):
    """Batches on the Groq Batch API (provider name ``groq``).

    Example::

        ops = lmbatch.get_batch_operations("groq", model="llama-3.1-8b-instant")
        results = await ops.invoke({"q": "Hello"}, {"max_tokens": 50})

    Options are those of :class:`~lmbatch_groq.GroqSettings`.
    """

    name = "groq"
    settings_class = GroqSettings
    limits = ProviderLimits(max_requests_per_batch=50_000, max_bytes_per_batch=100 * 1024 * 1024)
    #: Groq has published 25 % and later 50 %: the lower figure never under-estimates.
    batch_discount: ClassVar[float] = 0.25
    checks_model_names: ClassVar[bool] = False

    def request_fields(self) -> tuple[str, frozenset[str]]:
        return "Groq /v1/chat/completions", REQUEST_FIELDS

    # -------------------------------------------------------------- Groq's shapes

    @contextmanager
    def _named(self) -> Iterator[None]:
        """Errors of the OpenAI provider's code name this provider."""
        try:
            yield
        except ProviderError as exc:
            exc.provider = self.name
            raise

    def _own(self, info: BatchInfo) -> BatchInfo:
        info["provider"] = self.name
        window = window_seconds(str(info["raw"].get("completion_window") or ""))
        if info.get("expires_at") is None and info["created_at"] is not None and window:
            info["expires_at"] = info["created_at"] + timedelta(seconds=window)
        return info

    async def fetch_batch(self, batch_id: str) -> BatchInfo:
        with self._named():
            return self._own(await super().fetch_batch(batch_id))

    async def list_batches_page(self, cursor: str | None) -> BatchPage:
        # Groq's list has no pages (no has_more): one call, newest first here.
        with self._named():
            page = await super().list_batches_page(cursor)
        infos = [self._own(info) for info in page.batches]
        infos.sort(key=lambda i: i["created_at"].timestamp() if i["created_at"] else 0.0)
        return BatchPage(infos[::-1], page.next_cursor)

    async def submit_batch(self, batch: PreparedBatch) -> str:
        with self._named():
            return await super().submit_batch(batch)

    async def cancel_batch(self, batch_id: str) -> None:
        with self._named():
            await super().cancel_batch(batch_id)

    async def iter_result_records(
        self, info: BatchInfo, context: dict[str, Any]
    ) -> AsyncIterator[ResultRecord]:
        with self._named():
            async for record in super().iter_result_records(info, context):
                yield self._groq_record(record)

    def _groq_record(self, record: ResultRecord) -> ResultRecord:
        output = record.output
        if output.error is not None:
            output.error = output.error.model_copy(update={"provider": self.name})
            return record
        body = output.raw or {}
        choices = body.get("choices") or [{}]
        message = choices[0].get("message") if isinstance(choices[0], dict) else None
        reasoning = message.get("reasoning") if isinstance(message, dict) else None
        if isinstance(reasoning, str) and reasoning:
            output.outputs.insert(0, ThinkingOutput(text=reasoning))
        x_groq = body.get("x_groq")
        if isinstance(x_groq, dict) and x_groq.get("id"):
            output.finish_details["groq_request_id"] = x_groq["id"]
        usage = body.get("usage") or {}
        timings = {name: usage[name] for name in TIMINGS if isinstance(usage.get(name), float)}
        if timings:
            output.finish_details["timings"] = timings
        return record
