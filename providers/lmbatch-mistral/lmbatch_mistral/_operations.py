"""``MistralBatchOperations``: Mistral's Batch API behind lmbatch's contract.

Wire translation only: request bodies are OpenAI chat completions (``lmbatch_openai``'s
codec, with ``random_seed`` and ``document_url``), status and result lines in
:mod:`._status`, errors in :mod:`._errors`. The official ``mistralai`` SDK serves every
call (``batch.jobs.create/get/list/cancel``, ``files.upload/download/delete``); it is
imported lazily, and no call is retried by the SDK (the create must never be; reads are
retried by core's polling).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, ClassVar, Final

from lmbatch_openai import (
    chat_attachment,
    encode_chat_body,
    validate_chat_hyperparameters,
    validate_chat_request,
)

from lmbatch.provider import (
    Attachment,
    BatchInfo,
    BatchOperations,
    BatchPage,
    ConfigError,
    Hyperparameters,
    Message,
    PreparedBatch,
    ProviderConnectionError,
    ProviderError,
    ProviderLimits,
    ProviderSettings,
    ResultRecord,
    create_failure,
)
from lmbatch_mistral._errors import mapped_errors
from lmbatch_mistral._settings import (
    API_KEY_ENV,
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    MistralSettings,
)
from lmbatch_mistral._status import batch_info, decode_record

if TYPE_CHECKING:
    from mistralai.client import Mistral

__all__ = ["MistralBatchOperations"]

ENDPOINT: Final = "/v1/chat/completions"
#: The chat body's documented fields (the SDK's ``ChatCompletionRequest``).
REQUEST_FIELDS = frozenset(
    {
        "frequency_penalty", "guardrails", "logprobs", "max_tokens", "messages", "metadata",
        "min_tokens", "model", "n", "parallel_tool_calls", "prediction", "presence_penalty",
        "prompt_cache_key", "prompt_logprobs", "prompt_mode", "random_seed",
        "reasoning_effort", "repetition_penalty", "response_format", "safe_prompt",
        "service_tier", "stop", "temperature", "tool_choice", "tools", "top_k",
        "top_logprobs", "top_p", "top_prompt_logprobs",
    }
)  # fmt: skip


class MistralBatchOperations(BatchOperations):
    """Batch jobs on Mistral's Batch API (provider name ``mistral``).

    Options are those of :class:`~lmbatch_mistral.MistralSettings`.
    """

    name: ClassVar[str] = "mistral"
    settings_class: ClassVar[type[ProviderSettings]] = MistralSettings
    api_key_env: ClassVar[tuple[str, ...]] = (API_KEY_ENV,)
    default_base_url: ClassVar[str | None] = DEFAULT_BASE_URL
    base_url_env: ClassVar[str | None] = BASE_URL_ENV
    #: Up to 1,000,000 requests per job (Mistral's docs); the upload is at most 512 MB.
    limits = ProviderLimits(max_requests_per_batch=1_000_000, max_bytes_per_batch=512 * 1024**2)
    marks_create_start: ClassVar[bool] = True
    batch_discount: ClassVar[float] = 0.5
    #: Jobs carry lmbatch's job id and chunk in ``metadata``, listed back.
    stamps_batch_metadata: ClassVar[bool] = True
    #: ``timeout_hours`` is per job and not reported back: waits are bounded by the
    #: caller's timeout, and the vendor ends a late job as ``TIMEOUT_EXCEEDED``.
    completion_window: ClassVar[float | None] = None
    #: Mistral writes no line for a request a cancelled or timed-out job never ran: core
    #: reports it ``cancelled`` / ``expired`` by the job's end.
    result_line_states: ClassVar[frozenset[str]] = frozenset({"succeeded", "errored"})

    def __init__(
        self, settings: ProviderSettings | None = None, *, store: Any = None, **options: Any
    ) -> None:
        super().__init__(settings, store=store, **options)
        assert isinstance(self.settings, MistralSettings)
        self.mistral_settings: MistralSettings = self.settings
        self._client: Mistral | None = None

    # ------------------------------------------------------------------ the client

    @property
    def client(self) -> Mistral:
        """The SDK client, built on first use (no SDK retries)."""
        if self._client is None:
            try:
                from mistralai.client import Mistral
            except ImportError as exc:  # pragma: no cover - a declared dependency
                raise ConfigError("the mistral provider needs `pip install mistralai`") from exc
            self._client = Mistral(
                api_key=self.api_key(),
                server_url=self._server_url(),
                timeout_ms=int(self.mistral_settings.timeout * 1000),
            )
        return self._client

    def _server_url(self) -> str:
        return str(self.base_url()).rstrip("/")

    def _errors(self, action: str, *, names_batch: bool = True) -> AbstractContextManager[None]:
        """SDK exceptions in the block leave as lmbatch errors (``names_batch=False``: a
        call that names no batch, where a 404 is a wrong base URL)."""
        base_url = None if names_batch else self._server_url()
        return mapped_errors(action, self.name, base_url, self.base_url_env)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        client, self._client = self._client, None
        if client is not None:
            # The SDK closes the HTTP client it made itself on exit.
            await client.__aexit__(None, None, None)  # type: ignore[no-untyped-call]

    # -------------------------------------------------------------------- encoding

    def request_fields(self) -> tuple[str, frozenset[str]]:
        return f"Mistral {ENDPOINT}", REQUEST_FIELDS

    def validate_hyperparameters(self, params: Hyperparameters) -> None:
        validate_chat_hyperparameters(params)

    def validate_request(self, key: str, messages: list[Message], params: Hyperparameters) -> None:
        validate_chat_request(key, messages, pdfs="url")  # document_url takes URLs only

    def encode_request(
        self, custom_id: str, messages: list[Message], params: Hyperparameters
    ) -> dict[str, Any]:
        model = self.settings.model
        assert model is not None  # checked by check_ready
        body = encode_chat_body(
            model,
            messages,
            params,
            max_tokens_field="max_tokens",
            seed_field="random_seed",
            attachment=_attachment,
        )
        return {"custom_id": custom_id, "body": body}

    # ------------------------------------------------------------------- lifecycle

    async def submit_batch(self, batch: PreparedBatch) -> str:
        settings = self.mistral_settings
        client = self.client
        details: dict[str, str] = {}
        source: dict[str, Any] = {}
        if settings.input == "inline":
            source["requests"] = list(batch.iter_records())
        else:
            name = f"lmbatch-{batch.job_id}-{batch.chunk_index}.jsonl"
            upload = self._errors("upload of the batch input file", names_batch=False)
            with upload, batch.path.open("rb") as fh:
                uploaded = await client.files.upload_async(
                    file={"file_name": name, "content": fh}, purpose="batch", retries=None
                )
            source["input_files"] = [uploaded.id]
            details["input_file_id"] = uploaded.id
        self.create_started(batch)
        try:
            with self._errors("batch job creation", names_batch=False):
                job = await client.batch.jobs.create_async(
                    endpoint=ENDPOINT,
                    model=settings.model,
                    metadata={**settings.metadata, **batch.metadata},
                    timeout_hours=settings.timeout_hours,
                    retries=None,
                    **source,
                )
        except ProviderError as exc:
            raise create_failure(batch, exc, provider=self.name, details=details) from exc
        return job.id

    async def fetch_batch(self, batch_id: str) -> BatchInfo:
        with self._errors(f"status check of batch job {batch_id}"):
            job = await self.client.batch.jobs.get_async(job_id=batch_id, retries=None)
        return batch_info(job.model_dump(mode="json", by_alias=True), self.name)

    async def iter_result_lines(
        self, info: BatchInfo, context: dict[str, Any]
    ) -> AsyncIterator[str]:
        # Both files: a finished job splits its lines between them.
        for file_id in (info["raw"].get("output_file"), info["raw"].get("error_file")):
            if file_id:
                async for line in self._file_lines(str(file_id)):
                    yield line

    def decode_record(self, record: dict[str, Any], context: dict[str, Any]) -> ResultRecord:
        return decode_record(record, context.get("response_schema") is not None, self.name)

    async def _file_lines(self, file_id: str) -> AsyncIterator[str]:
        """Stream a result file line by line (never held in memory whole)."""
        import httpx2

        with self._errors(f"download of result file {file_id}"):
            response = await self.client.files.download_async(file_id=file_id, retries=None)
        try:
            async for line in response.aiter_lines():
                yield line
        except httpx2.TransportError as exc:
            raise ProviderConnectionError(
                f"result file {file_id} stopped streaming: {exc}", provider=self.name
            ) from exc
        finally:
            await response.aclose()

    async def after_results(self, info: BatchInfo, context: dict[str, Any]) -> None:
        if not self.mistral_settings.delete_input_file:
            return
        for file_id in info["raw"].get("input_files") or []:
            try:
                with self._errors(f"deletion of file {file_id}"):
                    await self.client.files.delete_async(file_id=file_id, retries=None)
            except ProviderError as exc:
                if exc.status_code != 404:
                    raise

    async def list_batches_page(self, cursor: str | None) -> BatchPage:
        page, size = int(cursor or 0), self.mistral_settings.list_page_size
        with self._errors("listing batch jobs"):
            answer = await self.client.batch.jobs.list_async(
                page=page, page_size=size, order_by="-created", retries=None
            )
        infos = [
            batch_info(job.model_dump(mode="json", by_alias=True), self.name)
            for job in answer.data or []
        ]
        more = bool(infos) and (page + 1) * size < answer.total
        return BatchPage(infos, str(page + 1) if more else None)

    async def cancel_batch(self, batch_id: str) -> None:
        with self._errors(f"cancelling batch job {batch_id}"):
            await self.client.batch.jobs.cancel_async(job_id=batch_id, retries=None)


def _attachment(part: Attachment) -> dict[str, Any]:
    """Images as OpenAI's ``image_url``; PDFs as Mistral's ``document_url`` (by URL)."""
    if part.is_image:
        return chat_attachment(part)
    return {"type": "document_url", "document_url": part.url}
