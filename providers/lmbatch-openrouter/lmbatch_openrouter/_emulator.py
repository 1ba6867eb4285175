"""OpenRouter's Batch API for the local emulator (``lmbatch.testing.emulator``).

Routes under ``/api/v1``: ``POST /batches`` (202, ``validating``; refuses a body whose
``requests`` come before ``endpoint``/``model``), ``GET /batches/{id}`` (``results``
inline once terminal, unless ``inline_results=False``), ``GET /batches/{id}/results``
(``cursor`` pages with ``next_cursor``), ``GET /batches`` (``after``, ``limit``,
``status``) and ``DELETE /batches/{id}`` (409 unless terminal). There is no cancel
route, as at OpenRouter. Request directives (``[[lmbatch:error=429]]``, ``expire``,
``malformed``, ``omit``, ``duplicate``) and operation faults (``create``, ``retrieve``,
``results``, ``list``, ``delete``) work as for the other vendors.

Built on the emulator host as it is: :func:`create_app` makes a Starlette app around an
:class:`EmulatorState`. Once the host takes vendor plugins, :class:`OpenRouterEmulator`
is what the plugin registers.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lmbatch.testing.emulator import EmulatorState, KeyFault, faults_in_text, instance_for

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["OpenRouterEmulator", "chat_answer", "create_app"]

ENDPOINTS = ("/v1/chat/completions", "/v1/responses", "/v1/messages", "/v1/embeddings")
TERMINAL = ("completed", "failed", "expired", "cancelled")
LIST_STATUSES = ("validating", "in_progress", "completed", "failed", "expired", "cancelled")
REFUSE_MARK = "[[refuse]]"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = [p.get("text") for p in content or [] if isinstance(p, dict)]
    return " ".join(p for p in parts if isinstance(p, str))


def chat_answer(body: dict[str, Any]) -> dict[str, Any]:
    """A deterministic chat completion for a chat body: echo, structured or tool call."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    users = [_text(m.get("content")) for m in messages if m.get("role") == "user"]
    user = users[-1] if users else ""
    message: dict[str, Any] = {"role": "assistant", "content": None}
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
        message["tool_calls"] = [
            {"id": "call_1", "type": "function", "function": {"name": forced, "arguments": args}}
        ]
        finish = "tool_calls"
    elif REFUSE_MARK in user:
        message["refusal"] = "I can't help with that."
    else:
        text = json.dumps(instance_for(schema, seed_text=user)) if schema else f"echo: {user}"
        limit = body.get("max_tokens")
        if isinstance(limit, int) and len(text) > limit * 4:
            text, finish = text[: limit * 4], "length"
        message["content"] = text
    prompt = sum(len(_text(m.get("content"))) for m in messages) // 4 + 1
    completion = len(json.dumps(message)) // 4
    return {
        "id": f"gen-{time.monotonic_ns()}",
        "object": "chat.completion",
        "model": body.get("model"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


@dataclass
class _Batch:
    """One emulated batch: its requests, lifecycle and results."""

    id: str
    endpoint: str
    model: str
    created_at: int
    requests: list[dict[str, Any]]
    faults: dict[str, KeyFault]
    status: str = "validating"
    polls: int = 0
    last_step_at: float = field(default_factory=time.monotonic)
    finalized_at: int | None = None
    results: list[Any] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def step(self) -> None:
        order = ["validating", "in_progress", "finalizing"]
        if self.status in order[:-1]:
            self.status = order[order.index(self.status) + 1]
        elif self.status == "finalizing":
            expiring = any(fault.expire for fault in self.faults.values())
            self._finish("expired" if expiring else "completed", ran=None)

    def expire(self, finished: int) -> None:
        if not self.terminal:
            self._finish("expired", ran=finished)

    def _finish(self, status: str, ran: int | None) -> None:
        self.results, done, failed = [], 0, 0
        for index, request in enumerate(self.requests):
            custom_id = request["custom_id"]
            fault = self.faults.get(custom_id, KeyFault())
            if fault.omit:
                continue
            item: dict[str, Any] = {"id": f"req_{index}", "custom_id": custom_id}
            if fault.expire or (ran is not None and index >= ran):
                item["response"] = None
                item["error"] = {
                    "type": "batch_expired",
                    "message": "The batch expired before this request ran.",
                    "param": None,
                }
            elif fault.error_status is not None:
                error = {
                    "message": "Emulated failure",
                    "type": "upstream_error",
                    "code": fault.error_status,
                }
                item["response"] = {
                    "status_code": fault.error_status,
                    "request_id": f"r{index}",
                    "body": {"error": error},
                }
                item["error"] = None
                failed += 1
            else:
                answer = chat_answer({"model": self.model, **request["body"]})
                item["response"] = {"status_code": 200, "request_id": f"r{index}", "body": answer}
                item["error"] = None
                done += 1
            if fault.malformed:
                item = {"id": item["id"], "custom_id": custom_id}  # neither response nor error
            self.results += [item, item] if fault.duplicate else [item]
        self.counts = {"total": len(self.requests), "completed": done, "failed": failed}
        self.status, self.finalized_at = status, int(time.time())

    def to_json(self, *, results: bool) -> dict[str, Any]:
        counts = self.counts or {"total": len(self.requests), "completed": 0, "failed": 0}
        body: dict[str, Any] = {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "model": self.model,
            "completion_window": "24h",
            "status": self.status,
            "created_at": self.created_at,
            "finalized_at": self.finalized_at,
            "expires_at": self.created_at + 86400,
            "provider": "emulated",
            "request_counts": counts,
            "usage": None,
            "error": None,
        }
        if results:
            body["results"] = self.results if self.terminal else None
        return body


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": status, "message": message}}, status_code=status)


class OpenRouterEmulator:
    """OpenRouter's batch routes over an emulator state.

    Args:
        state: The shared emulator state (settings, faults, lock, clock).
        inline_results: Put ``results`` in a terminal batch object (the older API); with
            False only ``GET /batches/{id}/results`` serves them.
        results_page_size: Results per page of ``GET /batches/{id}/results``.
        max_requests: Requests one batch may hold.
        max_body_bytes: Bytes one create body may hold.
    """

    name = "openrouter"
    base_path = "/api/v1"
    operations = frozenset({"create", "retrieve", "results", "list", "delete"})

    def __init__(
        self,
        state: EmulatorState,
        *,
        inline_results: bool = True,
        results_page_size: int = 100,
        max_requests: int = 5_000,
        max_body_bytes: int = 200 * 1024 * 1024,
    ) -> None:
        self.state = state
        self.inline_results = inline_results
        self.results_page_size = results_page_size
        self.max_requests = max_requests
        self.max_body_bytes = max_body_bytes
        self.batches: dict[str, _Batch] = {}

    def routes(self) -> list[Route]:
        """The Starlette routes."""
        base = self.base_path + "/batches"
        return [
            Route(base, self.create, methods=["POST"]),
            Route(base, self.list_batches, methods=["GET"]),
            Route(base + "/{batch_id}", self.retrieve, methods=["GET"]),
            Route(base + "/{batch_id}", self.delete, methods=["DELETE"]),
            Route(base + "/{batch_id}/results", self.results, methods=["GET"]),
        ]

    def jobs(self) -> list[_Batch]:
        """Every batch, for lifecycle driving."""
        with self.state.lock:
            return list(self.batches.values())

    def finish(self) -> None:
        """Run every batch to its end."""
        for job in self.jobs():
            while not job.terminal:
                job.step()

    async def _guarded(
        self, request: Request, operation: str, action: Callable[[], Awaitable[Response]]
    ) -> Response:
        if self.state.settings.require_auth:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return _error(401, "No auth credentials found")
        fault = self.state.faults.check(cast(Any, self.name), operation)
        if fault is not None and not fault.after_effect:
            return _error(fault.status, "Emulated fault")
        response = await action()
        return _error(fault.status, "Emulated fault") if fault is not None else response

    def _find(self, request: Request) -> _Batch | None:
        with self.state.lock:
            return self.batches.get(request.path_params["batch_id"])

    async def create(self, request: Request) -> Response:
        """``POST /batches``."""

        async def action() -> Response:
            raw = await request.body()
            if len(raw) > self.max_body_bytes:
                return _error(413, "Batch body exceeds 200 MB")
            try:
                pairs = json.loads(raw, object_pairs_hook=list)
            except ValueError:
                return _error(400, "Body is not JSON")
            keys = [key for key, _ in pairs] if isinstance(pairs, list) else []
            if "requests" in keys and any(
                name not in keys[: keys.index("requests")] for name in ("endpoint", "model")
            ):
                return _error(400, "'endpoint' and 'model' must appear before 'requests'")
            body = json.loads(raw)
            problem = self._check(body)
            if problem:
                return _error(400, problem)
            batch_id = self.state.batch_id("batch_", lambda: f"batch_{time.time_ns():x}")
            batch = _Batch(
                id=batch_id,
                endpoint=body["endpoint"],
                model=body["model"],
                created_at=int(self.state.now()),
                requests=body["requests"],
                faults={
                    r["custom_id"]: self.state.faults.for_key(
                        r["custom_id"], faults_in_text(json.dumps(r["body"]))
                    )
                    for r in body["requests"]
                },
            )
            with self.state.lock:
                self.batches[batch_id] = batch
                self.state.create_calls += 1
            self.state.count_submissions(r["custom_id"] for r in body["requests"])
            return JSONResponse(batch.to_json(results=False), status_code=202)

        return await self._guarded(request, "create", action)

    def _check(self, body: Any) -> str | None:
        if not isinstance(body, dict) or body.get("endpoint") not in ENDPOINTS:
            return f"'endpoint' must be one of {', '.join(ENDPOINTS)}"
        if not isinstance(body.get("model"), str) or body.get("completion_window", "24h") != "24h":
            return "'model' is required and 'completion_window' must be '24h'"
        requests = body.get("requests")
        if not isinstance(requests, list) or not 1 <= len(requests) <= self.max_requests:
            return f"'requests' must hold 1 to {self.max_requests} requests"
        seen: set[str] = set()
        for request in requests:
            custom_id = request.get("custom_id") if isinstance(request, dict) else None
            if not isinstance(custom_id, str) or custom_id in seen:
                return "every request needs a unique 'custom_id'"
            seen.add(custom_id)
            inner = request.get("body")
            if not isinstance(inner, dict) or inner.get("model", body["model"]) != body["model"]:
                return f"request {custom_id}: 'body' must be an object of the batch's model"
        return None

    async def retrieve(self, request: Request) -> Response:
        """``GET /batches/{id}``: every poll may move the batch on (``polls`` mode)."""

        async def action() -> Response:
            batch = self._find(request)
            if batch is None:
                return _error(404, "Batch not found")
            with self.state.lock:
                if self.state.settings.mode == "polls" and not batch.terminal:
                    batch.polls += 1
                    if batch.polls >= self.state.settings.polls_per_step:
                        batch.polls = 0
                        batch.step()
                return JSONResponse(batch.to_json(results=self.inline_results))

        return await self._guarded(request, "retrieve", action)

    async def results(self, request: Request) -> Response:
        """``GET /batches/{id}/results?cursor=``."""

        async def action() -> Response:
            batch = self._find(request)
            if batch is None:
                return _error(404, "Batch not found")
            if not batch.terminal:
                return _error(409, "Batch has not finished")
            start = int(request.query_params.get("cursor") or 0)
            end = start + self.results_page_size
            more = end < len(batch.results)
            page = {"object": "list", "data": batch.results[start:end]}
            return JSONResponse({**page, "next_cursor": str(end) if more else None})

        return await self._guarded(request, "results", action)

    async def list_batches(self, request: Request) -> Response:
        """``GET /batches?after=&limit=&status=``, newest first, without results."""

        async def action() -> Response:
            query = request.query_params
            statuses = query.getlist("status")
            limit = int(query.get("limit") or 20)
            if not 1 <= limit <= 100 or any(s not in LIST_STATUSES for s in statuses):
                return _error(400, "Invalid 'limit' or 'status'")
            items = [b for b in reversed(self.jobs()) if not statuses or b.status in statuses]
            ids = [b.id for b in items]
            after = query.get("after")
            start = ids.index(after) + 1 if after in ids else 0
            page = [b.to_json(results=False) for b in items[start : start + limit]]
            return JSONResponse(
                {
                    "object": "list",
                    "data": page,
                    "first_id": page[0]["id"] if page else None,
                    "last_id": page[-1]["id"] if page else None,
                    "has_more": start + limit < len(items),
                }
            )

        return await self._guarded(request, "list", action)

    async def delete(self, request: Request) -> Response:
        """``DELETE /batches/{id}``: only terminal batches (409 otherwise)."""

        async def action() -> Response:
            batch = self._find(request)
            if batch is None:
                return _error(404, "Batch not found")
            if not batch.terminal:
                return _error(409, "Only batches in a terminal status can be deleted")
            with self.state.lock:
                del self.batches[batch.id]
            return JSONResponse({"id": batch.id, "object": "batch.deleted", "deleted": True})

        return await self._guarded(request, "delete", action)


async def _not_routed(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return _error(status, f"Unknown request URL: {request.method} {request.url.path}")


def create_app(state: EmulatorState, **options: Any) -> Starlette:
    """A Starlette app serving :class:`OpenRouterEmulator` (``app.state.openrouter``)."""
    vendor = OpenRouterEmulator(state, **options)
    app = Starlette(routes=vendor.routes(), exception_handlers={404: _not_routed, 405: _not_routed})
    app.state.emulator = state
    app.state.openrouter = vendor
    return app
