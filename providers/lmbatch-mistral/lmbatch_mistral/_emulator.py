"""Mistral's Batch API for the local emulator (``lmbatch.testing.emulator``).

Routes: ``POST /v1/files`` (multipart, purpose ``batch``), ``GET /v1/files/{id}/content``,
``DELETE /v1/files/{id}``, ``POST /v1/batch/jobs`` (``input_files`` or inline
``requests``, ``endpoint``, ``model``, ``metadata``, ``timeout_hours``), ``GET
/v1/batch/jobs`` (``page``, ``page_size``, ``status``, ``metadata``), ``GET
/v1/batch/jobs/{id}`` and ``POST /v1/batch/jobs/{id}/cancel``. Jobs go ``QUEUED`` →
``RUNNING`` → ``SUCCESS`` (``TIMEOUT_EXCEEDED`` when a request is scripted to
``expire``; ``CANCELLATION_REQUESTED`` → ``CANCELLED``); answers are written to an
output file, failures to an error file. Request directives and operation faults
(``upload``, ``create``, ``retrieve``, ``list``, ``cancel``, ``content``) work as for
the other vendors.

Built on the emulator host as it is: :func:`create_app` makes a Starlette app around an
:class:`EmulatorState`; :class:`MistralEmulator` is what the plugin registers once the
host takes vendor plugins.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from lmbatch.testing.emulator import EmulatorState, KeyFault, faults_in_text, instance_for

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

__all__ = ["MistralEmulator", "create_app"]

TERMINAL = ("SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED")
STATUSES = ("QUEUED", "RUNNING", *TERMINAL, "CANCELLATION_REQUESTED")
ENDPOINTS = ("/v1/chat/completions", "/v1/embeddings", "/v1/fim/completions", "/v1/moderations")


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = [p.get("text") for p in content or [] if isinstance(p, dict)]
    return " ".join(p for p in parts if isinstance(p, str))


def chat_answer(body: dict[str, Any]) -> dict[str, Any]:
    """A deterministic Mistral chat completion: echo, structured output or a tool call."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    users = [_text(m.get("content")) for m in messages if m.get("role") == "user"]
    user = users[-1] if users else ""
    message: dict[str, Any] = {"role": "assistant", "content": "", "tool_calls": None}
    finish = "stop"
    tools = {
        t["function"]["name"]: t["function"].get("parameters") or {}
        for t in body.get("tools") or []
        if isinstance(t, dict) and isinstance(t.get("function"), dict)
    }
    choice = body.get("tool_choice")
    forced = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
    if choice in ("required", "any") and tools:
        forced = next(iter(tools))
    schema = (body.get("response_format") or {}).get("json_schema", {}).get("schema")
    if forced in tools:
        args = json.dumps(instance_for(tools[forced], seed_text=user))
        call = {"id": "call1", "type": "function", "function": {"name": forced, "arguments": args}}
        message["tool_calls"], finish = [call], "tool_calls"
    else:
        text = json.dumps(instance_for(schema, seed_text=user)) if schema else f"echo: {user}"
        limit = body.get("max_tokens")
        if isinstance(limit, int) and len(text) > limit * 4:
            text, finish = text[: limit * 4], "length"
        message["content"] = text
    prompt = sum(len(_text(m.get("content"))) for m in messages) // 4 + 1
    completion = len(json.dumps(message)) // 4
    return {
        "id": uuid.uuid4().hex,
        "object": "chat.completion",
        "model": body.get("model"),
        "created": int(time.time()),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def _error(status: int, message: str) -> JSONResponse:
    kind = "invalid_request_error" if status < 500 else "internal_error"
    body = {"object": "error", "message": message, "type": kind, "param": None, "code": None}
    return JSONResponse(body, status_code=status)


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
            self.status, self.started_at = "RUNNING", int(time.time())
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
        out: list[str] = []
        err: list[str] = []
        for index, request in enumerate(self.requests[:ran]):
            custom_id = request["custom_id"]
            fault = self.faults.get(custom_id, KeyFault())
            if fault.omit or fault.expire:
                continue
            line: dict[str, Any] = {"id": f"r{index}", "custom_id": custom_id, "error": None}
            if fault.error_status is not None:
                body = {"object": "error", "message": "Emulated failure", "type": "api_error"}
                line["response"] = {"status_code": fault.error_status, "body": body}
            else:
                body = chat_answer({"model": self.model, **request["body"]})
                line["response"] = {"status_code": 200, "body": body}
            text = json.dumps(line)
            text = text[: len(text) // 2] if fault.malformed else text
            target = err if fault.error_status is not None else out
            target += [text, text] if fault.duplicate else [text]
            self.counts[1 if fault.error_status is not None else 0] += 1
        for kind, lines in (("output_file", out), ("error_file", err)):
            if lines:
                self.files[kind] = self.write(f"{self.id}_{kind}.jsonl", "\n".join(lines) + "\n")
        self.status, self.completed_at = status, int(time.time())

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


class MistralEmulator:
    """Mistral's batch and file routes over an emulator state.

    Args:
        state: The shared emulator state (settings, faults, lock, storage, clock).
    """

    name = "mistral"
    operations = frozenset(
        {"upload", "content", "delete_file", "create", "retrieve", "list", "cancel"}
    )

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.jobs_by_id: dict[str, _Job] = {}
        self.files: dict[str, tuple[str, Path]] = {}

    def routes(self) -> list[Route]:
        """The Starlette routes."""
        return [
            Route("/v1/files", self.upload, methods=["POST"]),
            Route("/v1/files/{file_id}/content", self.content, methods=["GET"]),
            Route("/v1/files/{file_id}", self.delete_file, methods=["DELETE"]),
            Route("/v1/batch/jobs", self.create, methods=["POST"]),
            Route("/v1/batch/jobs", self.list_jobs, methods=["GET"]),
            Route("/v1/batch/jobs/{job_id}", self.retrieve, methods=["GET"]),
            Route("/v1/batch/jobs/{job_id}/cancel", self.cancel, methods=["POST"]),
        ]

    def jobs(self) -> list[_Job]:
        """Every job, oldest first, for lifecycle driving."""
        with self.state.lock:
            return list(self.jobs_by_id.values())

    def finish(self) -> None:
        """Run every job to its end."""
        for job in self.jobs():
            while not job.terminal:
                job.step()

    def _write(self, name: str, content: str) -> str:
        path = self.state.new_path(".jsonl")
        path.write_text(content, encoding="utf-8")
        file_id = str(uuid.uuid4())
        with self.state.lock:
            self.files[file_id] = (name, path)
        return file_id

    async def _guarded(
        self, request: Request, operation: str, action: Callable[[], Awaitable[Response]]
    ) -> Response:
        if self.state.settings.require_auth:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return _error(401, "Unauthorized")
        fault = self.state.faults.check(cast(Any, self.name), operation)
        if fault is not None and not fault.after_effect:
            return _error(fault.status, "Emulated fault")
        response = await action()
        return _error(fault.status, "Emulated fault") if fault is not None else response

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
                    return _error(422, "'file' and a valid 'purpose' are required")
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

        return await self._guarded(request, "upload", action)

    async def content(self, request: Request) -> Response:
        """``GET /v1/files/{id}/content``."""

        async def action() -> Response:
            found = self.files.get(request.path_params["file_id"])
            if found is None:
                return _error(404, "File not found")
            return FileResponse(found[1], media_type="application/octet-stream")

        return await self._guarded(request, "content", action)

    async def delete_file(self, request: Request) -> Response:
        """``DELETE /v1/files/{id}``."""

        async def action() -> Response:
            file_id = request.path_params["file_id"]
            with self.state.lock:
                if self.files.pop(file_id, None) is None:
                    return _error(404, "File not found")
            return JSONResponse({"id": file_id, "object": "file", "deleted": True})

        return await self._guarded(request, "delete_file", action)

    async def create(self, request: Request) -> Response:
        """``POST /v1/batch/jobs``: ``input_files`` or inline ``requests``."""

        async def action() -> Response:
            body = await request.json()
            if body.get("endpoint") not in ENDPOINTS:
                return _error(422, f"'endpoint' must be one of {', '.join(ENDPOINTS)}")
            requests = body.get("requests")
            files = body.get("input_files")
            if bool(requests) == bool(files):
                return _error(422, "give either 'input_files' or 'requests'")
            if files:
                requests = []
                for file_id in files:
                    if file_id not in self.files:
                        return _error(404, f"File {file_id} not found")
                    text = self.files[file_id][1].read_text(encoding="utf-8")
                    requests += [json.loads(line) for line in text.splitlines() if line.strip()]
            hours = body.get("timeout_hours", 24)
            metadata = body.get("metadata") or {}
            if (
                not isinstance(hours, int)
                or hours < 1
                or not all(isinstance(v, str) for v in metadata.values())
            ):
                return _error(422, "'timeout_hours' must be >= 1 and metadata values strings")
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
                timeout_hours=hours,
            )
            with self.state.lock:
                self.jobs_by_id[job.id] = job
                self.state.create_calls += 1
            self.state.count_submissions(r["custom_id"] for r in requests)
            return JSONResponse(job.to_json())

        return await self._guarded(request, "create", action)

    async def retrieve(self, request: Request) -> Response:
        """``GET /v1/batch/jobs/{id}``: in ``polls`` mode every poll may move it on."""

        async def action() -> Response:
            job = self.jobs_by_id.get(request.path_params["job_id"])
            if job is None:
                return _error(404, "Batch job not found")
            with self.state.lock:
                if self.state.settings.mode == "polls" and not job.terminal:
                    job.polls += 1
                    if job.polls >= self.state.settings.polls_per_step:
                        job.polls = 0
                        job.step()
                return JSONResponse(job.to_json())

        return await self._guarded(request, "retrieve", action)

    async def list_jobs(self, request: Request) -> Response:
        """``GET /v1/batch/jobs?page=&page_size=&status=&metadata=``, newest first."""

        async def action() -> Response:
            query = request.query_params
            page, size = int(query.get("page") or 0), int(query.get("page_size") or 100)
            statuses = query.getlist("status")
            wanted = json.loads(query.get("metadata") or "{}")
            jobs = [
                job
                for job in reversed(self.jobs())
                if (not statuses or job.status in statuses)
                and all(job.metadata.get(k) == v for k, v in wanted.items())
            ]
            data = [job.to_json() for job in jobs[page * size : (page + 1) * size]]
            return JSONResponse({"object": "list", "data": data, "total": len(jobs)})

        return await self._guarded(request, "list", action)

    async def cancel(self, request: Request) -> Response:
        """``POST /v1/batch/jobs/{id}/cancel``."""

        async def action() -> Response:
            job = self.jobs_by_id.get(request.path_params["job_id"])
            if job is None:
                return _error(404, "Batch job not found")
            with self.state.lock:
                if not job.terminal:
                    job.status = "CANCELLATION_REQUESTED"
                return JSONResponse(job.to_json())

        return await self._guarded(request, "cancel", action)


async def _not_routed(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return _error(status, f"Unknown request URL: {request.method} {request.url.path}")


def create_app(state: EmulatorState) -> Starlette:
    """A Starlette app serving :class:`MistralEmulator` (``app.state.mistral``)."""
    vendor = MistralEmulator(state)
    app = Starlette(routes=vendor.routes(), exception_handlers={404: _not_routed, 405: _not_routed})
    app.state.emulator = state
    app.state.mistral = vendor
    return app
