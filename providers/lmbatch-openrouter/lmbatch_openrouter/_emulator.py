"""OpenRouter's Batch API for the local emulator (``lmbatch.testing.emulator``).

Registered by the plugin (``lmbatch_openrouter._plugin``) through the
``lmbatch_register_emulator_vendors`` hook. Its routes live under ``/openrouter`` (beside
the other vendors'), so clients use ``emu.openrouter_base_url`` (``…/openrouter/api/v1``,
the API root as at OpenRouter).

Routes (after ``/openrouter``): ``POST /api/v1/batches`` (202, ``validating``; refuses a
body whose ``requests`` come before ``endpoint``/``model``), ``GET /api/v1/batches/{id}``
(``results`` inline once terminal, unless the option ``inline_results`` is off), ``GET
/api/v1/batches/{id}/results`` (``cursor`` pages with ``next_cursor``), ``GET
/api/v1/batches`` (``after``, ``limit``, ``status``) and ``DELETE /api/v1/batches/{id}``
(409 unless terminal). There is no cancel route, as at OpenRouter. Auth, the clock,
request directives and operation faults (``create``, ``retrieve``, ``results``,
``list``, ``delete``) come from the host.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from lmbatch_openai import emulated_chat_completion
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from lmbatch.testing.emulator import (
    EmulatorState,
    EmulatorVendor,
    Job,
    KeyFault,
    RequestRejected,
    RunProgress,
    faults_in_text,
    hex_id,
)

__all__ = ["OpenRouterEmulator", "OpenRouterEmulatorOptions"]

ENDPOINTS = ("/v1/chat/completions", "/v1/responses", "/v1/messages", "/v1/embeddings")
TERMINAL = ("completed", "failed", "expired", "cancelled")
LIST_STATUSES = ("validating", "in_progress", "completed", "failed", "expired", "cancelled")
_BASE = "/openrouter/api/v1/batches"


@dataclass
class OpenRouterEmulatorOptions:
    """Options of the emulated OpenRouter Batch API.

    Set them as ``EmulatorSettings(openrouter_inline_results=False)`` and the like.

    Attributes:
        inline_results: Put ``results`` in a terminal batch object (the older API); with
            False only ``GET /batches/{id}/results`` serves them.
        results_page_size: Results per page of ``GET /batches/{id}/results``.
        max_requests: Requests one batch may hold.
        max_body_bytes: Bytes one create body may hold.
    """

    inline_results: bool = True
    results_page_size: int = 100
    max_requests: int = 5_000
    max_body_bytes: int = 200 * 1024 * 1024


@dataclass
class _Batch:
    """One emulated batch: its requests, lifecycle and results."""

    id: str
    endpoint: str
    model: str
    created_at: int
    requests: list[dict[str, Any]]
    faults: dict[str, KeyFault]
    clock: Callable[[], float]
    run: RunProgress = field(default_factory=RunProgress)
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
        if self.status == "in_progress" and not self.run.step():
            # The share done so far (the results themselves are made at the end).
            faults = [self.faults.get(r["custom_id"], KeyFault()) for r in self.requests]
            faults = [fault for fault in faults if not fault.omit]  # never counted
            done, failed = self.run.counts(faults, lambda fault: fault)
            self.counts = {"total": len(self.requests), "completed": done, "failed": failed}
        elif self.status in order[:-1]:
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
            item: dict[str, Any] = {"id": f"req_{index}", "custom_id": custom_id, "error": None}
            if fault.expire or (ran is not None and index >= ran):
                item["response"] = None
                item["error"] = {
                    "type": "batch_expired",
                    "message": "The batch expired before this request ran.",
                    "param": None,
                }
            else:
                item["response"], item["error"] = _answer(self.model, request["body"], fault)
                ok = item["error"] is None
                done, failed = done + ok, failed + (not ok)
            if item["response"] is not None:
                item["response"]["request_id"] = f"r{index}"
            if fault.malformed:
                item = {"id": item["id"], "custom_id": custom_id}  # neither response nor error
            self.results += [item, item] if fault.duplicate else [item]
        self.counts = {"total": len(self.requests), "completed": done, "failed": failed}
        self.status, self.finalized_at = status, int(self.clock())

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
        # Always there (the SDK's BatchObject and BatchListItem require it): null until
        # the batch ends, and where results are served by page only (or in a list).
        body["results"] = self.results if results and self.terminal else None
        return body


def _answer(
    model: str, body: dict[str, Any], fault: KeyFault
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """``(response, error)`` of one request: the emulated chat completion, or a failure.

    A failure is an ``error`` item, as the official SDK types it (``ResultError``: a
    ``response`` body is always a success), with the canonical ``error_type`` of its
    HTTP status.
    """
    try:
        if fault.error_status is not None:
            raise RequestRejected(fault.error_status, "Emulated failure")
        answer = emulated_chat_completion({"model": model, **body})
        for choice in answer.get("choices") or []:  # the upstream's own word (required)
            choice.setdefault("native_finish_reason", choice.get("finish_reason"))
        return {"status_code": 200, "body": answer}, None
    except RequestRejected as exc:
        fallback = "server" if exc.status >= 500 else "invalid_request"
        kind = _ERROR_TYPES.get(exc.status, fallback)
        error = {"message": exc.message, "param": None, "type": "upstream_error"}
        return None, {**error, "error_type": kind}


#: Canonical ``error_type`` (the SDK's ``APIErrorType``) of an upstream HTTP status.
_ERROR_TYPES = {
    400: "invalid_request",
    401: "authentication",
    402: "payment_required",
    403: "permission_denied",
    404: "not_found",
    408: "timeout",
    413: "payload_too_large",
    422: "unprocessable",
    429: "rate_limit_exceeded",
    502: "provider_unavailable",
    503: "provider_overloaded",
    504: "timeout",
}


def _create_problem(body: Any, max_requests: int) -> str | None:
    if not isinstance(body, dict) or body.get("endpoint") not in ENDPOINTS:
        return f"'endpoint' must be one of {', '.join(ENDPOINTS)}"
    if not isinstance(body.get("model"), str) or body.get("completion_window", "24h") != "24h":
        return "'model' is required and 'completion_window' must be '24h'"
    requests = body.get("requests")
    if not isinstance(requests, list) or not 1 <= len(requests) <= max_requests:
        return f"'requests' must hold 1 to {max_requests} requests"
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


class OpenRouterEmulator(EmulatorVendor[OpenRouterEmulatorOptions]):
    """OpenRouter's batch routes, as the emulator serves them.

    Its record: ``batches`` (reachable as ``emulator.state.openrouter_batches`` too).

    Args:
        state: The emulator state this instance serves.
        options: Its options.
    """

    name = "openrouter"
    title = "OpenRouter"
    base_path = "/openrouter/api/v1"
    path_prefixes = ("/openrouter/",)
    operations = frozenset({"create", "retrieve", "results", "list", "delete"})
    options_class = OpenRouterEmulatorOptions
    bearer_auth_message = "No auth credentials found"

    def __init__(self, state: EmulatorState, options: OpenRouterEmulatorOptions) -> None:
        super().__init__(state, options)
        self.batches: dict[str, _Batch] = {}

    def routes(self) -> list[BaseRoute]:
        """The Starlette routes under ``/openrouter/api/v1/batches``."""
        return [
            Route(_BASE, self.create, methods=["POST"]),
            Route(_BASE, self.list_batches, methods=["GET"]),
            Route(_BASE + "/{batch_id}", self.retrieve, methods=["GET"]),
            Route(_BASE + "/{batch_id}", self.delete, methods=["DELETE"]),
            Route(_BASE + "/{batch_id}/results", self.results, methods=["GET"]),
        ]

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        """OpenRouter's error: ``{"error": {"code", "message"}}``."""
        return {"error": {"code": status, "message": message}}

    def jobs(self) -> Iterable[Job]:
        """Every batch."""
        return self.batches.values()

    def reset(self) -> None:
        """Forget every batch."""
        with self.state.lock:
            self.batches.clear()

    def _find(self, request: Request) -> _Batch | None:
        with self.state.lock:
            return self.batches.get(request.path_params["batch_id"])

    async def create(self, request: Request) -> Response:
        """``POST /batches``."""
        self.state.count_create_call()

        async def action() -> Response:
            raw = await request.body()
            if len(raw) > self.options.max_body_bytes:
                return self.error_response(413, "Batch body exceeds 200 MB")
            try:
                pairs = json.loads(raw, object_pairs_hook=list)
            except ValueError:
                return self.error_response(400, "Body is not JSON")
            keys = [key for key, _ in pairs] if isinstance(pairs, list) else []
            if "requests" in keys and any(
                name not in keys[: keys.index("requests")] for name in ("endpoint", "model")
            ):
                return self.error_response(
                    400, "'endpoint' and 'model' must appear before 'requests'"
                )
            body = json.loads(raw)
            problem = _create_problem(body, self.options.max_requests)
            if problem:
                return self.error_response(400, problem)
            await self.state.slow_create()
            batch = _Batch(
                id=self.state.batch_id("batch_", lambda: hex_id("batch_")),
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
                clock=self.state.now,
                run=self.state.run_progress(),
            )
            with self.state.lock:
                self.batches[batch.id] = batch
            self.state.count_submissions(r["custom_id"] for r in body["requests"])
            await self.state.slow_create()
            return JSONResponse(batch.to_json(results=False), status_code=202)

        return await self.guarded(request, "create", action)

    async def retrieve(self, request: Request) -> Response:
        """``GET /batches/{id}``: in ``polls`` mode every poll may move the batch on."""

        async def action() -> Response:
            batch = self._find(request)
            if batch is None:
                return self.error_response(404, "Batch not found")
            self.state.polled(batch)
            with self.state.lock:
                return JSONResponse(batch.to_json(results=self.options.inline_results))

        return await self.guarded(request, "retrieve", action)

    async def results(self, request: Request) -> Response:
        """``GET /batches/{id}/results?cursor=``."""

        async def action() -> Response:
            batch = self._find(request)
            if batch is None:
                return self.error_response(404, "Batch not found")
            if not batch.terminal:
                return self.error_response(409, "Batch has not finished")
            start = int(request.query_params.get("cursor") or 0)
            end = start + self.options.results_page_size
            more = end < len(batch.results)
            page = {"object": "list", "data": batch.results[start:end]}
            return JSONResponse({**page, "next_cursor": str(end) if more else None})

        return await self.guarded(request, "results", action)

    async def list_batches(self, request: Request) -> Response:
        """``GET /batches?after=&limit=&status=``, newest first, without results."""

        async def action() -> Response:
            query = request.query_params
            statuses = query.getlist("status")
            limit = int(query.get("limit") or 20)
            if not 1 <= limit <= 100 or any(s not in LIST_STATUSES for s in statuses):
                return self.error_response(400, "Invalid 'limit' or 'status'")
            with self.state.lock:
                batches = list(reversed(self.batches.values()))
            items = [b for b in batches if not statuses or b.status in statuses]
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

        return await self.guarded(request, "list", action)

    async def delete(self, request: Request) -> Response:
        """``DELETE /batches/{id}``: only terminal batches (409 otherwise)."""

        async def action() -> Response:
            batch = self._find(request)
            if batch is None:
                return self.error_response(404, "Batch not found")
            if not batch.terminal:
                return self.error_response(409, "Only batches in a terminal status can be deleted")
            with self.state.lock:
                del self.batches[batch.id]
            return JSONResponse({"id": batch.id, "object": "batch.deleted", "deleted": True})

        return await self.guarded(request, "delete", action)
