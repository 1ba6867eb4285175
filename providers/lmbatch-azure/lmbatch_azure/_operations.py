"""``AzureBatchOperations``: lmbatch's contract on Azure OpenAI global batch deployments.

Azure speaks OpenAI's Files + Batches protocol, so this is the OpenAI provider with
Azure's declarations and differences:

* the API lives at ``{endpoint}/openai/v1/`` (GA) or ``{endpoint}/openai/...?api-version=``
  (classic, where the batch endpoint is ``/chat/completions``); the key goes in an
  ``api-key`` header, or an Entra ID token (``azure-identity``) as a bearer token;
* every line's ``model`` is the deployment name, the same on every line;
* uploads set ``expires_after`` (500 batch files per resource without it, 10,000 with);
  a file starting with a UTF-8 BOM is never sent (Azure fails it as "deployment not
  found");
* batches are not expired at 24 h (``expires_at`` is ignored: only the caller's timeout
  bounds a wait);
* the per-deployment enqueued-token quota: a create refused for it is a
  :class:`RateLimitError`; a batch failed for it (``token_limit_exceeded``) is resubmitted
  by ``invoke``, its requests' errors being transient.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from lmbatch_openai import OpenAIBatchOperations

from lmbatch.provider import (
    BatchInfo,
    BatchPage,
    Hyperparameters,
    Message,
    PreparedBatch,
    ProviderError,
    ProviderLimits,
    RateLimitError,
    ResultRecord,
    SubmissionUncertainError,
)
from lmbatch_azure._settings import AzureSettings

if TYPE_CHECKING:
    import openai

__all__ = ["AzureBatchOperations"]

logger = logging.getLogger("lmbatch.azure")

BOM = b"\xef\xbb\xbf"
#: Error codes of the per-deployment enqueued-token quota.
QUOTA_CODES = frozenset({"token_limit_exceeded"})
#: The Entra ID scope of Azure OpenAI.
ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"


class AzureBatchOperations(OpenAIBatchOperations):
    """Batches on Azure OpenAI global batch deployments (provider name ``azure``).

    Example::

        ops = lmbatch.get_batch_operations(
            "azure", model="gpt-4.1-mini", deployment="gpt-4-1-mini-batch"
        )

    Options are those of :class:`~lmbatch_azure.AzureSettings`.
    """

    name = "azure"
    settings_class = AzureSettings
    limits = ProviderLimits(max_requests_per_batch=100_000, max_bytes_per_batch=200 * 1024 * 1024)
    #: Azure does not expire batches after 24 h: waits are bounded by the caller only.
    completion_window: ClassVar[float | None] = None
    #: Not relied upon: an interrupted create is found by its results' request ids.
    stamps_batch_metadata = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assert isinstance(self.settings, AzureSettings)
        self.azure: AzureSettings = self.settings
        if not self.azure.base_url:
            self.azure.resource_endpoint()  # no endpoint: refused now, before any work

    # -------------------------------------------------------------------- client

    def _client(self) -> openai.AsyncOpenAI:
        if self._client_instance is None:
            import openai

            settings = self.azure
            key = self._api_key.get_secret_value()
            common: dict[str, Any] = {
                "max_retries": settings.max_retries,
                "timeout": settings.timeout,
            }
            if settings.api_version and not settings.base_url:
                credential: dict[str, Any] = (
                    {"api_key": key} if key else {"azure_ad_token_provider": _entra_token()}
                )
                self._client_instance = openai.AsyncAzureOpenAI(
                    azure_endpoint=settings.resource_endpoint(),
                    api_version=settings.api_version,
                    **credential,
                    **common,
                )
            else:
                self._client_instance = openai.AsyncOpenAI(
                    api_key=key or _entra_token(),
                    base_url=settings.resolved_base_url(),
                    default_headers={"api-key": key} if key else None,
                    default_query={"api-version": settings.api_version}
                    if settings.api_version
                    else None,
                    **common,
                )
        return self._client_instance

    # ------------------------------------------------------------------ encoding

    @property
    def endpoint(self) -> str:
        """The endpoint new batches use (OpenAI's name for it)."""
        return self.azure.batch_endpoint

    def _wire_endpoint(self) -> str:
        """The endpoint as this API surface names it (no ``/v1`` on the classic API)."""
        classic = self.azure.api_version and not self.azure.base_url
        return self.endpoint.removeprefix("/v1") if classic else self.endpoint

    def batch_context(self, params: Hyperparameters) -> dict[str, Any]:
        return {"endpoint": self._wire_endpoint()}

    def encode_request(
        self, custom_id: str, messages: list[Message], params: Hyperparameters
    ) -> dict[str, Any]:
        line = super().encode_request(custom_id, messages, params)
        line["url"] = self._wire_endpoint()
        line["body"]["model"] = self.azure.deployment or self.azure.model
        return line

    # ---------------------------------------------------------------- submission

    async def submit_batch(self, batch: PreparedBatch) -> str:
        import openai
        from lmbatch_openai._errors import map_api_error

        settings = self.azure
        client = self._client().with_options(max_retries=0)
        filename = f"lmbatch-{batch.job_id}-{batch.chunk_index}.jsonl"
        expiry = {"anchor": "created_at", "seconds": settings.input_file_expires_after}
        with self._named(), _bom_free(batch.path) as path, path.open("rb") as handle:
            try:
                uploaded = await client.files.create(
                    file=(filename, handle, "application/jsonl"),
                    purpose="batch",
                    expires_after=expiry,  # type: ignore[arg-type]
                )
            except openai.APIError as exc:
                raise self._renamed(map_api_error(exc, "upload of the batch input file")) from exc
        extra: dict[str, Any] = {}
        if settings.output_expires_after is not None:
            extra["output_expires_after"] = {
                "anchor": "created_at",
                "seconds": settings.output_expires_after,
            }
        self.create_started(batch)
        try:
            created = await client.batches.create(
                input_file_id=uploaded.id,
                endpoint=str(batch.context.get("endpoint") or self._wire_endpoint()),  # type: ignore[arg-type]
                completion_window="24h",
                metadata={**settings.metadata, **batch.metadata},
                **extra,
            )
        except openai.APIError as exc:
            mapped = self._renamed(map_api_error(exc, "batch creation"))
            if isinstance(exc, openai.APIStatusError) and exc.status_code < 500:
                await self._delete_file_quietly(uploaded.id)
                raise self._quota(mapped) from exc
            raise self._uncertain(batch, uploaded.id, mapped) from exc
        batch_id = getattr(created, "id", None)
        if not isinstance(batch_id, str) or not batch_id:
            raise self._uncertain(batch, uploaded.id, None)
        return batch_id

    def _quota(self, error: ProviderError) -> ProviderError:
        """A create refused for the deployment's enqueued-token quota: try again later."""
        if error.code not in QUOTA_CODES:
            return error
        return RateLimitError(
            f"{error} (the deployment's enqueued-token quota is full: submit again once "
            "some of its batches have finished, or raise the quota)",
            provider=self.name,
            status_code=error.status_code,
            request_id=error.request_id,
            code=error.code,
        )

    def _uncertain(
        self, batch: PreparedBatch, file_id: str, cause: ProviderError | None
    ) -> SubmissionUncertainError:
        return SubmissionUncertainError(
            f"Azure batch creation for chunk {batch.chunk_index} of job {batch.job_id} "
            f"failed in a way that may have created the batch ({cause or 'no batch id'}); "
            f"it was not retried. Input file {file_id} was uploaded.",
            details={
                "input_file_id": file_id,
                "job_id": batch.job_id,
                "chunk": str(batch.chunk_index),
            },
            provider=self.name,
            status_code=cause.status_code if cause else None,
            request_id=cause.request_id if cause else None,
            code=cause.code if cause else None,
        )

    # ------------------------------------------ reading, with Azure's name and clock

    def _renamed(self, error: ProviderError) -> ProviderError:
        error.provider = self.name
        return error

    @contextmanager
    def _named(self) -> Iterator[None]:
        """Errors of the OpenAI provider's code name this provider."""
        try:
            yield
        except ProviderError as exc:
            raise self._renamed(exc) from exc.__cause__

    def _own(self, info: BatchInfo) -> BatchInfo:
        info["provider"] = self.name
        # Azure sets expires_at 24 h on, but keeps running late batches: not a deadline.
        info["expires_at"] = None
        return info

    async def fetch_batch(self, batch_id: str) -> BatchInfo:
        with self._named():
            return self._own(await super().fetch_batch(batch_id))

    async def list_batches_page(self, cursor: str | None) -> BatchPage:
        with self._named():
            page = await super().list_batches_page(cursor)
        return BatchPage([self._own(info) for info in page.batches], page.next_cursor)

    async def iter_result_records(
        self, info: BatchInfo, context: dict[str, Any]
    ) -> AsyncIterator[ResultRecord]:
        with self._named():
            async for record in super().iter_result_records(info, context):
                error = record.output.error
                if error is not None:
                    record.output.error = error.model_copy(update={"provider": self.name})
                yield record

    async def cancel_batch(self, batch_id: str) -> None:
        with self._named():
            await super().cancel_batch(batch_id)


@contextmanager
def _bom_free(path: Path) -> Iterator[Path]:
    """``path``, or a copy without its leading UTF-8 BOM (Azure refuses such files)."""
    with path.open("rb") as handle:
        if handle.read(len(BOM)) != BOM:
            yield path
            return
        logger.warning("the batch input file started with a UTF-8 BOM; it was not sent")
        with tempfile.TemporaryDirectory() as directory:
            copy = Path(directory) / path.name
            with copy.open("wb") as out:
                shutil.copyfileobj(handle, out)
            yield copy


def _entra_token() -> Any:
    """An async provider of Entra ID bearer tokens (``azure-identity``)."""
    from azure.identity.aio import (  # type: ignore[import-not-found,unused-ignore]
        DefaultAzureCredential,
        get_bearer_token_provider,
    )

    return get_bearer_token_provider(DefaultAzureCredential(), ENTRA_SCOPE)
