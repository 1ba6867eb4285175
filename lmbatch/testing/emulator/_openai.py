"""The OpenAI half: ``/v1/files`` and ``/v1/batches``."""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from lmbatch.testing.emulator._guard import guarded
from lmbatch.testing.emulator._http import new_openai_request_id, openai_error, openai_json
from lmbatch.testing.emulator._ids import hex_id
from lmbatch.testing.emulator._openai_jobs import OpenAIBatch, check_input
from lmbatch.testing.emulator._state import EmulatorState

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


class OpenAIRoutes:
    """Request handlers of the OpenAI half.

    Args:
        state: The shared emulator state.
    """

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        """The Starlette routes, all under ``/v1``."""
        return [
            Route("/v1/files", self.upload, methods=["POST"]),
            Route("/v1/files", self.list_files, methods=["GET"]),
            Route("/v1/files/{file_id}", self.retrieve_file, methods=["GET"]),
            Route("/v1/files/{file_id}", self.delete_file, methods=["DELETE"]),
            Route("/v1/files/{file_id}/content", self.content, methods=["GET"]),
            Route("/v1/batches", self.create, methods=["POST"]),
            Route("/v1/batches", self.list, methods=["GET"]),
            Route("/v1/batches/{batch_id}", self.retrieve, methods=["GET"]),
            Route("/v1/batches/{batch_id}/cancel", self.cancel, methods=["POST"]),
        ]

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
                path = self.state.new_path(".upload")
                size = 0
                with path.open("wb") as out:
                    while chunk := await upload.read(_CHUNK):
                        size += len(chunk)
                        if size > self.state.settings.openai_max_upload_bytes:
                            break
                        out.write(chunk)
                if size > self.state.settings.openai_max_upload_bytes:
                    path.unlink()
                    return openai_error(413, "File is too large.", param="file")
                if seconds is None and purpose == "batch":
                    seconds = _MAX_EXPIRY  # batch files expire after 30 days by default
                now = int(self.state.now())
                expires_at = now + seconds if seconds is not None else None
                file_id = self.state.add_file(
                    upload.filename or "upload.jsonl", path, expires_at, purpose=str(purpose)
                )
                return openai_json(self.state.files[file_id].to_json())

        return await guarded(self.state, request, "openai", "upload", action)

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
                    for f in self.state.files.values()
                    if purpose is None or f.purpose == purpose
                ]
            if order == "desc":
                records.reverse()
            return openai_json(_page(records, request.query_params.get("after"), limit))

        return await guarded(self.state, request, "openai", "list_files", action)

    def _file_missing(self, file_id: str) -> Response:
        return openai_error(404, f"No such File object: {file_id}", param="id")

    async def retrieve_file(self, request: Request) -> Response:
        """``GET /v1/files/{file_id}``."""
        file_id = request.path_params["file_id"]

        async def action() -> Response:
            with self.state.lock:
                record = self.state.files.get(file_id)
            if record is None:
                return self._file_missing(file_id)
            return openai_json(record.to_json())

        return await guarded(self.state, request, "openai", "retrieve_file", action)

    async def delete_file(self, request: Request) -> Response:
        """``DELETE /v1/files/{file_id}``."""
        file_id = request.path_params["file_id"]

        async def action() -> Response:
            with self.state.lock:
                record = self.state.files.pop(file_id, None)
            if record is None:
                return self._file_missing(file_id)
            record.path.unlink(missing_ok=True)
            return openai_json({"id": file_id, "object": "file", "deleted": True})

        return await guarded(self.state, request, "openai", "delete_file", action)

    async def content(self, request: Request) -> Response:
        """``GET /v1/files/{file_id}/content``: the raw bytes, streamed from disk."""
        file_id = request.path_params["file_id"]

        async def action() -> Response:
            with self.state.lock:
                record = self.state.files.get(file_id)
            if record is None:
                return self._file_missing(file_id)
            return FileResponse(
                record.path,
                media_type="application/octet-stream",
                filename=record.filename,
                headers={"x-request-id": new_openai_request_id()},
            )

        return await guarded(self.state, request, "openai", "content", action)

    # batches -----------------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        """``POST /v1/batches``: validates the input file now, reports it on later polls."""
        with self.state.lock:
            self.state.create_calls += 1

        async def action() -> Response:
            try:
                body = json.loads(await request.body())
            except ValueError:
                return openai_error(400, "We could not parse the JSON body of your request.")
            problem = _create_problem(body)
            if problem is not None:
                return openai_error(400, problem[1], param=problem[0])
            with self.state.lock:
                record = self.state.files.get(body["input_file_id"])
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
            return openai_json(batch.to_json())

        return await guarded(self.state, request, "openai", "create", action)

    def _new_batch(self, body: dict[str, Any], input_path: Any) -> OpenAIBatch:
        settings = self.state.settings
        private = self.state.private_copy(input_path)
        check = check_input(
            private, body["endpoint"], settings.openai_max_requests, settings.openai_max_file_bytes
        )
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
            cancel_fraction=settings.cancel_finished_fraction,
            new_path=self.state.new_path,
            add_file=self.state.add_file,
            clock=self.state.now,
        )
        with self.state.lock:
            self.state.openai_batches[batch.id] = batch
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
                batches = [b.to_json() for b in reversed(self.state.openai_batches.values())]
            return openai_json(_page(batches, request.query_params.get("after"), limit))

        return await guarded(self.state, request, "openai", "list", action)

    def _batch(self, batch_id: str) -> OpenAIBatch | None:
        with self.state.lock:
            return self.state.openai_batches.get(batch_id)

    async def retrieve(self, request: Request) -> Response:
        """``GET /v1/batches/{batch_id}``; in ``"polls"`` mode this is what moves a batch."""
        batch_id = request.path_params["batch_id"]

        async def action() -> Response:
            batch = self._batch(batch_id)
            if batch is None:
                return openai_error(404, f"No batch found with id '{batch_id}'.")
            self.state.polled(batch)
            with self.state.lock:
                return openai_json(batch.to_json())

        return await guarded(self.state, request, "openai", "retrieve", action)

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
                return openai_json(batch.to_json())

        return await guarded(self.state, request, "openai", "cancel", action)


def _create_problem(body: Any) -> tuple[str | None, str] | None:
    """(param, message) of the first problem with a create body, or None."""
    if not isinstance(body, dict):
        return None, "The request body must be a JSON object."
    for name in ("input_file_id", "endpoint", "completion_window"):
        if not isinstance(body.get(name), str):
            return name, f"Missing required parameter: '{name}'."
    if body["endpoint"] not in SPEC_ENDPOINTS:
        return "endpoint", f"Invalid value for 'endpoint': {body['endpoint']!r}."
    if body["endpoint"] not in EMULATED_ENDPOINTS:
        return "endpoint", f"The lmbatch emulator does not serve {body['endpoint']}."
    if body["completion_window"] != "24h":
        return (
            "completion_window",
            "Invalid value for 'completion_window': only '24h' is supported.",
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
