"""Mistral's Batch API for the local emulator (``lmbatch.testing.emulator``).

Registered by the plugin (``lmbatch_mistral._plugin``) through the
``lmbatch_register_emulator_vendors`` hook. Its routes live under ``/mistral`` (OpenAI's
own ``/v1/files`` is served beside them), so clients use ``emu.mistral_base_url``
(``…/mistral``; the SDK adds ``/v1``).

Routes: ``POST /v1/files`` (multipart, purpose ``batch``), ``GET /v1/files/{id}/content``,
``DELETE /v1/files/{id}``, ``POST /v1/batch/jobs`` (``input_files`` or inline
``requests``, ``endpoint``, ``model``, ``metadata``, ``timeout_hours``), ``GET
/v1/batch/jobs`` (``page``, ``page_size``, ``status``, ``metadata``), ``GET
/v1/batch/jobs/{id}`` and ``POST /v1/batch/jobs/{id}/cancel``. Jobs go ``QUEUED`` →
``RUNNING`` → ``SUCCESS`` (``TIMEOUT_EXCEEDED`` when a request is scripted to
``expire``; ``CANCELLATION_REQUESTED`` → ``CANCELLED``); answers are written to an
output file, failures to an error file. Auth, the clock, request directives and
operation faults (``upload``, ``content``, ``delete_file``, ``create``, ``retrieve``,
``list``, ``cancel``) come from the host.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmbatch_openai import emulated_chat_completion
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from lmbatch.testing.emulator import (
    EmulatorState,
    EmulatorVendor,
    Job,
    KeyFault,
    RequestRejected,
    RunProgress,
    faults_in_text,
    write_result_line,
)

__all__ = ["MistralEmulator"]

TERMINAL = ("SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED")
ENDPOINTS = ("/v1/chat/completions", "/v1/embeddings", "/v1/fim/completions", "/v1/moderations")
_ROOT = "/mistral/v1"


def _answer(model: str | None, body: dict[str, Any], fault: KeyFault) -> dict[str, Any]:
    """The ``response`` of one request: the emulated chat completion, or a Mistral error."""
    try:
        if fault.error_status is not None:
            raise RequestRejected(fault.error_status, "Emulated failure")
        return {"status_code": 200, "body": emulated_chat_completion({"model": model, **body})}
    except RequestRejected as exc:
        error = {"object": "error", "message": exc.message, "type": "api_error"}
        return {"status_code": exc.status, "body": error}


@dataclass
class _Job:
    """One emulated batch job."""

    id: str
    model: str | None
    endpoint: str
    input_files: list[str]
    requests: list[dict[str, Any]]
    metadata: dict[str, str]
    created_at: int
    faults: dict[str, KeyFault]
    write: Callable[[str, str], str]  # (file name, content) -> file id
    cancel_fraction: float
    clock: Callable[[], float]
    run: RunProgress = field(default_factory=RunProgress)
    timeout_hours: int = 24
    status: str = "QUEUED"
    polls: int = 0
    last_step_at: float = field(default_factory=time.monotonic)
    started_at: int | None = None
    completed_at: int | None = None
    counts: list[int] = field(default_factory=lambda: [0, 0])
    files: dict[str, str | None] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def step(self) -> None:
        if self.status == "QUEUED":
            self.status, self.started_at = "RUNNING", int(self.clock())
        elif self.status == "RUNNING" and not self.run.step():
            # The share done so far (the results themselves are made at the end).
            faults = [self.faults.get(r["custom_id"], KeyFault()) for r in self.requests]
            faults = [fault for fault in faults if not fault.omit]  # never counted
            self.counts = list(self.run.counts(faults, lambda fault: fault))
        elif self.status == "RUNNING":
            late = any(fault.expire for fault in self.faults.values())
            self._finish("TIMEOUT_EXCEEDED" if late else "SUCCESS", len(self.requests))
        elif self.status == "CANCELLATION_REQUESTED":
            ran = int(len(self.requests) * self.cancel_fraction) if self.started_at else 0
            self._finish("CANCELLED", ran)

    def expire(self, finished: int) -> None:
        if not self.terminal:
            self._finish("TIMEOUT_EXCEEDED", finished)

    def _finish(self, status: str, ran: int) -> None:
        self.counts = [0, 0]  # counted again from the answers
        out, err = io.StringIO(), io.StringIO()
        for index, request in enumerate(self.requests[:ran]):
            custom_id = request["custom_id"]
            fault = self.faults.get(custom_id, KeyFault())
            if fault.expire:
                continue
            response = _answer(self.model, request["body"], fault)
            line = {"id": f"r{index}", "custom_id": custom_id, "response": response, "error": None}
            failed = response["status_code"] != 200
            write_result_line(err if failed else out, line, fault)
            self.counts[failed] += not fault.omit
        for kind, lines in (("output_file", out), ("error_file", err)):
            if lines.getvalue():
                self.files[kind] = self.write(f"{self.id}_{kind}.jsonl", lines.getvalue())
        self.status, self.completed_at = status, int(self.clock())

    def to_json(self) -> dict[str, Any]:
        succeeded, failed = self.counts
        return {
            "id": self.id,
            "object": "batch",
            "input_files": self.input_files,
            "metadata": self.metadata,
            "endpoint": self.endpoint,
            "model": self.model,
            "output_file": self.files.get("output_file"),
            "error_file": self.files.get("error_file"),
            "errors": [],
            "status": self.status,
            "created_at": self.created_at,
            "total_requests": len(self.requests),
            "completed_requests": succeeded + failed,
            "succeeded_requests": succeeded,
            "failed_requests": failed,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
        }


class MistralEmulator(EmulatorVendor[None]):
    """Mistral's batch and file routes, as the emulator serves them.

    Its records: ``jobs_by_id`` and ``files`` (reachable as
    ``emulator.state.mistral_jobs_by_id`` and ``emulator.state.mistral_files`` too).

    Args:
        state: The emulator state this instance serves.
        options: None (the vendor takes no options).
    """

    name = "mistral"
    title = "Mistral"
    base_path = "/mistral"  # the SDK adds /v1 itself
    path_prefixes = ("/mistral/",)
    operations = frozenset(
        {"upload", "content", "delete_file", "create", "retrieve", "list", "cancel"}
    )
    bearer_auth_message = "Unauthorized"

    def __init__(self, state: EmulatorState, options: None) -> None:
        super().__init__(state, options)
        self.jobs_by_id: dict[str, _Job] = {}
        self.files: dict[str, tuple[str, Path]] = {}

    def routes(self) -> list[BaseRoute]:
        """The Starlette routes under ``/mistral/v1``."""
        return [
            Route(_ROOT + "/files", self.upload, methods=["POST"]),
            Route(_ROOT + "/files/{file_id}/content", self.content, methods=["GET"]),
            Route(_ROOT + "/files/{file_id}", self.delete_file, methods=["DELETE"]),
            Route(_ROOT + "/batch/jobs", self.create, methods=["POST"]),
            Route(_ROOT + "/batch/jobs", self.list_jobs, methods=["GET"]),
            Route(_ROOT + "/batch/jobs/{job_id}", self.retrieve, methods=["GET"]),
            Route(_ROOT + "/batch/jobs/{job_id}/cancel", self.cancel, methods=["POST"]),
        ]

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        """Mistral's error: ``{"object": "error", "message", "type", "param", "code"}``."""
        kind = "invalid_request_error" if status < 500 else "internal_error"
        return {"object": "error", "message": message, "type": kind, "param": None, "code": None}

    def jobs(self) -> Iterable[Job]:
        """Every job, oldest first."""
        return self.jobs_by_id.values()

    def reset(self) -> None:
        """Forget every job and file."""
        with self.state.lock:
            self.jobs_by_id.clear()
            self.files.clear()

    def _write(self, name: str, content: str) -> str:
        path = self.state.new_path(".jsonl")
        path.write_text(content, encoding="utf-8")
        file_id = str(uuid.uuid4())
        with self.state.lock:
            self.files[file_id] = (name, path)
        return file_id

    def _job(self, request: Request) -> _Job | None:
        with self.state.lock:
            return self.jobs_by_id.get(request.path_params["job_id"])

    async def upload(self, request: Request) -> Response:
        """``POST /v1/files``."""

        async def action() -> Response:
            async with request.form() as form:
                upload, purpose = form.get("file"), form.get("purpose")
                if not isinstance(upload, UploadFile) or purpose not in (
                    "batch",
                    "fine-tune",
                    "ocr",
                ):
                    return self.error_response(422, "'file' and a valid 'purpose' are required")
                content = (await upload.read()).decode("utf-8")
            file_id = self._write(upload.filename or "upload.jsonl", content)
            return JSONResponse(
                {
                    "id": file_id,
                    "object": "file",
                    "bytes": len(content.encode()),
                    "created_at": int(self.state.now()),
                    "filename": upload.filename,
                    "purpose": purpose,
                    "sample_type": "batch_request",
                    "source": "upload",
                    "num_lines": content.count("\n"),
                }
            )

        return await self.guarded(request, "upload", action)

    async def content(self, request: Request) -> Response:
        """``GET /v1/files/{id}/content``."""

        async def action() -> Response:
            with self.state.lock:
                found = self.files.get(request.path_params["file_id"])
            if found is None:
                return self.error_response(404, "File not found")
            return FileResponse(found[1], media_type="application/octet-stream")

        return await self.guarded(request, "content", action)

    async def delete_file(self, request: Request) -> Response:
        """``DELETE /v1/files/{id}``."""

        async def action() -> Response:
            file_id = request.path_params["file_id"]
            with self.state.lock:
                if self.files.pop(file_id, None) is None:
                    return self.error_response(404, "File not found")
            return JSONResponse({"id": file_id, "object": "file", "deleted": True})

        return await self.guarded(request, "delete_file", action)

    async def create(self, request: Request) -> Response:
        """``POST /v1/batch/jobs``: ``input_files`` or inline ``requests``."""
        self.state.count_create_call()

        async def action() -> Response:
            body = await request.json()
            if body.get("endpoint") not in ENDPOINTS:
                return self.error_response(422, f"'endpoint' must be one of {', '.join(ENDPOINTS)}")
            requests = body.get("requests")
            files = body.get("input_files")
            if bool(requests) == bool(files):
                return self.error_response(422, "give either 'input_files' or 'requests'")
            if files:
                requests = []
                for file_id in files:
                    if file_id not in self.files:
                        return self.error_response(404, f"File {file_id} not found")
                    text = self.files[file_id][1].read_text(encoding="utf-8")
                    requests += [json.loads(line) for line in text.splitlines() if line.strip()]
            hours = body.get("timeout_hours", 24)
            metadata = body.get("metadata") or {}
            if (
                not isinstance(hours, int)
                or hours < 1
                or not all(isinstance(v, str) for v in metadata.values())
            ):
                return self.error_response(
                    422, "'timeout_hours' must be >= 1 and metadata values strings"
                )
            await self.state.slow_create()
            job = _Job(
                id=str(uuid.uuid4()),
                model=body.get("model"),
                endpoint=body["endpoint"],
                input_files=list(files or []),
                requests=requests,
                metadata=metadata,
                created_at=int(self.state.now()),
                faults={
                    r["custom_id"]: self.state.faults.for_key(
                        r["custom_id"], faults_in_text(json.dumps(r["body"]))
                    )
                    for r in requests
                },
                write=self._write,
                cancel_fraction=self.state.settings.cancel_finished_fraction,
                clock=self.state.now,
                run=self.state.run_progress(),
                timeout_hours=hours,
            )
            with self.state.lock:
                self.jobs_by_id[job.id] = job
            self.state.count_submissions(r["custom_id"] for r in requests)
            await self.state.slow_create()
            return JSONResponse(job.to_json())

        return await self.guarded(request, "create", action)

    async def retrieve(self, request: Request) -> Response:
        """``GET /v1/batch/jobs/{id}``: in ``polls`` mode every poll may move it on."""

        async def action() -> Response:
            job = self._job(request)
            if job is None:
                return self.error_response(404, "Batch job not found")
            self.state.polled(job)
            with self.state.lock:
                return JSONResponse(job.to_json())

        return await self.guarded(request, "retrieve", action)

    async def list_jobs(self, request: Request) -> Response:
        """``GET /v1/batch/jobs?page=&page_size=&status=&metadata=``, newest first."""

        async def action() -> Response:
            query = request.query_params
            page, size = int(query.get("page") or 0), int(query.get("page_size") or 100)
            statuses = query.getlist("status")
            wanted = json.loads(query.get("metadata") or "{}")
            with self.state.lock:
                newest_first = list(reversed(self.jobs_by_id.values()))
            jobs = [
                job
                for job in newest_first
                if (not statuses or job.status in statuses)
                and all(job.metadata.get(k) == v for k, v in wanted.items())
            ]
            data = [job.to_json() for job in jobs[page * size : (page + 1) * size]]
            return JSONResponse({"object": "list", "data": data, "total": len(jobs)})

        return await self.guarded(request, "list", action)

    async def cancel(self, request: Request) -> Response:
        """``POST /v1/batch/jobs/{id}/cancel``."""

        async def action() -> Response:
            job = self._job(request)
            if job is None:
                return self.error_response(404, "Batch job not found")
            with self.state.lock:
                if not job.terminal:
                    job.status = "CANCELLATION_REQUESTED"
                return JSONResponse(job.to_json())

        return await self.guarded(request, "cancel", action)
