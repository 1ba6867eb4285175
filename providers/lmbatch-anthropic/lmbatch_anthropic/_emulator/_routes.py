"""The Anthropic vendor of the emulator: ``/v1/messages/batches``, ``/v1/messages/count_tokens``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from lmbatch.testing.emulator import NO_FAULT, EmulatorState, EmulatorVendor, Job, faults_in_text
from lmbatch_anthropic._emulator._http import (
    anthropic_auth_error,
    anthropic_error,
    anthropic_fault,
    anthropic_id,
    anthropic_json,
    new_anthropic_request_id,
)
from lmbatch_anthropic._emulator._jobs import AnthropicBatch, BatchRequest, params_problem
from lmbatch_anthropic._emulator._responder import message_input_tokens

#: What ``POST /v1/messages/count_tokens`` takes (the SDK's ``messages.count_tokens``).
MESSAGES_COUNT_FIELDS = frozenset(
    {
        "cache_control",
        "messages",
        "model",
        "output_config",
        "speed",
        "system",
        "thinking",
        "tool_choice",
        "tools",
    }
)
OPERATIONS = frozenset(
    {"create", "retrieve", "list", "cancel", "delete", "results", "count_tokens"}
)
"""Operation names of the Anthropic vendor, as `EndpointFault.operation` names them."""
CUSTOM_ID_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_BASE = "/v1/messages/batches"


@dataclass
class AnthropicEmulatorOptions:
    """Limits of the emulated Message Batches API.

    Set them as ``EmulatorSettings(anthropic_max_requests=...)`` or
    ``EmulatorSettings(vendor_options={"anthropic": {...}})``.

    Attributes:
        max_requests: Requests allowed in one batch.
        max_body_bytes: Bytes allowed in one create body.
    """

    max_requests: int = 100_000
    max_body_bytes: int = 256 * 1024 * 1024


class AnthropicEmulator(EmulatorVendor[AnthropicEmulatorOptions]):
    """The Anthropic Message Batches API, as the emulator serves it.

    Its record: ``batches`` (reachable as ``emulator.state.anthropic_batches`` too).

    Args:
        state: The emulator state this instance serves.
        options: Its limits.
    """

    name = "anthropic"
    title = "Anthropic"
    base_path = ""  # the SDK adds /v1 itself
    path_prefixes = ("/v1/messages",)
    operations = OPERATIONS
    options_class = AnthropicEmulatorOptions

    def __init__(self, state: EmulatorState, options: AnthropicEmulatorOptions) -> None:
        super().__init__(state, options)
        self.batches: dict[str, AnthropicBatch] = {}

    def error_response(self, status: int, message: str | None = None) -> Response:
        """An Anthropic error envelope, its ``request_id`` repeated from the header."""
        return anthropic_error(status, message or "Error")

    def fault_response(self, status: int) -> Response:
        """The vendor's usual message for a scripted failure (overloaded, rate limit...)."""
        return anthropic_fault(status)

    def auth_error(self, request: Request) -> Response | None:
        """401 without a key (when required); 400 without ``anthropic-version``, always."""
        return anthropic_auth_error(request, self.state.settings.require_auth)

    def jobs(self) -> Iterable[Job]:
        """Every batch."""
        return self.batches.values()

    def reset(self) -> None:
        """Forget every batch."""
        with self.state.lock:
            self.batches.clear()

    def routes(self) -> list[BaseRoute]:
        """The Starlette routes under ``/v1/messages/batches``."""
        return [
            Route(_BASE, self.create, methods=["POST"]),
            Route(_BASE, self.list, methods=["GET"]),
            Route(_BASE + "/{batch_id}", self.retrieve, methods=["GET"]),
            Route(_BASE + "/{batch_id}", self.delete, methods=["DELETE"]),
            Route(_BASE + "/{batch_id}/cancel", self.cancel, methods=["POST"]),
            Route(_BASE + "/{batch_id}/results", self.results, methods=["GET"]),
            Route("/v1/messages/count_tokens", self.count_tokens, methods=["POST"]),
        ]

    async def count_tokens(self, request: Request) -> Response:
        """``POST /v1/messages/count_tokens``: the input tokens the answer's usage reports.

        The count is the one the emulator's answers report as ``usage.input_tokens``.
        ``model`` and ``messages`` are required and fields the endpoint does not take
        (``max_tokens``, ``temperature``, ...) are refused, as the vendor does.
        """

        async def action() -> Response:
            try:
                body = json.loads(await request.body())
            except ValueError:
                return anthropic_error(
                    400, "There was an issue with the request body: invalid JSON."
                )
            if not isinstance(body, dict):
                return anthropic_error(400, "The request body must be a JSON object.")
            for field in ("model", "messages"):
                if field not in body:
                    return anthropic_error(400, f"{field}: Field required")
            unknown = sorted(set(body) - MESSAGES_COUNT_FIELDS)
            if unknown:
                return anthropic_error(400, f"{unknown[0]}: Extra inputs are not permitted")
            if not isinstance(body["messages"], list) or not body["messages"]:
                return anthropic_error(400, "messages: at least one message is required")
            return anthropic_json({"input_tokens": message_input_tokens(body)})

        return await self.guarded(request, "count_tokens", action)

    def _batch(self, batch_id: str) -> AnthropicBatch | None:
        with self.state.lock:
            return self.batches.get(batch_id)

    @staticmethod
    def _missing(batch_id: str) -> Response:
        return anthropic_error(404, f"Message batch '{batch_id}' not found.")

    async def create(self, request: Request) -> Response:
        """``POST /v1/messages/batches``: the outer shape is validated synchronously."""
        self.state.count_create_call()

        async def action() -> Response:
            raw = await request.body()
            if len(raw) > self.options.max_body_bytes:
                return anthropic_error(413, "Request exceeds the maximum allowed number of bytes.")
            try:
                body = json.loads(raw)
            except ValueError:
                return anthropic_error(
                    400, "There was an issue with the request body: invalid JSON."
                )
            requests = body.get("requests") if isinstance(body, dict) else None
            problem = self._requests_problem(requests)
            if problem is not None:
                return anthropic_error(400, problem)
            assert isinstance(requests, list)
            await self.state.slow_create()
            scan = b"[[lmbatch:" in raw  # skip the per-request scan when no directive exists
            batch = AnthropicBatch(
                id=self.state.batch_id("msgbatch_", lambda: anthropic_id("msgbatch_")),
                requests=[
                    BatchRequest(
                        r["custom_id"],
                        r["params"],
                        faults_in_text(json.dumps(r["params"])) if scan else NO_FAULT,
                    )
                    for r in requests
                ],
                faults=self.state.faults,
                cancel_fraction=self.state.settings.cancel_finished_fraction,
                progress_steps=self.state.settings.progress_steps,
                results_path=self.state.new_path(".results.jsonl"),
                clock=self.state.now,
            )
            with self.state.lock:
                self.batches[batch.id] = batch
                self.state.count_submissions(r.custom_id for r in batch.requests)
            await self.state.slow_create()
            with self.state.lock:
                return anthropic_json(batch.to_json(str(request.base_url)))

        return await self.guarded(request, "create", action)

    def _requests_problem(self, requests: Any) -> str | None:
        if not isinstance(requests, list):
            return "requests: Field required"
        if not requests:
            return "requests: List should have at least 1 item after validation, not 0"
        limit = self.options.max_requests
        if len(requests) > limit:
            return (
                f"requests: List should have at most {limit} items after validation, "
                f"not {len(requests)}"
            )
        seen: set[str] = set()
        for index, item in enumerate(requests):
            custom_id = item.get("custom_id") if isinstance(item, dict) else None
            if not isinstance(custom_id, str) or not CUSTOM_ID_RE.match(custom_id):
                return (
                    f"requests.{index}.custom_id: String should match pattern "
                    "'^[a-zA-Z0-9_-]{1,64}$'"
                )
            if custom_id in seen:
                return (
                    f"requests.{index}.custom_id: Duplicate custom_id '{custom_id}'. Each request "
                    "in a batch must have a unique custom_id."
                )
            seen.add(custom_id)
            problem = params_problem(index, item.get("params"))
            if problem is not None:
                return problem
        return None

    async def list(self, request: Request) -> Response:
        """``GET /v1/messages/batches``: newest first; ``before_id``/``after_id``/``limit``."""

        async def action() -> Response:
            try:
                limit = int(request.query_params.get("limit", "20"))
            except ValueError:
                limit = 0
            if not 1 <= limit <= 1000:
                return anthropic_error(400, "limit: Input should be between 1 and 1000")
            base = str(request.base_url)
            with self.state.lock:
                items = [b.to_json(base) for b in reversed(self.batches.values())]
            return anthropic_json(_page(items, request, limit))

        return await self.guarded(request, "list", action)

    async def retrieve(self, request: Request) -> Response:
        """``GET /v1/messages/batches/{id}``; in ``"polls"`` mode this moves the batch."""
        batch_id = request.path_params["batch_id"]

        async def action() -> Response:
            batch = self._batch(batch_id)
            if batch is None:
                return self._missing(batch_id)
            self.state.polled(batch)
            with self.state.lock:
                return anthropic_json(batch.to_json(str(request.base_url)))

        return await self.guarded(request, "retrieve", action)

    async def cancel(self, request: Request) -> Response:
        """``POST …/{id}/cancel``: in_progress → canceling; refused once ended."""
        batch_id = request.path_params["batch_id"]

        async def action() -> Response:
            batch = self._batch(batch_id)
            if batch is None:
                return self._missing(batch_id)
            with self.state.lock:
                if not batch.cancel():
                    return anthropic_error(
                        400, f"Message batch '{batch_id}' has already ended and cannot be canceled."
                    )
                return anthropic_json(batch.to_json(str(request.base_url)))

        return await self.guarded(request, "cancel", action)

    async def delete(self, request: Request) -> Response:
        """``DELETE …/{id}``: only once the batch has ended."""
        batch_id = request.path_params["batch_id"]

        async def action() -> Response:
            with self.state.lock:
                batch = self.batches.get(batch_id)
                if batch is None:
                    return self._missing(batch_id)
                if not batch.terminal:
                    return anthropic_error(
                        400,
                        f"Message batch '{batch_id}' cannot be deleted while it is still "
                        "processing. Cancel it first.",
                    )
                del self.batches[batch_id]
            batch.results_path.unlink(missing_ok=True)
            return anthropic_json({"id": batch_id, "type": "message_batch_deleted"})

        return await self.guarded(request, "delete", action)

    async def results(self, request: Request) -> Response:
        """``GET …/{id}/results``: the JSONL results, streamed from disk, once ended."""
        batch_id = request.path_params["batch_id"]

        async def action() -> Response:
            batch = self._batch(batch_id)
            if batch is None:
                return self._missing(batch_id)
            if not batch.terminal:
                return anthropic_error(
                    400, f"Message batch '{batch_id}' has not ended yet; results are not available."
                )
            return FileResponse(
                batch.results_path,
                media_type="application/x-jsonl",
                filename=f"{batch_id}_results.jsonl",
                headers={"request-id": new_anthropic_request_id()},
            )

        return await self.guarded(request, "results", action)


def _page(items: list[dict[str, Any]], request: Request, limit: int) -> dict[str, Any]:
    """A page in newest-first order around the ``after_id`` / ``before_id`` cursor."""
    ids = [item["id"] for item in items]
    after = request.query_params.get("after_id")
    before = request.query_params.get("before_id")
    if before is not None:
        end = ids.index(before) if before in ids else 0
        start = max(0, end - limit)
        data, has_more = items[start:end], start > 0
    else:
        start = 0
        if after is not None:
            start = ids.index(after) + 1 if after in ids else len(items)
        data, has_more = items[start : start + limit], start + limit < len(items)
    return {
        "data": data,
        "has_more": has_more,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }
