"""The OpenAI vendor of the emulator.

Serves ``/v1/files``, ``/v1/batches`` and ``/v1/responses/input_tokens``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from lmbatch.testing.emulator import EmulatorState, EmulatorVendor, Job, base62_id, hex_id
from lmbatch_openai._emulator._files import FileRecord, OpenAIEmulatorOptions
from lmbatch_openai._emulator._http import (
    new_openai_request_id,
    openai_auth_error,
    openai_error,
    openai_json,
)
from lmbatch_openai._emulator._jobs import InputCheck, OpenAIBatch, batch_error, check_input
from lmbatch_openai._emulator._responder import (
    openai_response,
    request_input_tokens,
    responses_input_tokens,
)

OPERATIONS = frozenset(
    {
        "upload",
        "list_files",
        "retrieve_file",
        "delete_file",
        "content",
        "create",
        "retrieve",
        "list",
        "cancel",
        "count_tokens",
    }
)
"""Operation names of the OpenAI vendor, as `EndpointFault.operation` names them."""
PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
SPEC_ENDPOINTS = (
    "/v1/responses",
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/moderations",
    "/v1/images/generations",
    "/v1/images/edits",
    "/v1/videos",
)
#: What ``POST /v1/responses/input_tokens`` takes (the SDK's ``input_tokens.count``).
RESPONSES_COUNT_FIELDS = frozenset(
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
EMULATED_ENDPOINTS = ("/v1/responses", "/v1/chat/completions", "/v1/embeddings")
_MIN_EXPIRY, _MAX_EXPIRY = 3600, 2_592_000
_CHUNK = 1 << 20


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if low <= value <= high else None


def _page(items: list[Any], after: str | None, limit: int) -> dict[str, Any]:
    """A cursor page: the items following ``after`` (by id), at most ``limit`` of them."""
    start = 0
    if after is not None:
        ids = [item["id"] for item in items]
        start = ids.index(after) + 1 if after in ids else len(items)
    data = items[start : start + limit]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": start + limit < len(items),
    }


class OpenAIEmulator(EmulatorVendor[OpenAIEmulatorOptions]):
    """The OpenAI Files + Batches API, as the emulator serves it.

    Its records: ``files`` (uploads and result files, on disk) and ``batches`` (reachable
    as ``emulator.state.openai_batches`` too).

    A vendor that speaks the same protocol (Groq, Azure OpenAI, any OpenAI-compatible
    server) subclasses it: its own ``name`` and ``base_path``, ``route_prefix`` for where
    its ``/v1/...`` paths live, what its create call accepts (``completion_windows``,
    ``batch_endpoints``), and the hooks ``input_check`` (batch validation),
    ``upload_problem`` (refusing an upload), ``respond`` (one line's answer) and
    ``batch_json`` (the batch object it returns).

    Args:
        state: The emulator state this instance serves.
        options: Its limits.
    """

    name = "openai"
    title = "OpenAI"
    base_path = "/v1"
    path_prefixes = ("/v1/",)
    operations = OPERATIONS
    options_class = OpenAIEmulatorOptions
    #: Path before the vendor's ``/v1/...`` routes (``"/groq/openai"``: ``/groq/openai/v1``).
    route_prefix: ClassVar[str] = ""
    #: ``completion_window`` values the create call accepts.
    completion_windows: ClassVar[frozenset[str]] = frozenset({"24h"})
    #: Endpoints a batch may use (answered by ``respond``).
    batch_endpoints: ClassVar[frozenset[str]] = frozenset(EMULATED_ENDPOINTS)
    #: Whether ``POST /v1/responses/input_tokens`` is served.
    counts_tokens: ClassVar[bool] = True

    def __init__(self, state: EmulatorState, options: OpenAIEmulatorOptions) -> None:
        super().__init__(state, options)
        self.files: dict[str, FileRecord] = {}
        self.batches: dict[str, OpenAIBatch] = {}
        #: Input tokens of each batch, by id (counted once, for the enqueued-token limit).
        self.enqueued_counts: dict[str, int] = {}

    def error_response(self, status: int, message: str | None = None) -> Response:
        """An OpenAI error: ``{"error": {message, type, param, code}}``."""
        return openai_error(status, message)

    def auth_error(self, request: Request) -> Response | None:
        """401 without a bearer key (when the emulator requires keys)."""
        return openai_auth_error(request, self.state.settings.require_auth)

    def jobs(self) -> Iterable[Job]:
        """Every batch."""
        return self.batches.values()

    def reset(self) -> None:
        """Forget every file and batch."""
        with self.state.lock:
            for record in self.files.values():
                record.path.unlink(missing_ok=True)
            self.files.clear()
            self.batches.clear()
            self.enqueued_counts.clear()

    def webhook_event(self, job: Job) -> dict[str, Any] | None:
        """OpenAI's ``batch.<status>`` event (OpenAI itself only: not the look-alikes)."""
        if self.name != "openai" or not isinstance(job, OpenAIBatch):
            return None
        return {
            "id": base62_id("evt_", 24),
            "object": "event",
            "type": f"batch.{job.status}",
            "created_at": int(self.state.now()),
            "data": {"id": job.id},
        }

    def add_file(
        self, filename: str, path: Path, expires_at: int | None, purpose: str = "batch_output"
    ) -> str:
        """Register a file already written at ``path``; returns its new id."""
        record = FileRecord(
            id=base62_id("file-", 22),
            filename=filename,
            purpose=purpose,
            bytes=path.stat().st_size,
            created_at=int(self.state.now()),
            expires_at=expires_at,
            path=path,
        )
        with self.state.lock:
            self.files[record.id] = record
        return record.id

    def routes(self) -> list[BaseRoute]:
        """The Starlette routes, all under ``route_prefix + "/v1"``."""
        return self.routes_under(self.route_prefix + "/v1")

    def routes_under(self, root: str) -> list[BaseRoute]:
        """The routes with their paths under ``root`` (e.g. ``/v1``)."""
        routes: list[BaseRoute] = [
            Route(root + "/files", self.upload, methods=["POST"]),
            Route(root + "/files", self.list_files, methods=["GET"]),
            Route(root + "/files/{file_id}", self.retrieve_file, methods=["GET"]),
            Route(root + "/files/{file_id}", self.delete_file, methods=["DELETE"]),
            Route(root + "/files/{file_id}/content", self.content, methods=["GET"]),
            Route(root + "/batches", self.create, methods=["POST"]),
            Route(root + "/batches", self.list, methods=["GET"]),
            Route(root + "/batches/{batch_id}", self.retrieve, methods=["GET"]),
            Route(root + "/batches/{batch_id}/cancel", self.cancel, methods=["POST"]),
        ]
        if self.counts_tokens:
            routes.append(
                Route(root + "/responses/input_tokens", self.count_tokens, methods=["POST"])
            )
        return routes

    # hooks of OpenAI-compatible vendors ----------------------------------------------------

    def input_check(self, path: Path, body: dict[str, Any]) -> InputCheck:
        """Validate a new batch's input file (``body``: the create call's JSON)."""
        return check_input(
            path, body["endpoint"], self.options.max_requests, self.options.max_file_bytes
        )

    def queue_check(self, batch: OpenAIBatch) -> None:
        """Fail ``batch`` if its model's enqueued tokens would go over the limit.

        The model's enqueued tokens are the input tokens of its unfinished batches (those
        not failed at validation). Called under the state lock, before the batch is kept.
        """
        limit = self.options.enqueued_token_limit
        if limit is None:
            return
        model = batch.check.model or ""
        new = self.enqueued_tokens_of(batch)
        held = sum(
            self.enqueued_tokens_of(other)
            for other in self.batches.values()
            if not other.terminal and not other.check.errors and other.check.model == model
        )
        if held + new > limit:
            batch.check.errors.append(
                batch_error("token_limit_exceeded", self.queue_full_message(model, limit))
            )

    def enqueued_tokens_of(self, batch: OpenAIBatch) -> int:
        """A batch's input tokens, as its answers' usage counts them (read once)."""
        found = self.enqueued_counts.get(batch.id)
        if found is None:
            found = 0
            with batch.input_path.open("rb") as handle:
                for line in handle:
                    if line.strip():
                        body = json.loads(line).get("body") or {}
                        found += request_input_tokens(body if isinstance(body, dict) else {})
            self.enqueued_counts[batch.id] = found
        return found

    def queue_full_message(self, model: str, limit: int) -> str:
        """The vendor's words for a batch over the enqueued-token limit."""
        return (
            f"Enqueued token limit reached for {model} in organization org-emulator. "
            f"Limit: {limit:,} enqueued tokens. Please try again once some in_progress "
            "batches have been completed."
        )

    def upload_problem(self, purpose: str, expires_after: int | None) -> str | None:
        """Why an upload is refused (HTTP 400), or None (default: never)."""
        return None

    def respond(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        """The 200 body answering one batch line (raise ``RequestRejected`` to fail it)."""
        return openai_response(url, body)

    def batch_json(self, batch: OpenAIBatch) -> dict[str, Any]:
        """The ``Batch`` object the API returns for ``batch``."""
        return batch.to_json()

    async def count_tokens(self, request: Request) -> Response:
        """``POST /v1/responses/input_tokens``: the input tokens the request's usage reports.

        The count is the one the emulator's answers report as ``usage.input_tokens``, so
        an estimate counted here matches the run. Fields the endpoint does not take (such
        as ``max_output_tokens``) are refused, as the vendor refuses unknown parameters.
        """

        async def action() -> Response:
            try:
                body = json.loads(await request.body())
            except ValueError:
                return openai_error(400, "We could not parse the JSON body of your request.")
            if not isinstance(body, dict):
                return openai_error(400, "The request body must be a JSON object.")
            unknown = sorted(set(body) - RESPONSES_COUNT_FIELDS)
            if unknown:
                return openai_error(400, f"Unknown parameter: '{unknown[0]}'.", param=unknown[0])
            return openai_json(
                {"object": "response.input_tokens", "input_tokens": responses_input_tokens(body)}
            )

        return await self.guarded(request, "count_tokens", action)

    # files -------------------------------------------------------------------------------

    async def upload(self, request: Request) -> Response:
        """``POST /v1/files`` (multipart ``file`` + ``purpose``)."""

        async def action() -> Response:
            async with request.form() as form:
                upload = form.get("file")
                purpose = form.get("purpose")
                if not isinstance(upload, UploadFile):
                    return openai_error(400, "Missing required parameter: 'file'.", param="file")
                if purpose not in PURPOSES:
                    return openai_error(
                        400, f"Invalid value for 'purpose': {purpose!r}.", param="purpose"
                    )
                anchor = form.get("expires_after[anchor]")
                seconds_raw = form.get("expires_after[seconds]")
                seconds: int | None = None
                if anchor is not None or seconds_raw is not None:
                    try:
                        seconds = int(str(seconds_raw))
                    except ValueError:
                        seconds = -1
                    if anchor != "created_at" or not _MIN_EXPIRY <= seconds <= _MAX_EXPIRY:
                        return openai_error(
                            400,
                            "Invalid 'expires_after': anchor must be 'created_at' and seconds "
                            f"between {_MIN_EXPIRY} and {_MAX_EXPIRY}.",
                            param="expires_after",
                        )
                refused = self.upload_problem(str(purpose), seconds)
                if refused is not None:
                    return openai_error(400, refused, param="file")
                path = self.state.new_path(".upload")
                size = 0
                with path.open("wb") as out:
                    while chunk := await upload.read(_CHUNK):
                        size += len(chunk)
                        if size > self.options.max_upload_bytes:
                            break
                        out.write(chunk)
                if size > self.options.max_upload_bytes:
                    path.unlink()
                    return openai_error(413, "File is too large.", param="file")
                if seconds is None and purpose == "batch":
                    seconds = _MAX_EXPIRY  # batch files expire after 30 days by default
                now = int(self.state.now())
                expires_at = now + seconds if seconds is not None else None
                file_id = self.add_file(
                    upload.filename or "upload.jsonl", path, expires_at, purpose=str(purpose)
                )
                return openai_json(self.files[file_id].to_json())

        return await self.guarded(request, "upload", action)

    async def list_files(self, request: Request) -> Response:
        """``GET /v1/files`` with ``purpose``, ``limit``, ``order``, ``after``."""

        async def action() -> Response:
            limit = _int_param(request, "limit", 10_000, 1, 10_000)
            order = request.query_params.get("order", "desc")
            if limit is None or order not in ("asc", "desc"):
                return openai_error(400, "Invalid 'limit' or 'order'.", param="limit")
            purpose = request.query_params.get("purpose")
            with self.state.lock:
                records = [
                    f.to_json()
                    for f in self.files.values()
                    if purpose is None or f.purpose == purpose
                ]
            if order == "desc":
                records.reverse()
            return openai_json(_page(records, request.query_params.get("after"), limit))

        return await self.guarded(request, "list_files", action)

    def _file_missing(self, file_id: str) -> Response:
        return openai_error(404, f"No such File object: {file_id}", param="id")

    async def retrieve_file(self, request: Request) -> Response:
        """``GET /v1/files/{file_id}``."""
        file_id = request.path_params["file_id"]

        async def action() -> Response:
            with self.state.lock:
                record = self.files.get(file_id)
            if record is None:
                return self._file_missing(file_id)
            return openai_json(record.to_json())

        return await self.guarded(request, "retrieve_file", action)

    async def delete_file(self, request: Request) -> Response:
        """``DELETE /v1/files/{file_id}``."""
        file_id = request.path_params["file_id"]

        async def action() -> Response:
            with self.state.lock:
                record = self.files.pop(file_id, None)
            if record is None:
                return self._file_missing(file_id)
            record.path.unlink(missing_ok=True)
            return openai_json({"id": file_id, "object": "file", "deleted": True})

        return await self.guarded(request, "delete_file", action)

    async def content(self, request: Request) -> Response:
        """``GET /v1/files/{file_id}/content``: the raw bytes, streamed from disk."""
        file_id = request.path_params["file_id"]

        async def action() -> Response:
            with self.state.lock:
                record = self.files.get(file_id)
            if record is None:
                return self._file_missing(file_id)
            return FileResponse(
                record.path,
                media_type="application/octet-stream",
                filename=record.filename,
                headers={"x-request-id": new_openai_request_id()},
            )

        return await self.guarded(request, "content", action)

    # batches -----------------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        """``POST /v1/batches``: validates the input file now, reports it on later polls."""
        self.state.count_create_call()

        async def action() -> Response:
            try:
                body = json.loads(await request.body())
            except ValueError:
                return openai_error(400, "We could not parse the JSON body of your request.")
            problem = _create_problem(body, self.completion_windows, self.batch_endpoints)
            if problem is not None:
                return openai_error(400, problem[1], param=problem[0])
            with self.state.lock:
                record = self.files.get(body["input_file_id"])
            if record is None:
                return openai_error(
                    404, f"No such File object: {body['input_file_id']}", param="input_file_id"
                )
            if record.purpose != "batch":
                return openai_error(
                    400,
                    "The input file must be uploaded with purpose 'batch'.",
                    param="input_file_id",
                )
            await self.state.slow_create()
            batch = self._new_batch(body, record.path)
            await self.state.slow_create()
            return openai_json(self.batch_json(batch))

        return await self.guarded(request, "create", action)

    def _new_batch(self, body: dict[str, Any], input_path: Any) -> OpenAIBatch:
        private = self.state.private_copy(input_path)
        check = self.input_check(private, body)
        expiry = body.get("output_expires_after")
        batch = OpenAIBatch(
            id=self.state.batch_id("batch_", lambda: hex_id("batch_")),
            endpoint=body["endpoint"],
            input_file_id=body["input_file_id"],
            completion_window=body["completion_window"],
            metadata=body.get("metadata"),
            output_expires_seconds=expiry["seconds"] if isinstance(expiry, dict) else None,
            input_path=private,
            check=check,
            faults=self.state.faults,
            cancel_fraction=self.state.settings.cancel_finished_fraction,
            progress_steps=self.state.settings.progress_steps,
            new_path=self.state.new_path,
            add_file=self.add_file,
            clock=self.state.now,
            respond=self.respond,
        )
        with self.state.lock:  # concurrent creates see each other's enqueued tokens
            if not check.errors:
                self.queue_check(batch)
            self.batches[batch.id] = batch
            if not check.errors:
                self.state.count_submissions(check.custom_ids)
        return batch

    async def list(self, request: Request) -> Response:
        """``GET /v1/batches``: newest first, ``after`` cursor, ``limit`` 1..100."""

        async def action() -> Response:
            limit = _int_param(request, "limit", 20, 1, 100)
            if limit is None:
                return openai_error(
                    400, "Invalid 'limit': must be between 1 and 100.", param="limit"
                )
            with self.state.lock:
                batches = [self.batch_json(b) for b in reversed(self.batches.values())]
            return openai_json(_page(batches, request.query_params.get("after"), limit))

        return await self.guarded(request, "list", action)

    def _batch(self, batch_id: str) -> OpenAIBatch | None:
        with self.state.lock:
            return self.batches.get(batch_id)

    async def retrieve(self, request: Request) -> Response:
        """``GET /v1/batches/{batch_id}``; in ``"polls"`` mode this is what moves a batch."""
        batch_id = request.path_params["batch_id"]

        async def action() -> Response:
            batch = self._batch(batch_id)
            if batch is None:
                return openai_error(404, f"No batch found with id '{batch_id}'.")
            self.state.polled(batch)
            with self.state.lock:
                return openai_json(self.batch_json(batch))

        return await self.guarded(request, "retrieve", action)

    async def cancel(self, request: Request) -> Response:
        """``POST /v1/batches/{batch_id}/cancel`` (allowed while validating or in progress)."""
        batch_id = request.path_params["batch_id"]

        async def action() -> Response:
            batch = self._batch(batch_id)
            if batch is None:
                return openai_error(404, f"No batch found with id '{batch_id}'.")
            with self.state.lock:
                if not batch.cancel():
                    return openai_error(409, f"Cannot cancel a batch with status '{batch.status}'.")
                return openai_json(self.batch_json(batch))

        return await self.guarded(request, "cancel", action)


def _create_problem(
    body: Any, windows: frozenset[str], endpoints: frozenset[str]
) -> tuple[str | None, str] | None:
    """(param, message) of the first problem with a create body, or None."""
    if not isinstance(body, dict):
        return None, "The request body must be a JSON object."
    for name in ("input_file_id", "endpoint", "completion_window"):
        if not isinstance(body.get(name), str):
            return name, f"Missing required parameter: '{name}'."
    if body["endpoint"] not in endpoints:
        if body["endpoint"] in SPEC_ENDPOINTS:
            return "endpoint", f"The lmbatch emulator does not serve {body['endpoint']}."
        return "endpoint", f"Invalid value for 'endpoint': {body['endpoint']!r}."
    if body["completion_window"] not in windows:
        return (
            "completion_window",
            f"Invalid value for 'completion_window': {body['completion_window']!r} (supported: "
            f"{', '.join(sorted(windows))}).",
        )
    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict) or len(metadata) > 16:
            return "metadata", "'metadata' must be an object with at most 16 pairs."
        for key, value in metadata.items():
            if len(key) > 64 or not isinstance(value, str) or len(value) > 512:
                return "metadata", "Metadata keys are at most 64 chars, values 512-char strings."
    expiry = body.get("output_expires_after")
    if expiry is not None and not (
        isinstance(expiry, dict)
        and expiry.get("anchor") == "created_at"
        and isinstance(expiry.get("seconds"), int)
        and _MIN_EXPIRY <= expiry["seconds"] <= _MAX_EXPIRY
    ):
        return "output_expires_after", "Invalid 'output_expires_after'."
    return None
