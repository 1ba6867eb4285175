"""``TogetherBatchOperations``: lmbatch's contract on the Together AI Batch API.

Together speaks a variant of the OpenAI batch protocol, through its own SDK (``together``,
imported on first use):

* input lines are ``{"custom_id", "body"}`` (no ``method``/``url``); a custom id is at
  most 64 characters; bodies are Chat Completions bodies with ``max_tokens`` (not
  ``max_completion_tokens``);
* the input file is uploaded with purpose ``batch-api`` (the SDK's signed-URL upload);
* ``POST /v1/batches`` takes ``model_id`` and ``priority`` and answers
  ``{"job": {...}, "warning": ...}``;
* statuses are upper case, with a ``progress`` percentage instead of request counts
  (see :mod:`lmbatch_together._status`); listing is one unpaginated array.

Results are OpenAI-shaped output and error files, decoded as Chat Completions.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar

from lmbatch.provider import (
    BatchInfo,
    BatchOperations,
    BatchPage,
    Hyperparameters,
    Message,
    MissingCredentialsError,
    PreparedBatch,
    ProviderConnectionError,
    ProviderError,
    ProviderLimits,
    ResultRecord,
    SubmissionUncertainError,
    ValidationError,
)
from lmbatch_together._errors import PROVIDER, map_api_error, mapped_errors
from lmbatch_together._openai_shapes import (
    RESERVED_BODY_KEYS,
    check_schema,
    decode_line,
    encode_chat_body,
    validate_chat_request,
)
from lmbatch_together._settings import API_KEY_ENV, TogetherSettings
from lmbatch_together._status import job_info

if TYPE_CHECKING:
    import together

__all__ = ["TogetherBatchOperations"]

logger = logging.getLogger("lmbatch.together")

#: Request body fields of Together's Chat Completions (``together`` SDK
#: ``types/chat/completion_create_params.py``), less those lmbatch sets.
REQUEST_FIELDS = frozenset(
    {
        "chat_template_kwargs",
        "compliance",
        "context_length_exceeded_behavior",
        "echo",
        "frequency_penalty",
        "function_call",
        "logit_bias",
        "logprobs",
        "max_tokens",
        "min_p",
        "n",
        "presence_penalty",
        "reasoning",
        "reasoning_effort",
        "repetition_penalty",
        "response_format",
        "safety_model",
        "seed",
        "stop",
        "temperature",
        "tool_choice",
        "tools",
        "top_k",
        "top_p",
    }
)


class TogetherBatchOperations(BatchOperations):
    """Batches on the Together AI Batch API (provider name ``together``).

    Example::

        ops = lmbatch.get_batch_operations("together", model="Qwen/Qwen3-235B-A22B-fp8-tput")
        results = await ops.invoke({"q": "Hello"}, {"max_tokens": 50})

    Options are those of :class:`~lmbatch_together.TogetherSettings`.
    """

    name = "together"
    settings_class = TogetherSettings
    marks_create_start = True
    limits = ProviderLimits(
        max_requests_per_batch=50_000,
        max_bytes_per_batch=100 * 1024 * 1024,
        custom_id_max_length=64,
    )
    #: Together discounts batches on some models only: 0 never under-estimates a cost.
    batch_discount: ClassVar[float] = 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assert isinstance(self.settings, TogetherSettings)
        self.together_settings: TogetherSettings = self.settings
        self._client_instance: together.AsyncTogether | None = None

    # -------------------------------------------------------------------- client

    def _api_key(self) -> str:
        import os

        key = self.together_settings.api_key
        if key is not None and key.get_secret_value():
            return key.get_secret_value()
        from_env = os.environ.get(API_KEY_ENV)
        if from_env:
            return from_env
        raise MissingCredentialsError(
            f"the together provider needs an API key: set {API_KEY_ENV} in the environment",
            env_var=API_KEY_ENV,
        )

    def check_ready(self) -> None:
        self._api_key()
        super().check_ready()

    def _client(self) -> together.AsyncTogether:
        if self._client_instance is None:
            import together

            settings = self.together_settings
            self._client_instance = together.AsyncTogether(
                api_key=self._api_key(),
                base_url=settings.base_url,
                max_retries=settings.max_retries,
                timeout=settings.timeout,
            )
        return self._client_instance

    async def aclose(self) -> None:
        """Close the HTTP client."""
        client, self._client_instance = self._client_instance, None
        if client is not None:
            await client.close()

    # ------------------------------------------------------------------ encoding

    def request_fields(self) -> tuple[str, frozenset[str]]:
        return "Together /v1/chat/completions", REQUEST_FIELDS

    def validate_hyperparameters(self, params: Hyperparameters) -> None:
        check_schema(params)
        reserved = RESERVED_BODY_KEYS & set(params.extra)
        if reserved:
            raise ValidationError(
                f"hyperparameters {sorted(reserved)} are set by lmbatch and cannot be "
                "passed through"
            )

    def validate_request(self, key: str, messages: list[Message], params: Hyperparameters) -> None:
        validate_chat_request(key, messages)

    def encode_request(
        self, custom_id: str, messages: list[Message], params: Hyperparameters
    ) -> dict[str, Any]:
        model = self.settings.model
        assert model is not None  # checked by check_ready
        body = encode_chat_body(model, messages, params)
        if "max_completion_tokens" in body:  # Together names it max_tokens
            body["max_tokens"] = body.pop("max_completion_tokens")
        return {"custom_id": custom_id, "body": body}

    # ---------------------------------------------------------------- submission

    async def submit_batch(self, batch: PreparedBatch) -> str:
        import together

        settings = self.together_settings
        client = self._client()
        with mapped_errors("upload of the batch input file", reads=False):
            uploaded = await client.files.upload(file=batch.path, purpose="batch-api", check=False)
        extra: dict[str, Any] = {"model_id": settings.model}
        if settings.priority is not None:
            extra["priority"] = settings.priority
        self.create_started(batch)
        try:
            # Never retried: a repeated create may make (and bill) a second batch.
            created = await client.with_options(max_retries=0).batches.create(
                endpoint=settings.endpoint, input_file_id=uploaded.id, **extra
            )
        except together.APIError as exc:
            raise await self._create_failure(exc, batch, uploaded.id) from exc
        job = getattr(created, "job", None)
        batch_id = getattr(job, "id", None)
        if not isinstance(batch_id, str) or not batch_id:
            raise self._uncertain(batch, uploaded.id, "answered without a job id")
        warning = getattr(created, "warning", None)
        if warning:
            logger.warning("Together batch %s: %s", batch_id, warning)
        return batch_id

    def _uncertain(
        self, batch: PreparedBatch, file_id: str, why: str, mapped: ProviderError | None = None
    ) -> SubmissionUncertainError:
        return SubmissionUncertainError(
            f"Together batch creation for chunk {batch.chunk_index} of job {batch.job_id} "
            f"{why}; the batch may or may not exist and the call was not retried. Input "
            f"file {file_id} was uploaded.",
            details={
                "input_file_id": file_id,
                "job_id": batch.job_id,
                "chunk": str(batch.chunk_index),
            },
            provider=PROVIDER,
            status_code=mapped.status_code if mapped else None,
            request_id=mapped.request_id if mapped else None,
            code=mapped.code if mapped else None,
        )

    async def _create_failure(
        self, exc: together.APIError, batch: PreparedBatch, file_id: str
    ) -> ProviderError:
        import together

        mapped = map_api_error(exc, "batch creation", reads=False)
        if isinstance(exc, together.APIStatusError) and exc.status_code < 500:
            await self._delete_file_quietly(file_id)  # refused: no batch, the file is useless
            return mapped
        return self._uncertain(batch, file_id, f"failed ({exc.message})", mapped)

    async def vendor_date(self) -> str | None:
        with mapped_errors("listing batches"):
            raw = await self._client().batches.with_raw_response.list()
        date = raw.headers.get("date")
        return str(date) if date else None

    # ------------------------------------------------------------------- reading

    async def fetch_batch(self, batch_id: str) -> BatchInfo:
        with mapped_errors(f"status check of batch {batch_id}"):
            job = await self._client().batches.retrieve(batch_id)
        return job_info(job.model_dump(mode="json", by_alias=True), PROVIDER)

    async def iter_result_records(
        self, info: BatchInfo, context: dict[str, Any]
    ) -> AsyncIterator[ResultRecord]:
        raw = info["raw"]
        structured = context.get("response_schema") is not None
        for file_id in (raw.get("output_file_id"), raw.get("error_file_id")):
            if file_id:
                async for line in self._file_lines(str(file_id)):
                    if line.strip():
                        yield self._decoded(line, structured)

    def _decoded(self, line: str, structured: bool) -> ResultRecord:
        record = decode_line(line, self.together_settings.endpoint, structured)
        error = record.output.error
        if error is not None and error.provider != PROVIDER:  # the shared decoder's name
            record.output.error = error.model_copy(update={"provider": PROVIDER})
        return record

    async def _file_lines(self, file_id: str) -> AsyncIterator[str]:
        """Stream a result file line by line (never held in memory whole)."""
        import httpx

        with mapped_errors(f"download of result file {file_id}"):
            async with self._client().files.with_streaming_response.content(file_id) as response:
                try:
                    async for line in response.iter_lines():
                        yield line
                except httpx.TransportError as exc:
                    raise ProviderConnectionError(
                        f"result file {file_id} stopped streaming: {exc}", provider=PROVIDER
                    ) from exc

    async def after_results(self, info: BatchInfo, context: dict[str, Any]) -> None:
        input_file_id = info["raw"].get("input_file_id")
        if self.together_settings.delete_input_file and input_file_id:
            await self._delete_file_quietly(str(input_file_id))

    async def _delete_file_quietly(self, file_id: str) -> None:
        try:
            with mapped_errors(f"deletion of file {file_id}"):
                await self._client().files.delete(file_id)
        except ProviderError as exc:
            if exc.status_code != 404:
                logger.warning("could not delete Together file %s: %s", file_id, exc)

    async def list_batches_page(self, cursor: str | None) -> BatchPage:
        # One unpaginated array, in no promised order: newest first here, as core expects.
        with mapped_errors("listing batches"):
            jobs = await self._client().batches.list()
        infos = [job_info(job.model_dump(mode="json", by_alias=True), PROVIDER) for job in jobs]
        infos.sort(key=lambda i: i["created_at"].timestamp() if i["created_at"] else 0.0)
        return BatchPage(infos[::-1], None)

    async def cancel_batch(self, batch_id: str) -> None:
        with mapped_errors(f"cancelling batch {batch_id}"):
            await self._client().batches.cancel(batch_id)
