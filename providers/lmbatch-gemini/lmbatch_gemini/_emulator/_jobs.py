"""Emulated Gemini batches: the state machine, the results, the operation envelope.

A batch is ``PENDING``, then ``RUNNING`` (``progress_steps`` steps, its ``batchStats``
growing at each), then ``SUCCEEDED``. Its
results are written when it ends: inline (``response.inlinedResponses``, also under
``metadata.output``) for inline batches, a responses file (``files/batch-<id>``) for file
batches. Scripted faults (``[[lmbatch:...]]`` in a request, or by key) apply:
``error=NNN`` gives a ``google.rpc.Status`` result (``{"code": <gRPC code>, "message"}``),
``expire`` leaves the request unrun and ends the batch ``EXPIRED``, ``omit`` loses it,
``malformed`` breaks its result, ``duplicate`` writes it twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lmbatch.testing.emulator import FaultPlan, KeyFault, RunProgress
from lmbatch_gemini._emulator._responder import respond

__all__ = ["GRPC_CODES", "BatchRequest", "GeminiBatch", "rfc3339", "rpc_error"]

_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main."
#: HTTP status → gRPC code (``google/rpc/code.proto``), for per-request errors.
GRPC_CODES = {
    400: 3,
    401: 16,
    403: 7,
    404: 5,
    409: 10,
    429: 8,
    499: 1,
    500: 13,
    501: 12,
    503: 14,
    504: 4,
}
_MESSAGES = {
    4: "Deadline expired before operation could complete.",
    8: "Resource has been exhausted (e.g. check quota).",
    13: "An internal error has occurred.",
    14: "The service is currently unavailable.",
}


def rfc3339(ts: float) -> str:
    """A unix time as Google writes it (nanoseconds, ``Z``)."""
    moment = datetime.fromtimestamp(ts, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}123Z"


def rpc_error(status: int) -> dict[str, Any]:
    """The ``google.rpc.Status`` of a request scripted to fail with HTTP ``status``."""
    code = GRPC_CODES.get(status, 2 if status >= 500 else 9)
    return {"code": code, "message": _MESSAGES.get(code, f"Request failed (HTTP {status}).")}


@dataclass
class BatchRequest:
    """One request of a batch: its key (None when the input gave none) and body."""

    key: str | None
    request: dict[str, Any]
    text_fault: KeyFault
    problem: str | None = None  # an invalid request: an INVALID_ARGUMENT result


@dataclass
class GeminiBatch:
    """One emulated batch and everything needed to finish it."""

    id: str
    model: str
    display_name: str
    requests: list[BatchRequest]
    faults: FaultPlan
    cancel_fraction: float
    output_path: Path | None  # a file batch's responses file; None for inline batches
    input_file: str | None = None
    clock: Callable[[], float] = time.time
    run: RunProgress = field(default_factory=RunProgress)
    state_prefix: str = "BATCH_STATE_"
    results_in: str = "both"
    state: str = "PENDING"
    polls: int = 0
    last_step_at: float = field(default_factory=time.monotonic)
    created_at: float = 0.0
    updated_at: float = 0.0
    ended_at: float | None = None
    error: dict[str, Any] | None = None
    inline_results: list[dict[str, Any]] = field(default_factory=list)
    succeeded: int = 0
    failed: int = 0
    on_output: Callable[[GeminiBatch], None] | None = None

    def __post_init__(self) -> None:
        self.created_at = self.created_at or self.clock()
        self.updated_at = self.created_at

    @property
    def terminal(self) -> bool:
        """Whether the batch has ended."""
        return self.state in ("SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED")

    def _faults(self, request: BatchRequest) -> KeyFault:
        return self.faults.for_key(request.key or "", request.text_fault)

    @property
    def counted(self) -> list[BatchRequest]:
        """The requests Gemini knows of (the lost ones are not counted)."""
        return [r for r in self.requests if not self._faults(r).omit]

    # ------------------------------------------------------------------ lifecycle

    def step(self) -> None:
        """PENDING → RUNNING → SUCCEEDED (or EXPIRED, when requests were scripted to)."""
        if self.state == "PENDING":
            self._move("RUNNING")
        elif self.state == "RUNNING" and not self.run.step():
            # The share done so far (the results themselves are made at the end).
            self.succeeded, self.failed = self.run.counts(self.counted, self._faults)
            self._move("RUNNING")
        elif self.state == "RUNNING":
            expiring = [r for r in self.requests if self._faults(r).expire]
            ran = [r for r in self.requests if not self._faults(r).expire]
            self._end("EXPIRED" if expiring else "SUCCEEDED", ran)

    def cancel(self) -> None:
        """Cancel: a share of the requests (in input order) ran before it took effect."""
        if self.terminal:
            return
        done = int(len(self.requests) * self.cancel_fraction) if self.state == "RUNNING" else 0
        runnable = [r for r in self.requests if not self._faults(r).expire]
        self.error = {"code": 1, "message": "The batch was cancelled."}
        self._end("CANCELLED", runnable[:done])

    def expire(self, finished: int) -> None:
        """End as EXPIRED (pending or running for 48 h) with ``finished`` requests run."""
        if self.terminal:
            return
        runnable = [r for r in self.requests if not self._faults(r).expire]
        self._end("EXPIRED", runnable[:finished])

    def fail(self, code: int, message: str) -> None:
        """End as FAILED with this operation error and no results."""
        self.error = {"code": code, "message": message}
        self._end("FAILED", [])

    def _move(self, state: str) -> None:
        self.state = state
        self.updated_at = self.clock()

    def _end(self, state: str, ran: list[BatchRequest]) -> None:
        self.succeeded = self.failed = 0  # counted again from the results
        results: list[tuple[BatchRequest, dict[str, Any]]] = []
        for request in ran:
            fault = self._faults(request)
            if fault.omit:
                continue
            result = self._result(request, fault)
            if "error" in result:
                self.failed += 1
            else:
                self.succeeded += 1
            results.append((request, result))
        self._write(results)
        self._move(state)
        self.ended_at = self.updated_at

    def _result(self, request: BatchRequest, fault: KeyFault) -> dict[str, Any]:
        if request.problem is not None:
            return {"error": {"code": 3, "message": request.problem}}
        if fault.error_status is not None:
            return {"error": rpc_error(fault.error_status)}
        return {"response": respond(request.request, self.model.removeprefix("models/"))}

    def _write(self, results: list[tuple[BatchRequest, dict[str, Any]]]) -> None:
        if self.output_path is None:
            for request, result in results:
                fault = self._faults(request)
                entry = dict(result)
                if request.key is not None:
                    entry["metadata"] = {"key": request.key}
                if fault.malformed:  # an entry is part of one JSON document: it breaks
                    entry.pop("response", None)
                    entry.pop("error", None)
                self.inline_results.append(entry)
                if fault.duplicate:
                    self.inline_results.append(entry)
            return
        if not results:
            return  # nothing ran: no responses file
        with self.output_path.open("w", encoding="utf-8") as out:
            for request, result in results:
                fault = self._faults(request)
                line = json.dumps(
                    {"key": request.key, **result} if request.key is not None else result,
                    separators=(",", ":"),
                )
                if fault.malformed:
                    line = line[: max(1, len(line) // 2)]
                out.write(line + "\n")
                if fault.duplicate:
                    out.write(line + "\n")
        if self.on_output is not None:
            self.on_output(self)

    @property
    def output_file(self) -> str:
        """The responses file's name."""
        return f"files/batch-{self.id.removeprefix('batches/')}"

    # ------------------------------------------------------------------ envelope

    def _output(self) -> dict[str, Any] | None:
        if self.output_path is None:
            if not self.terminal or (not self.inline_results and self.state != "SUCCEEDED"):
                return None
            return {"inlinedResponses": {"inlinedResponses": self.inline_results}}
        if self.output_path.exists():
            return {"responsesFile": self.output_file}
        return None

    def to_json(self) -> dict[str, Any]:
        """The batch as Gemini's long-running operation."""
        stats = {
            "requestCount": len(self.counted),
            "successfulRequestCount": self.succeeded,
            "failedRequestCount": self.failed,
            "pendingRequestCount": 0
            if self.terminal
            else len(self.counted) - self.succeeded - self.failed,
        }
        metadata: dict[str, Any] = {
            "@type": _TYPE + "GenerateContentBatch",
            "model": self.model,
            "displayName": self.display_name,
            "createTime": rfc3339(self.created_at),
            "updateTime": rfc3339(self.updated_at),
            # int64 as JSON strings; zeros left out, as proto3 JSON does.
            "batchStats": {name: str(value) for name, value in stats.items() if value},
            "state": self.state_prefix + self.state,
            "name": self.id,
        }
        if self.input_file is not None:
            metadata["inputConfig"] = {"fileName": self.input_file}
        if self.ended_at is not None:
            metadata["endTime"] = rfc3339(self.ended_at)
        operation: dict[str, Any] = {"name": self.id, "metadata": metadata}
        output = self._output()
        if output is not None and self.results_in in ("metadata", "both"):
            metadata["output"] = output
        if self.terminal:
            operation["done"] = True
            if self.error is not None:
                operation["error"] = self.error
            if output is not None and self.results_in in ("response", "both"):
                operation["response"] = {"@type": _TYPE + "GenerateContentBatchOutput", **output}
        return operation
