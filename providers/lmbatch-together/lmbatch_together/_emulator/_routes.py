"""The Together vendor of the emulator, under ``/together`` (a client's base URL).

Uploads take the SDK's three steps: ``POST /v1/files`` answers 302 with a signed URL
and ``X-Together-File-Id``, the client ``PUT``s the bytes there, then ``POST
/v1/files/{id}/preprocess`` returns the file.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmbatch_openai._emulator._http import new_openai_request_id, openai_auth_error, openai_error
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from lmbatch.testing.emulator import EmulatorState, EmulatorVendor, Job, RunProgress
from lmbatch_together._emulator._jobs import TogetherJob, check_input

OPERATIONS = frozenset({"upload", "content", "delete_file", "create", "retrieve", "list", "cancel"})
PURPOSES = ("fine-tune", "calibration", "eval", "batch-api")
ENDPOINTS = ("/v1/chat/completions", "/v1/audio/transcriptions", "/v1/audio/translations")
PREFIX = "/together"


@dataclass
class TogetherEmulatorOptions:
    """Limits of the emulated Together Batch API (``EmulatorSettings(together_...=)``).

    Attributes:
        max_requests: Requests allowed in one batch input file.
        max_file_bytes: Bytes allowed in one batch input file.
    """

    max_requests: int = 50_000
    max_file_bytes: int = 100 * 1024 * 1024


@dataclass
class _File:
    id: str
    filename: str
    purpose: str
    path: Path
    created_at: int
    uploaded: bool = False

    def to_json(self) -> dict[str, Any]:
        size = self.path.stat().st_size if self.path.exists() else 0
        return {
            "id": self.id,
            "object": "file",
            "bytes": size,
            "created_at": self.created_at,
            "filename": self.filename,
            "FileType": "jsonl",
            "purpose": self.purpose,
            "processing_status": "COMPLETED",
        }


class TogetherEmulator(EmulatorVendor[TogetherEmulatorOptions]):
    """The Together Files + Batches API, as the emulator serves it."""

    name = "together"
    title = "Together AI"
    base_path = PREFIX
    path_prefixes = (PREFIX + "/",)
    operations = OPERATIONS
    options_class = TogetherEmulatorOptions

    def __init__(self, state: EmulatorState, options: TogetherEmulatorOptions) -> None:
        super().__init__(state, options)
        self.files: dict[str, _File] = {}
        self.batches: dict[str, TogetherJob] = {}

    def error_response(self, status: int, message: str | None = None) -> Response:
        """An error in the OpenAI-style envelope Together uses."""
        return openai_error(status, message)

    def auth_error(self, request: Request) -> Response | None:
        """401 without a bearer key (when the emulator requires keys)."""
        if request.url.path.startswith(PREFIX + "/upload/"):
            return None  # a signed URL carries no key
        return openai_auth_error(request, self.state.settings.require_auth)

    def jobs(self) -> Iterable[Job]:
        """Every batch job."""
        return self.batches.values()

    def reset(self) -> None:
        """Forget every file and job."""
        with self.state.lock:
            for record in self.files.values():
                record.path.unlink(missing_ok=True)
            self.files.clear()
            self.batches.clear()

    def routes(self) -> list[BaseRoute]:
        """The Starlette routes, under ``/together``."""
        v1 = PREFIX + "/v1"
        return [
            Route(v1 + "/files", self.upload, methods=["POST"]),
            Route(PREFIX + "/upload/{file_id}", self.put_bytes, methods=["PUT"]),
            Route(v1 + "/files/{file_id}/preprocess", self.preprocess, methods=["POST"]),
            Route(v1 + "/files/{file_id}/content", self.content, methods=["GET"]),
            Route(v1 + "/files/{file_id}", self.delete_file, methods=["DELETE"]),
            Route(v1 + "/batches", self.create, methods=["POST"]),
            Route(v1 + "/batches", self.list, methods=["GET"]),
            Route(v1 + "/batches/{batch_id}", self.retrieve, methods=["GET"]),
            Route(v1 + "/batches/{batch_id}/cancel", self.cancel, methods=["POST"]),
        ]

    def _add_file(self, filename: str, path: Path, purpose: str = "batch-api") -> str:
        record = _File(f"file-{uuid.uuid4()}", filename, purpose, path, int(self.state.now()))
        record.uploaded = True
        with self.state.lock:
            self.files[record.id] = record
        return record.id

    def _file(self, file_id: str) -> _File | None:
        with self.state.lock:
            return self.files.get(file_id)

    # files -------------------------------------------------------------------------------

    async def upload(self, request: Request) -> Response:
        """``POST /v1/files``: 302 to a signed upload URL, naming the new file's id."""

        async def action() -> Response:
            async with request.form() as form:
                purpose, name = form.get("purpose"), form.get("file_name")
            if purpose not in PURPOSES or not isinstance(name, str) or not name:
                return openai_error(400, f"Invalid purpose {purpose!r} or file_name.")
            record = _File(
                f"file-{uuid.uuid4()}", name, str(purpose), self.state.new_path(".upload"), 0
            )
            with self.state.lock:
                self.files[record.id] = record
            location = str(request.base_url).rstrip("/") + f"{PREFIX}/upload/{record.id}"
            headers = {"Location": location, "X-Together-File-Id": record.id}
            return Response(status_code=302, headers=headers)

        return await self.guarded(request, "upload", action)

    async def put_bytes(self, request: Request) -> Response:
        """``PUT`` to the signed URL: the file's bytes (part of the upload)."""
        record = self._file(request.path_params["file_id"])
        if record is None:
            return Response(status_code=404)
        with record.path.open("wb") as out:
            async for chunk in request.stream():
                out.write(chunk)
        return Response(status_code=200)

    async def preprocess(self, request: Request) -> Response:
        """``POST /v1/files/{id}/preprocess``: the uploaded file, ready."""
        file_id = request.path_params["file_id"]

        async def action() -> Response:
            record = self._file(file_id)
            if record is None or not record.path.exists():
                return openai_error(404, f"File {file_id} not found.")
            record.uploaded, record.created_at = True, int(self.state.now())
            return _json(record.to_json())

        return await self.guarded(request, "upload", action)

    async def content(self, request: Request) -> Response:
        """``GET /v1/files/{id}/content``: the raw bytes."""
        file_id = request.path_params["file_id"]

        async def action() -> Response:
            record = self._file(file_id)
            if record is None or not record.uploaded:
                return openai_error(404, f"File {file_id} not found.")
            return FileResponse(record.path, media_type="application/octet-stream")

        return await self.guarded(request, "content", action)

    async def delete_file(self, request: Request) -> Response:
        """``DELETE /v1/files/{id}``."""
        file_id = request.path_params["file_id"]

        async def action() -> Response:
            with self.state.lock:
                record = self.files.pop(file_id, None)
            if record is None:
                return openai_error(404, f"File {file_id} not found.")
            record.path.unlink(missing_ok=True)
            return _json({"id": file_id, "object": "file", "deleted": True})

        return await self.guarded(request, "delete_file", action)

    # batches -----------------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        """``POST /v1/batches``: ``{"job": {...}, "warning": null}``."""
        self.state.count_create_call()

        async def action() -> Response:
            try:
                body = json.loads(await request.body())
            except ValueError:
                return openai_error(400, "The request body is not JSON.")
            if not isinstance(body, dict) or body.get("endpoint") not in ENDPOINTS:
                return openai_error(400, "Invalid or missing 'endpoint'.", param="endpoint")
            record = self._file(str(body.get("input_file_id")))
            if record is None or not record.uploaded:
                return openai_error(404, "Input file not found.", param="input_file_id")
            if record.purpose != "batch-api":
                return openai_error(400, "The input file's purpose must be 'batch-api'.")
            await self.state.slow_create()
            job = self._new_job(body, record.path)
            await self.state.slow_create()
            return _json({"job": job.to_json(), "warning": None})

        return await self.guarded(request, "create", action)

    def _new_job(self, body: dict[str, Any], input_path: Path) -> TogetherJob:
        private = self.state.private_copy(input_path)
        check = check_input(private, self.options.max_requests, self.options.max_file_bytes)
        job = TogetherJob(
            input_file_id=str(body["input_file_id"]),
            endpoint=str(body["endpoint"]),
            model_id=body.get("model_id"),
            priority=body.get("priority"),
            input_path=private,
            check=check,
            faults=self.state.faults,
            cancel_fraction=self.state.settings.cancel_finished_fraction,
            new_path=self.state.new_path,
            add_file=self._add_file,
            clock=self.state.now,
            id=self.state.batch_id("batch-", lambda: str(uuid.uuid4())),
            # At least two running steps, as before progress_steps: 50 % between them.
            run=RunProgress(max(2, self.state.settings.progress_steps)),
        )
        with self.state.lock:
            self.batches[job.id] = job
            if check.error is None:
                self.state.count_submissions(check.custom_ids)
        return job

    async def list(self, request: Request) -> Response:
        """``GET /v1/batches``: every job, one array, oldest first (no pages)."""

        async def action() -> Response:
            with self.state.lock:
                return _json([job.to_json() for job in self.batches.values()])

        return await self.guarded(request, "list", action)

    def _job(self, batch_id: str) -> TogetherJob | None:
        with self.state.lock:
            return self.batches.get(batch_id)

    async def retrieve(self, request: Request) -> Response:
        """``GET /v1/batches/{id}``; in ``"polls"`` mode this is what moves a job."""
        batch_id = request.path_params["batch_id"]

        async def action() -> Response:
            job = self._job(batch_id)
            if job is None:
                return openai_error(404, f"Batch job {batch_id} not found.")
            self.state.polled(job)
            with self.state.lock:
                return _json(job.to_json())

        return await self.guarded(request, "retrieve", action)

    async def cancel(self, request: Request) -> Response:
        """``POST /v1/batches/{id}/cancel``."""
        batch_id = request.path_params["batch_id"]

        async def action() -> Response:
            job = self._job(batch_id)
            if job is None:
                return openai_error(404, f"Batch job {batch_id} not found.")
            with self.state.lock:
                if not job.cancel():
                    return openai_error(409, f"Cannot cancel a job with status {job.status}.")
                return _json(job.to_json())

        return await self.guarded(request, "cancel", action)


def _json(body: Any) -> JSONResponse:
    return JSONResponse(body, headers={"x-request-id": new_openai_request_id()})
