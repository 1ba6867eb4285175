"""Groq's batch API for the lmbatch emulator: the OpenAI routes under ``/groq/openai/v1``.

What differs from OpenAI: ``completion_window`` from ``24h`` to ``7d`` (and ``expires_at``
follows it), chat completions only, batch objects with ``project_id`` and without
``usage`` or ``model``, a list that is one page (no ``limit``, ``after`` or
``has_more``), and chat bodies with ``x_groq``, ``service_tier`` and timing fields in
``usage`` (plus ``reasoning`` when asked for with ``reasoning_format``); and ``GET
/models/{model}`` for any model, where lmbatch reads Groq's clock.
"""

from __future__ import annotations

import re
from typing import Any

from lmbatch_openai._emulator import OpenAIEmulator
from lmbatch_openai._emulator._http import openai_json
from lmbatch_openai._emulator._jobs import OpenAIBatch
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lmbatch.testing.emulator import hex_id

#: Every window Groq accepts: 24 to 168 hours, or 1 to 7 days.
WINDOWS = frozenset({f"{hours}h" for hours in range(24, 169)} | {f"{d}d" for d in range(1, 8)})
PROJECT_ID = "project_01lmbatchemulator000000"


def window_seconds(window: str) -> int:
    """Seconds of a ``24h``..``7d`` window."""
    found = re.fullmatch(r"(\d+)([hd])", window)
    if found is None:
        return 86400
    return int(found[1]) * (3600 if found[2] == "h" else 86400)


class GroqEmulator(OpenAIEmulator):
    """Groq's Files + Batches API, as the emulator serves it."""

    name = "groq"
    title = "Groq"
    route_prefix = "/groq/openai"
    base_path = "/groq/openai/v1"
    path_prefixes = ("/groq/",)
    completion_windows = WINDOWS
    batch_endpoints = frozenset({"/v1/chat/completions"})
    counts_tokens = False
    operations = OpenAIEmulator.operations | {"retrieve_model"}

    def routes(self) -> list[BaseRoute]:
        """OpenAI's routes and Groq's ``GET /models/{model}``, where lmbatch reads its clock."""
        path = self.route_prefix + "/v1/models/{model:path}"
        return [*super().routes(), Route(path, self.retrieve_model, methods=["GET"])]

    async def retrieve_model(self, request: Request) -> Response:
        """Any model's description, with Groq's fields."""

        async def action() -> Response:
            described = {"id": request.path_params["model"], "object": "model"}
            return openai_json({**described, "created": 1693721698, "owned_by": "Meta"})

        return await self.guarded(request, "retrieve_model", action)

    def batch_json(self, batch: OpenAIBatch) -> dict[str, Any]:
        """OpenAI's object with ``project_id``, no ``usage``/``model``, the window's expiry."""
        body = {k: v for k, v in batch.to_json().items() if k not in ("usage", "model")}
        body["project_id"] = PROJECT_ID
        body["expires_at"] = batch.created_at + window_seconds(batch.completion_window)
        return body

    async def list(self, request: Request) -> Response:
        """``GET /openai/v1/batches``: every batch, newest first, in one ``{object, data}``.

        Groq's list takes no ``limit`` or ``after`` (the ``groq`` SDK sends none) and
        answers no ``has_more``/``first_id``/``last_id``.
        """

        async def action() -> Response:
            with self.state.lock:
                batches = [self.batch_json(b) for b in reversed(self.batches.values())]
            return openai_json({"object": "list", "data": batches})

        return await self.guarded(request, "list", action)

    def respond(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        """A chat completion as Groq writes it."""
        answer = super().respond(url, body)
        usage = answer.get("usage") or {}
        usage.pop("completion_tokens_details", None)
        usage.pop("prompt_tokens_details", None)
        timing = {"queue_time": 0.0213, "prompt_time": 0.0041, "completion_time": 0.0168}
        usage.update(timing, total_time=round(timing["prompt_time"] + timing["completion_time"], 4))
        if body.get("reasoning_format") == "parsed":
            for choice in answer["choices"]:
                choice["message"]["reasoning"] = "Thinking it over."
        answer.update(
            service_tier="batch",
            system_fingerprint="fp_lmbatch_emulator",
            x_groq={"id": hex_id("req_01", 24)},
        )
        return answer
