"""``OpenAIBatchOperations``: lmbatch's contract on the OpenAI Batch API.

OpenAI is the reference vendor of the OpenAI-compatible protocol: everything but what is
OpenAI's own (its key and base URL, organization and project headers, prices, metadata,
the input-token count endpoint) is :class:`~lmbatch_openai.OpenAICompatibleBatchOperations`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from lmbatch.provider import (
    Hyperparameters,
    Message,
    ProviderLimits,
    ProviderSettings,
    QueueLimit,
    WebhookEvent,
    WebhookSignatureError,
)
from lmbatch_openai._compatible import RESPONSES_ENDPOINT, OpenAICompatibleBatchOperations
from lmbatch_openai._encoding_responses import encode_responses_body
from lmbatch_openai._settings import BASE_URL_ENV, DEFAULT_BASE_URL, OpenAISettings

__all__ = ["BATCH_EVENTS", "OpenAIBatchOperations"]

#: The batch events of OpenAI's webhooks (openai-python ``types/webhooks/batch_*``).
BATCH_EVENTS = frozenset({"batch.completed", "batch.failed", "batch.expired", "batch.cancelled"})

#: What ``POST /v1/responses/input_tokens`` takes of a Responses body.
COUNT_FIELDS = frozenset(
    {
        "conversation",
        "input",
        "instructions",
        "model",
        "parallel_tool_calls",
        "personality",
        "previous_response_id",
        "reasoning",
        "text",
        "tool_choice",
        "tools",
        "truncation",
    }
)


class OpenAIBatchOperations(OpenAICompatibleBatchOperations):
    """Batches on the OpenAI Batch API (provider name ``openai``).

    Example::

        ops = lmbatch.get_batch_operations("openai", model="gpt-4.1-mini")
        results = await ops.invoke({"q": "Hello"}, {"max_tokens": 50})

    Options are those of :class:`~lmbatch_openai.OpenAISettings`.

    Raises:
        MissingCredentialsError: A submission without ``api_key`` or ``OPENAI_API_KEY``.
    """

    name = "openai"
    settings_class: ClassVar[type[ProviderSettings]] = OpenAISettings
    api_key_env: ClassVar[tuple[str, ...]] = ("OPENAI_API_KEY",)
    default_base_url: ClassVar[str | None] = DEFAULT_BASE_URL
    base_url_env: ClassVar[str | None] = BASE_URL_ENV
    limits = ProviderLimits(max_requests_per_batch=50_000, max_bytes_per_batch=200 * 1024 * 1024)
    #: The batch queue limit ("enqueued tokens" per model) depends on the organisation's
    #: usage tier (2,000,000 tokens for gpt-4o-mini at tier 1, 15,000,000,000 at tier 5):
    #: set ``queue_limit_tokens`` from your Limits page. Embeddings models count requests,
    #: the same at every tier (help.openai.com, Batch API FAQ).
    queue_limits: ClassVar[Mapping[str, QueueLimit]] = {
        "text-embedding-*": QueueLimit(
            requests=1_000_000, source="help.openai.com Batch API FAQ (embeddings)"
        ),
    }
    #: The Batch API costs half the synchronous price, cached input included (the 50 %
    #: applies on top of the cached-input rate).
    batch_discount: ClassVar[float] = 0.5
    #: Batches carry the job id and chunk lmbatch stamps in ``metadata``.
    stamps_batch_metadata = True
    checks_model_names: ClassVar[bool] = True
    #: The secret of the project's webhook endpoint, as the openai SDK reads it.
    webhook_secret_env: ClassVar[str | None] = "OPENAI_WEBHOOK_SECRET"

    @classmethod
    def verify_webhook(
        cls, body: bytes, headers: Mapping[str, str], secret: str, *, tolerance: int = 300
    ) -> None:
        """Check a delivery with the openai SDK's own ``webhooks.verify_signature``."""
        import openai

        # A client only to reach the SDK's check: it makes no request.
        with openai.OpenAI(api_key="webhook-verification", webhook_secret=secret) as client:
            try:
                client.webhooks.verify_signature(body, dict(headers), tolerance=tolerance)
            except (openai.InvalidWebhookSignatureError, ValueError) as exc:
                raise WebhookSignatureError(f"webhook delivery refused: {exc}") from None

    @classmethod
    def parse_webhook_event(cls, event: Mapping[str, Any]) -> WebhookEvent | None:
        """``{type: "batch.completed", data: {id: "batch_..."}}`` → the batch event."""
        kind = event.get("type")
        data = event.get("data")
        if kind not in BATCH_EVENTS or not isinstance(data, dict):
            return None
        batch_id = data.get("id")
        if not isinstance(batch_id, str) or not batch_id:
            return None
        return WebhookEvent(batch_id=batch_id, event_type=str(kind))

    def client_options(self) -> dict[str, Any]:
        """The ``OpenAI-Organization`` and ``OpenAI-Project`` headers of the settings."""
        settings = self.settings
        assert isinstance(settings, OpenAISettings)
        # None: the SDK reads OPENAI_ORG_ID / OPENAI_PROJECT_ID, as the options document.
        return {"organization": settings.organization, "project": settings.project}

    async def count_input_tokens(
        self, messages: list[Message], params: Hyperparameters
    ) -> int | None:
        """``POST /v1/responses/input_tokens`` on the body the batch line would carry.

        OpenAI counts input tokens for the Responses API only: on Chat Completions this
        returns None (estimates count offline).
        """
        if self.endpoint != RESPONSES_ENDPOINT:
            return None
        model = self.settings.model
        assert model is not None  # checked by check_ready
        body = encode_responses_body(model, messages, params)
        # Output settings (max_output_tokens, temperature, ...) belong to the batch line
        # only: the count endpoint refuses parameters it does not take.
        fields = {name: value for name, value in body.items() if name in COUNT_FIELDS}
        client = self._client()
        with self._errors("input token count", names_batch=False):
            counted = await client.responses.input_tokens.count(**fields)
        return counted.input_tokens
