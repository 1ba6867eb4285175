"""``OpenAICompatibleBatchOperations``: any vendor that speaks the OpenAI Batch protocol.

The protocol: upload a JSONL file (``POST /files``, ``purpose=batch``), create a batch on
it (``POST /batches``), poll it (``GET /batches/{id}``), read its output and error files
(``GET /files/{id}/content``), list (``GET /batches``) and cancel. The provider only
translates; core does validation, splitting, the job store, polling and outcome
bookkeeping. The ``openai`` SDK is imported when a client is first needed, never at
import time.

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
from contextlib import AbstractContextManager
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, cast, get_args

from lmbatch.provider import (
    BatchInfo,
    BatchOperations,
    BatchPage,
    ConnectionOption,
    Hyperparameters,
    Message,
    PreparedBatch,
    ProviderConnectionError,
    ProviderError,
    ProviderSettings,
    ResultRecord,
    Store,
    create_failure,
    create_uncertain,
)
from lmbatch_openai._decoding import decode_record
from lmbatch_openai._encoding_chat import encode_chat_body, validate_chat_request
from lmbatch_openai._encoding_responses import (
    encode_responses_body,
    validate_responses_hyperparameters,
    validate_responses_request,
)
from lmbatch_openai._encoding_shared import check_hyperparameters
from lmbatch_openai._errors import mapped_errors
from lmbatch_openai._request_fields import REQUEST_FIELDS
from lmbatch_openai._settings import OpenAICompatibleSettings
from lmbatch_openai._status import batch_info

if TYPE_CHECKING:
    import os

    import openai

__all__ = [
    "CHAT_ENDPOINT",
    "RESPONSES_ENDPOINT",
    "TRANSIENT_ERROR_CODES",
    "OpenAICompatibleBatchOperations",
]

logger = logging.getLogger("lmbatch.openai")

CHAT_ENDPOINT = "/v1/chat/completions"
RESPONSES_ENDPOINT = "/v1/responses"
#: Every endpoint lmbatch encodes and decodes.
KNOWN_ENDPOINTS = (RESPONSES_ENDPOINT, CHAT_ENDPOINT)
#: Error codes of the OpenAI protocol family that mean "try again later" (a rate limit,
#: a server error, a full batch queue); statuses 408/409/429/5xx are transient anyway.
TRANSIENT_ERROR_CODES = frozenset(
    {
        "rate_limit_exceeded",
        "rate_limit_error",
        "overloaded_error",
        "api_error",
        "server_error",
        "internal_error",
        "timeout_error",
        "token_limit_exceeded",
    }
)


class OpenAICompatibleBatchOperations(BatchOperations):
    """Batches on any vendor that speaks the OpenAI Files + Batches protocol.

    A vendor is a small subclass that *declares* what differs; everything else
    (encoding for ``/v1/responses`` and ``/v1/chat/completions``, upload, create, the
    "may have been created" uncertainty, status, result files, list, cancel, clean-up)
    is inherited. For example, a complete provider::

        from lmbatch.provider import ProviderLimits
        from lmbatch_openai import OpenAICompatibleBatchOperations


        class AcmeBatchOperations(OpenAICompatibleBatchOperations):
            \"\"\"Acme batches (provider name ``acme``).\"\"\"

            name = "acme"
            api_key_env = ("ACME_API_KEY",)  # several: tried in order
            default_base_url = "https://api.acme.example/v1"
            base_url_env = "ACME_BASE_URL"
            endpoints = ("/v1/chat/completions",)  # the first is the default
            limits = ProviderLimits(max_requests_per_batch=50_000,
                                    max_bytes_per_batch=100 * 1024 * 1024)
            batch_discount = 0.5  # what the vendor's batch price takes off (default 0)

    Register it like any provider (``register(AcmeBatchOperations)`` in a
    ``lmbatch_register_providers`` hook). Its settings class is derived from
    :class:`~lmbatch_openai.OpenAICompatibleSettings` to match the declarations
    (``AcmeSettings``: ``base_url`` defaults to ``$ACME_BASE_URL``, else the default
    base URL; ``endpoint`` is one of ``endpoints``); give ``settings_class`` to add
    vendor options (subclass ``OpenAICompatibleSettings``). The key is the ``api_key``
    option, else the first of ``api_key_env`` set (never ``OPENAI_API_KEY``), and a
    missing key is refused before anything is recorded.

    Class attributes a vendor may declare, besides those of :class:`BatchOperations`
    (``name``, ``api_key_env``, ``default_base_url``, ``base_url_env``, ``limits``,
    ``batch_discount``, ``completion_window``, ``stamps_batch_metadata`` when the vendor
    keeps batch metadata, ``checks_model_names``, ``supported_methods`` without
    ``list``/``cancel`` when it lacks them...):

    Attributes:
        endpoints: The endpoints the vendor's batches take, the default first (a subset
            of ``/v1/responses`` and ``/v1/chat/completions``).
        transient_error_codes: Error codes (of result lines and failed batches) that
            mean "try again later": such requests are resubmitted by ``invoke``.
        list_page_size: Batches asked for per list page.

    Override :meth:`client_options` to pass the SDK client vendor headers, and
    :meth:`upload_options` to pass the input file's upload more arguments. A vendor with
    its own Stainless-generated SDK (the resources, exceptions and streamed responses of
    ``openai``'s, e.g. ``together``) overrides :meth:`new_client`, :meth:`sdk` and
    :meth:`stream_errors` to make every inherited call through it.

    Raises:
        MissingCredentialsError: A submission without ``api_key`` or a key variable.
    """

    settings_class: ClassVar[type[ProviderSettings]] = OpenAICompatibleSettings
    endpoints: ClassVar[tuple[str, ...]] = KNOWN_ENDPOINTS
    transient_error_codes: ClassVar[frozenset[str]] = TRANSIENT_ERROR_CODES
    #: The OpenAI protocol fails a batch over the enqueued-token limit, unrun, with this.
    queue_full_codes: ClassVar[frozenset[str]] = frozenset({"token_limit_exceeded"})
    marks_create_start = True
    #: Batches asked for per list page (OpenAI allows 1..100).
    list_page_size: ClassVar[int] = 100

    def __init_subclass__(cls, **kwargs: Any) -> None:
        unknown = set(cls.endpoints) - set(KNOWN_ENDPOINTS)
        if unknown or not cls.endpoints:
            raise TypeError(
                f"{cls.__name__}.endpoints must be some of {KNOWN_ENDPOINTS}, not {cls.endpoints}"
            )
        super().__init_subclass__(**kwargs)

    @classmethod
    def settings_overrides(cls) -> dict[str, tuple[Any, Any]]:
        """Core's, plus ``endpoint`` restricted to ``endpoints`` (the first by default)."""
        fields = super().settings_overrides()
        field = cls.settings_class.model_fields.get("endpoint")
        if field is None:
            return fields
        if set(get_args(field.annotation)) != set(cls.endpoints) or (
            field.default != cls.endpoints[0]
        ):
            allowed = cast(Any, Literal).__getitem__(cls.endpoints)
            fields["endpoint"] = (Annotated[allowed, ConnectionOption()], cls.endpoints[0])
        return fields

    def __init__(
        self,
        settings: ProviderSettings | None = None,
        *,
        store: Store | str | os.PathLike[str] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(settings, store=store, **options)
        assert isinstance(self.settings, OpenAICompatibleSettings)
        self.openai_settings: OpenAICompatibleSettings = self.settings
        self._client_instance: openai.AsyncOpenAI | None = None

    # -------------------------------------------------------------------- client

    def client_options(self) -> dict[str, Any]:
        """Extra keyword arguments of the ``openai.AsyncOpenAI`` client.

        The default keeps OpenAI's own account headers (which the SDK would take from
        ``OPENAI_ORG_ID``/``OPENAI_PROJECT_ID``) away from another vendor.
        """
        import openai

        return {
            "default_headers": {
                "OpenAI-Organization": openai.Omit(),
                "OpenAI-Project": openai.Omit(),
            }
        }

    def upload_options(self) -> dict[str, Any]:
        """Extra keyword arguments of the input file's upload (``files.create``).

        None by default; e.g. ``{"expires_after": {"anchor": "created_at", "seconds": N}}``
        for a vendor that keeps more files when they expire.
        """
        return {}

    def new_client(self) -> Any:
        """The SDK client every call goes through (built once, on first use).

        ``openai.AsyncOpenAI`` with :meth:`client_options` by default.
        """
        import openai

        settings = self.openai_settings
        return openai.AsyncOpenAI(
            api_key=self.api_key(),
            base_url=self.base_url(),
            max_retries=settings.max_retries,
            timeout=settings.timeout,
            **self.client_options(),
        )

    def sdk(self) -> ModuleType:
        """The SDK package of :meth:`new_client`'s client: its ``APIError`` family
        becomes lmbatch errors (``openai`` by default)."""
        import openai

        return openai

    def stream_errors(self) -> tuple[type[Exception], ...]:
        """What the client's HTTP library raises when a result download breaks off
        (transient: core reads the file again)."""
        import httpx2

        return (httpx2.TransportError,)

    def _client(self) -> openai.AsyncOpenAI:
        if self._client_instance is None:
            self._client_instance = self.new_client()
        return self._client_instance

    def _errors(self, action: str, *, names_batch: bool = True) -> AbstractContextManager[None]:
        """SDK exceptions in the block leave as lmbatch errors of this provider.

        ``names_batch=False`` for calls that name no batch (upload, create): a 404 there
        is a wrong base URL.
        """
        return mapped_errors(
            action,
            provider=self.name,
            base_url=None if names_batch else str(self._client().base_url),
            base_url_env=self.base_url_env,
            sdk=self.sdk(),
        )

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
        return f"{self.name} {self.endpoint}", REQUEST_FIELDS[self.endpoint]

    def validate_hyperparameters(self, params: Hyperparameters) -> None:
        check_hyperparameters(params)
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

    # ---------------------------------------------------------------- submission

    async def submit_batch(self, batch: PreparedBatch) -> str:

        settings = self.openai_settings
        # Never retried: a repeated create may make (and bill) a second batch.
        client = self._client().with_options(max_retries=0)
        endpoint = str(batch.context.get("endpoint") or self.endpoint)
        filename = f"lmbatch-{batch.job_id}-{batch.chunk_index}.jsonl"
        # A 404 below names no batch: the endpoint is not at this base URL.
        upload = self._errors("upload of the batch input file", names_batch=False)
        with upload, batch.path.open("rb") as handle:
            uploaded = await client.files.create(
                file=(filename, handle, "application/jsonl"),
                purpose="batch",
                **self.upload_options(),
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
        details = {"input_file_id": uploaded.id}
        try:
            with self._errors("batch creation", names_batch=False):
                created = await client.batches.create(
                    input_file_id=uploaded.id,
                    endpoint=endpoint,  # type: ignore[arg-type]
                    completion_window=settings.completion_window,
                    metadata={**settings.metadata, **batch.metadata},
                    **extra,
                )
        except ProviderError as exc:
            failure = create_failure(batch, exc, provider=self.name, details=details)
            if failure is exc:
                # The vendor refused: no batch exists, the uploaded file is useless.
                await self._delete_file_quietly(uploaded.id)
            raise failure from (exc.__cause__ or exc)
        # The SDK hands over a non-JSON body as text, and a JSON body without an id as a
        # Batch whose id is None: either way the batch may exist, and its id is unknown.
        batch_id = getattr(created, "id", None)
        if not isinstance(batch_id, str) or not batch_id:
            raise create_uncertain(
                batch, "answered without a batch id", provider=self.name, details=details
            )
        return batch_id

    async def vendor_date(self) -> str | None:
        with self._errors("listing batches"):
            raw = await self._client().batches.with_raw_response.list(limit=1)
        return raw.headers.get("date")

    # ------------------------------------------------------------------- reading

    async def fetch_batch(self, batch_id: str) -> BatchInfo:
        with self._errors(f"status check of batch {batch_id}"):
            batch = await self._client().batches.retrieve(batch_id)
        return self._batch_info(batch.model_dump(mode="json"))

    def _batch_info(self, raw: dict[str, Any]) -> BatchInfo:
        return batch_info(raw, self.name, self.transient_error_codes)

    def result_context(self, info: BatchInfo, context: dict[str, Any]) -> dict[str, Any]:
        if context.get("endpoint"):
            return context
        # A batch lmbatch did not record: the vendor says which endpoint it used.
        return {**context, "endpoint": info["raw"].get("endpoint") or self.endpoint}

    async def iter_result_lines(
        self, info: BatchInfo, context: dict[str, Any]
    ) -> AsyncIterator[str]:
        raw = info["raw"]
        # Both files: expired, cancelled and even completed batches split their lines.
        for file_id in (raw.get("output_file_id"), raw.get("error_file_id")):
            if file_id:
                async for line in self._file_lines(str(file_id)):
                    yield line

    def decode_record(self, record: dict[str, Any], context: dict[str, Any]) -> ResultRecord:
        return decode_record(
            record,
            context.get("endpoint") or self.endpoint,
            context.get("response_schema") is not None,
            self.name,
            self.transient_error_codes,
        )

    async def _file_lines(self, file_id: str) -> AsyncIterator[str]:
        """Stream a result file line by line (never held in memory whole)."""
        with self._errors(f"download of result file {file_id}"):
            # The SDK asks for application/binary only; the spec declares the content as
            # application/json, so also accept anything: the body is read as raw lines.
            async with self._client().files.with_streaming_response.content(
                file_id, extra_headers={"Accept": "application/binary, */*"}
            ) as response:
                try:
                    async for line in response.iter_lines():
                        yield line
                except self.stream_errors() as exc:
                    # A connection lost mid-body: transient, core reads the file again.
                    raise ProviderConnectionError(
                        f"result file {file_id} stopped streaming: {exc}", provider=self.name
                    ) from exc

    async def after_results(self, info: BatchInfo, context: dict[str, Any]) -> None:
        input_file_id = info["raw"].get("input_file_id")
        if self.openai_settings.delete_input_file and input_file_id:
            await self._delete_file_quietly(str(input_file_id))

    async def _delete_file_quietly(self, file_id: str) -> None:
        """Delete an uploaded file; a failure is logged, never raised (results matter more)."""
        try:
            with self._errors(f"deletion of file {file_id}"):
                await self._client().files.delete(file_id)
        except ProviderError as exc:
            if exc.status_code != 404:
                logger.warning("could not delete %s file %s: %s", self.name, file_id, exc)

    async def list_batches_page(self, cursor: str | None) -> BatchPage:
        with self._errors("listing batches"):
            if cursor is None:
                page = await self._client().batches.list(limit=self.list_page_size)
            else:
                page = await self._client().batches.list(limit=self.list_page_size, after=cursor)
        infos = [self._batch_info(item.model_dump(mode="json")) for item in page.data]
        more = bool(getattr(page, "has_more", False)) and bool(infos)
        return BatchPage(infos, infos[-1]["id"] if more else None)

    async def cancel_batch(self, batch_id: str) -> None:
        with self._errors(f"cancelling batch {batch_id}"):
            await self._client().batches.cancel(batch_id)
