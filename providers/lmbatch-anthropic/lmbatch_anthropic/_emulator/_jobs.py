"""Anthropic message-batch records: the status machine and the results file."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmbatch.testing.emulator import (
    NO_FAULT,
    FaultPlan,
    KeyFault,
    RequestRejected,
    RunProgress,
    runnable_prefix,
    write_result_line,
)
from lmbatch_anthropic._emulator._http import (
    anthropic_error_object,
    new_anthropic_request_id,
    rfc3339,
)
from lmbatch_anthropic._emulator._responder import message_body

_KINDS = ("processing", "succeeded", "errored", "canceled", "expired")


@dataclass
class BatchRequest:
    """One request of a message batch."""

    custom_id: str
    params: dict[str, Any]
    text_fault: KeyFault = NO_FAULT


@dataclass
class AnthropicBatch:
    """One Anthropic message batch and everything needed to finish it."""

    id: str
    requests: list[BatchRequest]
    faults: FaultPlan
    cancel_fraction: float
    results_path: Path
    clock: Callable[[], float] = time.time
    #: Steps spent ``in_progress``, the counts growing at each (1: counted at the end).
    progress_steps: int = 1
    run: RunProgress = field(init=False)
    created_at: float = 0.0
    status: str = "in_progress"
    polls: int = 0
    last_step_at: float = field(default_factory=time.monotonic)
    ended_at: float | None = None
    cancel_initiated_at: float | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.created_at = self.created_at or self.clock()
        self.run = RunProgress(self.progress_steps)
        self.counts = dict.fromkeys(_KINDS, 0)
        self.counts["processing"] = len(self.requests)

    @property
    def terminal(self) -> bool:
        """Whether processing has ended."""
        return self.status == "ended"

    @property
    def _ids(self) -> list[str]:
        return [r.custom_id for r in self.requests]

    def _key_fault(self, request: BatchRequest) -> KeyFault:
        return self.faults.for_key(request.custom_id, request.text_fault)

    def _expiring(self) -> set[str]:
        return {r.custom_id for r in self.requests if self._key_fault(r).expire}

    def step(self) -> None:
        """in_progress → ended; canceling → ended (with ``canceled`` results)."""
        if self.status == "in_progress":
            if not self.run.step():
                self._report_progress()
                return
            expiring = self._expiring()
            self._finish(runnable_prefix(self._ids, expiring, len(self.requests)), "expired")
        elif self.status == "canceling":
            finished = int(len(self.requests) * self.cancel_fraction)
            self._finish(runnable_prefix(self._ids, self._expiring(), finished), "canceled")

    def _report_progress(self) -> None:
        """Count the first share of the runnable requests done, as the vendor reports a
        running batch (the results themselves are made when the batch ends)."""
        succeeded, errored = self.run.counts(self.requests, self._key_fault)
        self.counts = dict.fromkeys(_KINDS, 0)
        self.counts["succeeded"] = succeeded
        self.counts["errored"] = errored
        self.counts["processing"] = len(self.requests) - succeeded - errored

    def cancel(self) -> bool:
        """Start canceling; False once ended."""
        if self.status == "ended":
            return False
        if self.status == "in_progress":
            self.status = "canceling"
            self.cancel_initiated_at = self.clock()
        return True

    def expire(self, finished: int) -> None:
        """End now: the first ``finished`` runnable requests succeed or error, the rest expire."""
        if not self.terminal:
            self._finish(runnable_prefix(self._ids, self._expiring(), finished), "expired")

    def _finish(self, run: set[str], unrun_kind: str) -> None:
        counts = dict.fromkeys(_KINDS, 0)
        with self.results_path.open("w", encoding="utf-8") as out:
            for request in self.requests:
                fault = self._key_fault(request)
                if fault.omit:
                    continue  # lost by the vendor: never run, never counted, no line
                if request.custom_id in run:
                    result = self._answer(request, fault)
                else:
                    result = {"type": unrun_kind}
                counts[result["type"]] += 1
                write_result_line(out, {"custom_id": request.custom_id, "result": result}, fault)
        self.counts = counts
        self.status = "ended"
        self.ended_at = self.clock()

    def _answer(self, request: BatchRequest, fault: KeyFault) -> dict[str, Any]:
        status, message = fault.error_status, "Emulated failure requested for this request."
        if status is None:
            try:
                return {"type": "succeeded", "message": message_body(request.params)}
            except RequestRejected as exc:
                status, message = exc.status, exc.message
        error = anthropic_error_object(status, message, new_anthropic_request_id())
        return {"type": "errored", "error": error}

    def to_json(self, base_url: str) -> dict[str, Any]:
        """The vendor ``MessageBatch`` object; ``base_url`` is this server's own root."""
        results_url = None
        if self.terminal:
            results_url = f"{base_url.rstrip('/')}/v1/messages/batches/{self.id}/results"
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": self.status,
            "request_counts": dict(self.counts),
            "ended_at": rfc3339(self.ended_at) if self.ended_at is not None else None,
            "created_at": rfc3339(self.created_at),
            "expires_at": rfc3339(self.created_at + 86400),
            "archived_at": None,
            "cancel_initiated_at": (
                rfc3339(self.cancel_initiated_at) if self.cancel_initiated_at is not None else None
            ),
            "results_url": results_url,
        }


def params_problem(index: int, params: Any) -> str | None:
    """The synchronous 400 message for a request's params, or None when acceptable."""
    where = f"requests.{index}.params"
    if not isinstance(params, dict):
        return f"{where}: Input should be a valid dictionary"
    for name in ("model", "max_tokens", "messages"):
        if name not in params:
            return f"{where}.{name}: Field required"
    if not isinstance(params["messages"], list):
        return f"{where}.messages: Input should be a valid list"
    if params.get("stream"):
        return f"{where}.stream: streaming is not supported in message batches"
    return None
