"""``OpenAIBatchOperations``: lmbatch's contract on the OpenAI Batch API.

The provider only translates; core does validation, splitting, the job store, polling and
outcome bookkeeping. The ``openai`` SDK is imported when a client is first needed, never
at import time.

Hyperparameters map per endpoint, see :mod:`lmbatch_openai._encoding_responses` and
:mod:`lmbatch_openai._encoding_chat`. In short:

==================  =====================  =========================
portable            ``/v1/responses``      ``/v1/chat/completions``
==================  =====================  =========================
``max_tokens``      ``max_output_tokens``  ``max_completion_tokens``
``temperature``     ``temperature``        ``temperature``
``top_p``           ``top_p``              ``top_p``
``stop``            refused                ``stop``
``seed``            refused                ``seed``
``response_schema`` ``text.format``        ``response_format``
                    (strict json_schema)   (strict json_schema)
``tools``           function tools         function tools
``tool_choice``     mode or named function mode or named function
other keys          passed through         passed through
==================  =====================  =========================

Submission is never retried: the upload and ``batches.create`` run with ``max_retries=0``,
and a ``batches.create`` that failed in a way that may have created the batch (5xx,
timeout, lost connection) raises :class:`~lmbatch.SubmissionUncertainError` with the
uploaded file id, so nothing is billed twice.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import SecretStr

from lmbatch.provider import (
    BatchInfo,
    BatchOperations,
    BatchPage,
    Hyperparameters,
    Message,
    PreparedBatch,
    ProviderConnectionError,
    ProviderError,
    ProviderLimits,
    ProviderSettings,
    ResultRecord,
    Store,
    SubmissionUncertainError,
    ValidationError,
)
from lmbatch_openai._decoding import decode_line
from lmbatch_openai._encoding_chat import encode_chat_body, validate_chat_request
from lmbatch_openai._encoding_responses import (
    encode_responses_body,
    validate_responses_hyperparameters,
    validate_responses_request,
)
from lmbatch_openai._encoding_shared import RESERVED_BODY_KEYS, check_schema
from lmbatch_openai._errors import PROVIDER, map_api_error, mapped_errors
from lmbatch_openai._request_fields import REQUEST_FIELDS
from lmbatch_openai._settings import OpenAISettings
from lmbatch_openai._status import batch_info

if TYPE_CHECKING:
    import os

    import openai

__all__ = ["OpenAIBatchOperations"]

logger = logging.getLogger("lmbatch.openai")

CHAT_ENDPOINT = "/v1/chat/completions"
RESPONSES_ENDPOINT = "/v1/responses"
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


class OpenAIBatchOperations(BatchOperations):
    """Batches on the OpenAI Batch API (provider name ``openai``).

    Example::

        ops = lmbatch.get_batch_operations("openai", model="gpt-4.1-mini")
        results = await ops.invoke({"q": "Hello"}, {"max_tokens": 50})

    Options are those of :class:`~lmbatch_openai.OpenAISettings`.

    Raises:
        MissingCredentialsError: No ``api_key`` and no ``OPENAI_API_KEY``.
    """

    name = "openai"
    settings_class = OpenAISettings
    marks_create_start = True
    limits = ProviderLimits(max_requests_per_batch=50_000, max_bytes_per_batch=200 * 1024 * 1024)
    #: The Batch API costs half the synchronous price, cached input included (the 50 %
    #: applies on top of the cached-input rate).
    batch_discount: ClassVar[float] = 0.5
    #: Batches carry the job id and chunk lmbatch stamps in ``metadata``.
    stamps_batch_metadata = True
    checks_model_names: ClassVar[bool] = True
    #: Batches asked for per list page (the vendor allows 1..100).
    list_page_size: ClassVar[int] = 100

    def __init__(
        self,
        settings: ProviderSettings | None = None,
        *,
        store: Store | str | os.PathLike[str] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(settings, store=store, **options)
        assert isinstance(self.settings, OpenAISettings)
        self.openai_settings: OpenAISettings = self.settings
        # Resolved now so a missing key is reported before any work is done.
        self._api_key = SecretStr(self.openai_settings.resolved_api_key())
        self._client_instance: openai.AsyncOpenAI | None = None

    # -------------------------------------------------------------------- client

    def _client(self) -> openai.AsyncOpenAI:
        if self._client_instance is None:
            import openai

            settings = self.openai_settings
            self._client_instance = openai.AsyncOpenAI(
                api_key=self._api_key.get_secret_value(),
                base_url=settings.resolved_base_url(),
                organization=settings.organization,
                project=settings.project,
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

    @property
    def endpoint(self) -> str:
        """The endpoint new batches use."""
        return self.openai_settings.endpoint

    def request_fields(self) -> tuple[str, frozenset[str]]:
        # From the vendored OpenAPI spec (generated: scripts/generate_openai_request_fields.py).
        return f"OpenAI {self.endpoint}", REQUEST_FIELDS[self.endpoint]

    def validate_hyperparameters(self, params: Hyperparameters) -> None:
        check_schema(params)
        reserved = RESERVED_BODY_KEYS & set(params.extra)
        if reserved:
            raise ValidationError(
                f"hyperparameters {sorted(reserved)} are set by lmbatch and cannot be "
                "passed through"
            )
        if self.endpoint == RESPONSES_ENDPOINT:
            validate_responses_hyperparameters(params)

    def validate_request(self, key: str, messages: list[Message], params: Hyperparameters) -> None:
        if self.endpoint == CHAT_ENDPOINT:
            validate_chat_request(key, messages)
        else:
            validate_responses_request(key, messages)

    def batch_context(self, params: Hyperparameters) -> dict[str, Any]:
        return {"endpoint": self.endpoint}

    def encode_request(
        self, custom_id: str, messages: list[Message], params: Hyperparameters
    ) -> dict[str, Any]:
        model = self.settings.model
        assert model is not None  # checked by check_ready
        if self.endpoint == CHAT_ENDPOINT:
            body = encode_chat_body(model, messages, params)
        else:
            body = encode_responses_body(model, messages, params)
        return {"custom_id": custom_id, "method": "POST", "url": self.endpoint, "body": body}

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
        with mapped_errors("input token count", base_url=str(client.base_url)):
            counted = await client.responses.input_tokens.count(**fields)
        return counted.input_tokens

    # ---------------------------------------------------------------- submission

    async def submit_batch(self, batch: PreparedBatch) -> str:
        import openai

        settings = self.openai_settings
        # Never retried: a repeated create may make (and bill) a second batch.
        client = self._client().with_options(max_retries=0)
        endpoint = str(batch.context.get("endpoint") or self.endpoint)
        filename = f"lmbatch-{batch.job_id}-{batch.chunk_index}.jsonl"
        base_url = str(client.base_url)  # a 404 below: the endpoint is not there
        upload = mapped_errors("upload of the batch input file", base_url=base_url)
        with upload, batch.path.open("rb") as handle:
            uploaded = await client.files.create(
                file=(filename, handle, "application/jsonl"), purpose="batch"
            )
        extra: dict[str, Any] = {}
        if settings.output_expires_after is not None:
            extra["output_expires_after"] = {
                "anchor": "created_at",
                "seconds": settings.output_expires_after,
            }
        # Up to here nothing can have made a batch; from here on, an interruption or an
        # unreadable answer leaves the chunk uncertain (core reconciles it).
        self.create_started(batch)
        try:
            created = await client.batches.create(
                input_file_id=uploaded.id,
                endpoint=endpoint,  # type: ignore[arg-type]
                completion_window=settings.completion_window,
                metadata={**settings.metadata, **batch.metadata},
                **extra,
            )
        except openai.APIError as exc:
            raise await self._create_failure(exc, batch, uploaded.id) from exc
        # The SDK hands over a non-JSON body as text, and a JSON body without an id as a
        # Batch whose id is None: either way the batch may exist, and its id is unknown.
        batch_id = getattr(created, "id", None)
        if not isinstance(batch_id, str) or not batch_id:
            raise SubmissionUncertainError(
                f"OpenAI batch creation for chunk {batch.chunk_index} of job {batch.job_id} "
                "answered without a batch id; the batch may or may not exist. Input file "
                f"{uploaded.id} was uploaded.",
                details={
                    "input_file_id": uploaded.id,
                    "job_id": batch.job_id,
                    "chunk": str(batch.chunk_index),
                },
                provider=PROVIDER,
            )
        return batch_id

    async def _create_failure(
        self, exc: openai.APIError, batch: PreparedBatch, input_file_id: str
    ) -> ProviderError:
        """The error to raise for a failed ``batches.create``."""
        import openai

        mapped = map_api_error(exc, "batch creation", base_url=str(self._client().base_url))
        definite = isinstance(exc, openai.APIStatusError) and exc.status_code < 500
        if definite:
            # The vendor refused: no batch exists, the uploaded file is useless.
            await self._delete_file_quietly(input_file_id)
            return mapped
        return SubmissionUncertainError(
            f"OpenAI batch creation for chunk {batch.chunk_index} of job {batch.job_id} "
            f"failed in a way that may have created the batch ({exc.message}); it was not "
            f"retried. Input file {input_file_id} was uploaded.",
            details={
                "input_file_id": input_file_id,
                "job_id": batch.job_id,
                "chunk": str(batch.chunk_index),
            },
            provider=PROVIDER,
            status_code=mapped.status_code,
            request_id=mapped.request_id,
            code=mapped.code,
        )

    async def vendor_date(self) -> str | None:
        with mapped_errors("listing batches"):
            raw = await self._client().batches.with_raw_response.list(limit=1)
        return raw.headers.get("date")

    # ------------------------------------------------------------------- reading

    async def fetch_batch(self, batch_id: str) -> BatchInfo:
        with mapped_errors(f"status check of batch {batch_id}"):
            batch = await self._client().batches.retrieve(batch_id)
        return batch_info(batch.model_dump(mode="json"), PROVIDER)

    async def iter_result_records(
        self, info: BatchInfo, context: dict[str, Any]
    ) -> AsyncIterator[ResultRecord]:
        raw = info["raw"]
        endpoint = str(context.get("endpoint") or raw.get("endpoint") or self.endpoint)
        structured = context.get("response_schema") is not None
        # Both files: expired, cancelled and even completed batches split their lines.
        for file_id in (raw.get("output_file_id"), raw.get("error_file_id")):
            if not file_id:
                continue
            async for line in self._file_lines(str(file_id)):
                if line.strip():
                    yield decode_line(line, endpoint, structured)

    async def _file_lines(self, file_id: str) -> AsyncIterator[str]:
        """Stream a result file line by line (never held in memory whole)."""
        import httpx2

        with mapped_errors(f"download of result file {file_id}"):
            # The SDK asks for application/binary only; the spec declares the content as
            # application/json, so also accept anything: the body is read as raw lines.
            async with self._client().files.with_streaming_response.content(
                file_id, extra_headers={"Accept": "application/binary, */*"}
            ) as response:
                try:
                    async for line in response.iter_lines():
                        yield line
                except httpx2.TransportError as exc:
                    # A connection lost mid-body: transient, core reads the file again.
                    raise ProviderConnectionError(
                        f"result file {file_id} stopped streaming: {exc}", provider=PROVIDER
                    ) from exc

    async def after_results(self, info: BatchInfo, context: dict[str, Any]) -> None:
        input_file_id = info["raw"].get("input_file_id")
        if self.openai_settings.delete_input_file and input_file_id:
            await self._delete_file_quietly(str(input_file_id))

    async def _delete_file_quietly(self, file_id: str) -> None:
        """Delete an uploaded file; a failure is logged, never raised (results matter more)."""
        try:
            with mapped_errors(f"deletion of file {file_id}"):
                await self._client().files.delete(file_id)
        except ProviderError as exc:
            if exc.status_code != 404:
                logger.warning("could not delete OpenAI file %s: %s", file_id, exc)

    async def list_batches_page(self, cursor: str | None) -> BatchPage:
        with mapped_errors("listing batches"):
            if cursor is None:
                page = await self._client().batches.list(limit=self.list_page_size)
            else:
                page = await self._client().batches.list(limit=self.list_page_size, after=cursor)
        infos = [batch_info(item.model_dump(mode="json"), PROVIDER) for item in page.data]
        more = bool(getattr(page, "has_more", False)) and bool(infos)
        return BatchPage(infos, infos[-1]["id"] if more else None)

    async def cancel_batch(self, batch_id: str) -> None:
        with mapped_errors(f"cancelling batch {batch_id}"):
            await self._client().batches.cancel(batch_id)
