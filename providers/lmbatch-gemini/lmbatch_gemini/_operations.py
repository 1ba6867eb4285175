"""``GeminiBatchOperations``: Gemini API batch mode behind lmbatch's contract.

Only wire translation lives here; encoding, decoding, status, errors, the HTTP client and
the spooled body each have their own module. Everything goes over raw HTTP (httpx), with
the google-genai SDK's code as the wire reference: its typed batch objects drop the
counts (``batchStats``) and the reason a batch failed (the operation's ``error``), both of
which users need, and its downloads are held in memory whole.

==============  ====================================================================
operation       call
==============  ====================================================================
create          ``POST {v}/models/{model}:batchGenerateContent`` with the requests
                inline (``mode="auto"`` when the body is under 20 MB, or ``"inline"``)
                or a JSONL file uploaded first (resumable upload to
                ``upload/{v}/files``); never retried
status          ``GET {v}/batches/{id}``
list            ``GET {v}/batches?pageSize&pageToken``
cancel          ``POST {v}/batches/{id}:cancel``
results         inline: the operation's ``response.inlinedResponses.inlinedResponses``
                (or ``metadata.output...``); file: ``responsesFile``, downloaded from
                ``download/{v}/files/{id}:download?alt=media`` (or, if that is not
                found, ``{v}/files/{id}:download?alt=media`` as the SDK does)
delete          ``DELETE {v}/batches/{id}`` (:meth:`GeminiBatchOperations.delete`)
==============  ====================================================================

Batch ids are Gemini's operation names, ``batches/...``; a bare id is taken too.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

import orjson

from lmbatch.provider import (
    BatchInfo,
    BatchOperations,
    BatchPage,
    ConfigError,
    Hyperparameters,
    Message,
    PreparedBatch,
    ProviderError,
    ProviderLimits,
    ProviderRequestError,
    ProviderSettings,
    ResultRecord,
    SubmissionUncertainError,
    create_failure,
    create_uncertain,
)
from lmbatch_gemini._body import INLINE_LIMIT, SpooledRequests
from lmbatch_gemini._decoding import decode_entry, decode_line
from lmbatch_gemini._encoding import (
    REQUEST_FIELDS,
    check_hyperparameters,
    check_request,
    encode_request,
)
from lmbatch_gemini._errors import connection_error
from lmbatch_gemini._http import UPLOAD_CHUNK_BYTES, GeminiHTTP, parse_json
from lmbatch_gemini._settings import (
    API_KEY_ENVS,
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    GeminiSettings,
    check_root,
)
from lmbatch_gemini._status import batch_info, display_name, stamp_of

if TYPE_CHECKING:
    from lmbatch.provider import Store

__all__ = ["FILE_LIMITS", "INLINE_LIMITS", "GeminiBatchOperations"]

logger = logging.getLogger("lmbatch.gemini")

#: Request ids Gemini is sent: plain characters only (no documented rule for ``key``;
#: other keys are mapped, and come back unchanged).
_ID_PATTERN = r"[A-Za-z0-9_.:-]{1,128}"
#: One file batch: Files API files hold up to 2 GB. No request cap is documented for the
#: Developer API; 200,000 is Vertex AI's, the same backend's.
FILE_LIMITS = ProviderLimits(
    max_requests_per_batch=200_000,
    max_bytes_per_batch=2 * 1024**3,
    custom_id_pattern=_ID_PATTERN,
    custom_id_max_length=128,
)
#: One inline batch: the create body under 20 MB (an inline entry is a few bytes longer
#: than its spooled line, and the body has an envelope: 19.5 MB of spooled lines, less
#: core's headroom, always fits).
INLINE_LIMITS = ProviderLimits(
    max_requests_per_batch=200_000,
    max_bytes_per_batch=19_500_000,
    custom_id_pattern=_ID_PATTERN,
    custom_id_max_length=128,
)
#: Pages of the batch list read when looking for the batch of an interrupted create.
MAX_SEARCH_PAGES = 50
_JSONL = "application/jsonl"


class GeminiBatchOperations(BatchOperations):
    """Gemini API batch mode (provider name ``gemini``).

    Example::

        ops = lmbatch.get_batch_operations("gemini", model="gemini-2.5-flash")
        results = await ops.invoke({"q": "Hello"}, {"max_tokens": 50})

    Options are those of :class:`~lmbatch_gemini.GeminiSettings`. Besides the common
    contract it offers :meth:`delete`.
    """

    name: ClassVar[str] = "gemini"
    settings_class: ClassVar[type[ProviderSettings]] = GeminiSettings
    #: The google-genai SDK's order: GOOGLE_API_KEY wins when both are set.
    api_key_env: ClassVar[tuple[str, ...]] = API_KEY_ENVS
    default_base_url: ClassVar[str | None] = DEFAULT_BASE_URL
    base_url_env: ClassVar[str | None] = BASE_URL_ENV
    marks_create_start: ClassVar[bool] = True
    limits = FILE_LIMITS
    #: Gemini writes a result only for a request that ran: one a cancelled or expired
    #: batch never ran has none, and core reports it ``cancelled`` / ``expired`` by the
    #: batch's end.
    result_line_states: ClassVar[frozenset[str]] = frozenset({"succeeded", "errored"})
    #: Batch mode costs half the standard price; cached input is billed at the normal
    #: cache price (the discount does not stack).
    batch_discount: ClassVar[float] = 0.5
    batch_cache_discount: ClassVar[float | None] = 0.0
    price_provider: ClassVar[str | None] = "google"
    checks_model_names: ClassVar[bool] = True
    #: Every batch's ``displayName`` carries the job id and chunk (see
    #: :func:`lmbatch_gemini._status.display_name`), and the list shows it.
    stamps_batch_metadata: ClassVar[bool] = True
    #: Gemini ends a batch still pending or running after 48 h as ``EXPIRED``.
    completion_window: ClassVar[float | None] = 48 * 3600.0

    def __init__(
        self,
        settings: ProviderSettings | None = None,
        *,
        store: Store | str | os.PathLike[str] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(settings, store=store, **options)
        assert isinstance(self.settings, GeminiSettings)
        self.gemini_settings: GeminiSettings = self.settings
        # Inline batches are split to fit the 20 MB create body; file batches, 2 GB.
        self.limits = INLINE_LIMITS if self.gemini_settings.mode == "inline" else FILE_LIMITS
        self._http: GeminiHTTP | None = None
        # Which download URL form works (None: not tried yet).
        self._download_prefix: str | None = None

    # ------------------------------------------------------------------ the client

    @property
    def http(self) -> GeminiHTTP:
        """The HTTP client, built on first use.

        Raises:
            MissingCredentialsError: No ``api_key`` and neither environment variable.
            ConfigError: ``$GOOGLE_GEMINI_BASE_URL`` ends with a version.
        """
        if self._http is None:
            settings = self.gemini_settings
            try:
                root = check_root(self.base_url() or DEFAULT_BASE_URL)
            except ValueError as exc:
                raise ConfigError(f"provider {self.name!r}: {exc}") from None
            self._http = GeminiHTTP(
                root,
                settings.api_version,
                self.api_key(),
                timeout=settings.timeout,
                max_retries=settings.max_retries,
                provider=self.name,
                base_url_env=self.base_url_env,
            )
        return self._http

    async def aclose(self) -> None:
        """Close the HTTP client."""
        client, self._http = self._http, None
        if client is not None:
            await client.aclose()

    @property
    def model_path(self) -> str:
        """The model as a resource name (``models/...``), as the SDK's ``t_model`` makes it."""
        model = self.settings.model or ""
        if model.startswith(("models/", "tunedModels/")):
            return model
        return f"models/{model}"

    # -------------------------------------------------------------------- encoding

    def request_fields(self) -> tuple[str, frozenset[str]]:
        return "the Gemini GenerateContentRequest", REQUEST_FIELDS

    def validate_hyperparameters(self, params: Hyperparameters) -> None:
        check_hyperparameters(params, self.gemini_settings.structured_output)

    def validate_request(self, key: str, messages: list[Message], params: Hyperparameters) -> None:
        check_request(key, messages)

    def encode_request(
        self, custom_id: str, messages: list[Message], params: Hyperparameters
    ) -> dict[str, Any]:
        return encode_request(
            custom_id, messages, params, structured=self.gemini_settings.structured_output
        )

    async def count_input_tokens(
        self, messages: list[Message], params: Hyperparameters
    ) -> int | None:
        """``POST {v}/models/{model}:countTokens`` on the request the batch would carry."""
        request = self.encode_request("count", messages, params)["request"]
        body = {"generateContentRequest": {"model": self.model_path, **request}}
        answer = await self.http.call_json(
            "POST",
            self.http.url(f"{self.model_path}:countTokens"),
            action="input token count",
            names_a_resource=False,
            json=body,
        )
        total = answer.get("totalTokens")
        return total if isinstance(total, int) else None

    # ------------------------------------------------------------------- lifecycle

    async def submit_batch(self, batch: PreparedBatch) -> str:
        settings = self.gemini_settings
        # Measuring reads the whole file: off the event loop, as other chunks upload.
        spooled = await asyncio.to_thread(SpooledRequests, batch.path)
        name = display_name(settings.display_name, batch.job_id, batch.chunk_index)
        details = {
            "job_id": batch.job_id,
            "chunk": str(batch.chunk_index),
            "request_count": str(spooled.request_count),
            "display_name": name,
        }
        inline = settings.mode != "file" and spooled.inline_length(name) <= INLINE_LIMIT
        if settings.mode == "inline" and not inline:
            logger.warning(
                "job %s chunk %d: the inline body would exceed 20 MB; sending a file instead",
                batch.job_id,
                batch.chunk_index,
            )
        input_file: str | None = None
        if inline:
            length = spooled.inline_length(name)
            content: Any = _threaded(spooled.inline_body(name))
        else:
            uploaded = await self.http.upload(
                spooled.file_body(UPLOAD_CHUNK_BYTES),
                spooled.file_bytes,
                display_name=name,
                mime_type=_JSONL,
            )
            input_file = str(uploaded["name"])
            details["input_file"] = input_file
            body = {"batch": {"displayName": name, "inputConfig": {"fileName": input_file}}}
            raw = orjson.dumps(body)
            length, content = len(raw), raw
        # From here on, anything but a definite refusal leaves the chunk uncertain.
        self.create_started(batch)
        answer = await self._create(batch, content, length, details)
        if isinstance(answer, ProviderError):
            if input_file is not None:
                await self._delete_file_quietly(input_file)  # refused: the file is useless
            raise answer
        batch_id = answer.get("name")
        if not isinstance(batch_id, str) or not batch_id:
            raise create_uncertain(
                batch, "answered without a batch name", provider=self.name, details=details
            )
        return batch_id

    async def _create(
        self, batch: PreparedBatch, content: Any, length: int, details: dict[str, str]
    ) -> dict[str, Any] | ProviderError:
        """Send the create call once; the answer, or the definite refusal to raise.

        Raises:
            SubmissionUncertainError: The call failed in a way that may have made the
                batch (5xx, timeout, a lost connection).
        """
        import httpx

        action = "batch creation"
        url = self.http.url(f"{quote(self.model_path, safe='/')}:batchGenerateContent")
        try:
            response = await self.http.client.post(
                url,
                content=content,
                headers={"Content-Type": "application/json", "Content-Length": str(length)},
            )
        except httpx.TransportError as exc:
            lost = connection_error(exc, action, provider=self.name)
            raise create_failure(batch, lost, provider=self.name, details=details) from exc
        if response.status_code >= 400:
            error = self.http.error(response.status_code, response.content, action, False)
            mapped = create_failure(batch, error, provider=self.name, details=details)
            if isinstance(mapped, SubmissionUncertainError):
                raise mapped
            return mapped  # a refusal: nothing was made
        try:
            return parse_json(response, action, self.name)
        except ProviderRequestError:
            return {}  # a 200 that is not JSON: the batch may exist all the same

    async def fetch_batch(self, batch_id: str) -> BatchInfo:
        name = _batch_name(batch_id)
        operation = await self.http.call_json(
            "GET", self.http.url(name), action=f"status check of {name}"
        )
        return batch_info(operation, self.name)

    async def iter_result_records(
        self, info: BatchInfo, context: dict[str, Any]
    ) -> AsyncIterator[ResultRecord]:
        raw = info["raw"]
        inline = _inline_results(raw)
        if inline is not None:
            for position, entry in enumerate(inline):
                yield decode_entry(entry, position, context, self.name)
        else:
            file_name = _responses_file(raw)
            if file_name is not None:
                async for record in self._file_records(info["id"], file_name, context):
                    yield record

    async def _file_records(
        self, batch_id: str, file_name: str, context: dict[str, Any]
    ) -> AsyncIterator[ResultRecord]:
        position = 0
        async for line in self._download(batch_id, file_name):
            if line.strip():
                yield decode_line(line.strip(), position, context, self.name)
                position += 1

    async def _download(self, batch_id: str, file_name: str) -> AsyncIterator[bytes]:
        """Stream a responses file, from the documented URL or the SDK's."""
        action = f"download of the results of {batch_id} ({file_name})"
        http = self.http
        forms = [f"{http.root}/download/{http.version}", f"{http.root}/{http.version}"]
        if self._download_prefix is not None:
            forms.remove(self._download_prefix)
            forms.insert(0, self._download_prefix)
        for number, prefix in enumerate(forms):
            started = False
            try:
                async for line in http.lines(
                    f"{prefix}/{quote(file_name, safe='/')}:download?alt=media", action=action
                ):
                    started = True
                    yield line
            except ProviderError as exc:
                last = number + 1 == len(forms)
                if started or last or exc.status_code != 404:
                    raise
                continue
            self._download_prefix = prefix
            return

    async def list_batches_page(self, cursor: str | None) -> BatchPage:
        params: dict[str, Any] = {"pageSize": self.gemini_settings.list_page_size}
        if cursor is not None:
            params["pageToken"] = cursor
        answer = await self.http.call_json(
            "GET", self.http.url("batches"), action="listing batches", params=params
        )
        operations = answer.get("operations")
        infos = [batch_info(op, self.name) for op in operations or [] if isinstance(op, dict)]
        token = answer.get("nextPageToken")
        return BatchPage(infos, token if isinstance(token, str) and token else None)

    async def cancel_batch(self, batch_id: str) -> None:
        name = _batch_name(batch_id)
        await self.http.call("POST", self.http.url(f"{name}:cancel"), action=f"cancel of {name}")

    async def vendor_date(self) -> str | None:
        response = await self.http.call(
            "GET", self.http.url("batches"), action="listing batches", params={"pageSize": 1}
        )
        date = response.headers.get("date")
        return str(date) if date else None

    async def find_submitted_batch(self, batch: PreparedBatch) -> str | None:
        """The batch whose ``displayName`` carries the chunk's stamp (the oldest), or None.

        The whole list is searched (up to :data:`MAX_SEARCH_PAGES` pages): its order is
        not documented, so no page can be skipped.

        Raises:
            SubmissionUncertainError: The list is longer than that.
        """
        wanted = display_stamp(batch.job_id, batch.chunk_index)
        found: list[BatchInfo] = []
        cursor: str | None = None
        for _ in range(MAX_SEARCH_PAGES):
            page = await self.list_batches_page(cursor)
            found += [info for info in page.batches if info["metadata"] == wanted]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        else:
            raise SubmissionUncertainError(
                f"chunk {batch.chunk_index} of job {batch.job_id}: its create call was "
                f"interrupted and more than {MAX_SEARCH_PAGES} pages of batches are listed; "
                "look for a batch whose display name ends with "
                f"{display_name('', batch.job_id, batch.chunk_index)!r}",
                provider=self.name,
                details={"job_id": batch.job_id, "chunk": str(batch.chunk_index)},
            )
        if not found:
            return None
        oldest = min(found, key=lambda i: i["created_at"].timestamp() if i["created_at"] else 0)
        return oldest["id"]

    async def after_results(self, info: BatchInfo, context: dict[str, Any]) -> None:
        if not self.gemini_settings.delete_input_file:
            return
        metadata = info["raw"].get("metadata")
        config = metadata.get("inputConfig") if isinstance(metadata, dict) else None
        file_name = config.get("fileName") if isinstance(config, dict) else None
        if isinstance(file_name, str) and file_name:
            await self._delete_file_quietly(file_name)

    async def _delete_file_quietly(self, file_name: str) -> None:
        """Delete an uploaded file; a failure is logged, never raised (results matter more)."""
        try:
            await self.http.call(
                "DELETE", self.http.url(file_name), action=f"deletion of {file_name}"
            )
        except ProviderError as exc:
            if exc.status_code != 404:
                logger.warning("could not delete Gemini file %s: %s", file_name, exc)

    # ------------------------------------------------------------------ extras

    async def delete(self, batch_id: str) -> None:
        """Delete a batch (or every batch of an lmbatch job) at Gemini.

        Deleting does not cancel a running batch: cancel it first.

        Raises:
            BatchNotFoundError: Gemini does not know the batch.
        """
        job = self.store.get_job(batch_id)
        ids = job.batch_ids if job is not None and job.provider == self.name else [batch_id]
        for vendor_id in ids:
            name = _batch_name(vendor_id)
            await self.http.call("DELETE", self.http.url(name), action=f"deletion of {name}")


def display_stamp(job_id: str, chunk_index: int) -> dict[str, str]:
    """The metadata a batch of this job and chunk shows (see :func:`stamp_of`)."""
    return stamp_of(display_name("", job_id, chunk_index))


def _batch_name(batch_id: str) -> str:
    name = batch_id if batch_id.startswith("batches/") else f"batches/{batch_id}"
    return quote(name, safe="/")


def _inline_results(operation: dict[str, Any]) -> list[Any] | None:
    """The inline results of a batch operation, wherever they are; None if it has none."""
    for holder in (operation.get("response"), _get(operation, "metadata", "output")):
        inlined = _get(holder, "inlinedResponses", "inlinedResponses")
        if isinstance(inlined, list):
            return inlined
    return None


def _responses_file(operation: dict[str, Any]) -> str | None:
    """The responses file (``files/...``) of a batch operation, or None."""
    for holder in (operation.get("response"), _get(operation, "metadata", "output")):
        name = _get(holder, "responsesFile")
        if isinstance(name, str) and name:
            # A full URI (".../v1beta/files/abc") names the same file.
            return "files/" + name.split("files/", 1)[1] if "files/" in name else str(name)
    return None


def _get(value: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value


def _threaded(blocks: Any) -> AsyncIterator[bytes]:
    """Read a blocking iterator of blocks in a worker thread, one block at a time."""

    async def read() -> AsyncIterator[bytes]:
        while True:
            block = await asyncio.to_thread(next, blocks, None)
            if block is None:
                return
            yield block

    return read()
