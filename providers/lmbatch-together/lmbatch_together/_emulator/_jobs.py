"""Together batch jobs: input check, the status machine and the output/error files."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lmbatch_openai import emulated_chat_completion
from lmbatch_openai._emulator._http import openai_error_object

from lmbatch.testing.emulator import (
    NO_FAULT,
    FaultPlan,
    KeyFault,
    RequestRejected,
    RunProgress,
    faults_in_text,
    hex_id,
    runnable_prefix,
    write_result_line,
)

NOT_RUN = {
    "EXPIRED": ("batch_expired", "The request was not run before the job deadline."),
    "CANCELLED": ("batch_cancelled", "The request was not run: the job was cancelled."),
}


def iso(seconds: float | None) -> str | None:
    """Together's time format: ISO 8601 in UTC."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat().replace("+00:00", "Z")


@dataclass
class InputCheck:
    """What checking an input file found: its ids, in-text faults and the first problem."""

    custom_ids: list[str] = field(default_factory=list)
    text_faults: dict[str, KeyFault] = field(default_factory=dict)
    model: str | None = None
    error: str | None = None


def check_input(path: Path, max_requests: int, max_bytes: int) -> InputCheck:
    """Check a ``{custom_id, body}`` JSONL file the way the vendor's validation does."""
    found = InputCheck()
    seen: set[str] = set()
    if path.stat().st_size > max_bytes:
        found.error = f"The input file is larger than {max_bytes} bytes."
        return found
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                found.error = f"Line {number} is not valid JSON."
                return found
            custom_id = line.get("custom_id") if isinstance(line, dict) else None
            body = line.get("body") if isinstance(line, dict) else None
            if not isinstance(custom_id, str) or not 0 < len(custom_id) <= 64:
                found.error = f"Line {number}: custom_id must be 1 to 64 characters."
            elif custom_id in seen:
                found.error = f"Line {number}: duplicate custom_id {custom_id!r}."
            elif not isinstance(body, dict):
                found.error = f"Line {number}: 'body' must be an object."
            elif found.model is not None and body.get("model") != found.model:
                found.error = f"Line {number}: every request must use one model."
            if found.error:
                return found
            assert isinstance(body, dict)
            assert isinstance(custom_id, str)
            found.model = found.model or body.get("model")
            found.custom_ids.append(custom_id)
            seen.add(custom_id)
            fault = faults_in_text(raw.decode("utf-8", "replace"))
            if fault.any:
                found.text_faults[custom_id] = fault
    if len(found.custom_ids) > max_requests:
        found.error = f"The input file holds more than {max_requests} requests."
    elif not found.custom_ids and found.error is None:
        found.error = "The input file is empty."
    return found


@dataclass
class TogetherJob:
    """One batch job and everything needed to finish it."""

    input_file_id: str
    endpoint: str
    model_id: str | None
    priority: int | None
    input_path: Path
    check: InputCheck
    faults: FaultPlan
    cancel_fraction: float
    new_path: Callable[[str], Path]
    add_file: Callable[[str, Path], str]
    clock: Callable[[], float] = time.time
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    #: Steps spent ``IN_PROGRESS``; ``progress`` (a percentage, not counts) grows at each.
    run: RunProgress = field(default_factory=lambda: RunProgress(2))
    status: str = "VALIDATING"
    progress: float = 0.0
    polls: int = 0
    last_step_at: float = field(default_factory=time.monotonic)
    created_at: float = 0.0
    completed_at: float | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None

    def __post_init__(self) -> None:
        self.created_at = self.created_at or self.clock()

    @property
    def terminal(self) -> bool:
        """Whether the job ended."""
        return self.status in ("COMPLETED", "FAILED", "EXPIRED", "CANCELLED")

    def _fault(self, custom_id: str) -> KeyFault:
        return self.faults.for_key(custom_id, self.check.text_faults.get(custom_id, NO_FAULT))

    def _expiring(self) -> set[str]:
        return {c for c in self.check.custom_ids if self._fault(c).expire}

    def step(self) -> None:
        """VALIDATING → IN_PROGRESS (0 %, then a share per running step) | FAILED →
        COMPLETED (100 %)."""
        if self.status == "VALIDATING":
            self.status = "FAILED" if self.check.error else "IN_PROGRESS"
            if self.check.error:
                self.completed_at = self.clock()
        elif self.status == "IN_PROGRESS" and not self.run.step():
            self.progress = round(100 * self.run.fraction, 1)
        elif self.status == "IN_PROGRESS":
            expiring = self._expiring()
            if expiring:  # a request scripted never to run: the deadline passes
                self._finish("EXPIRED", runnable_prefix(self.check.custom_ids, expiring, 10**9))
            else:
                self._finish("COMPLETED", set(self.check.custom_ids))

    def cancel(self) -> bool:
        """Cancel now (the vendor has no cancelling state); False once ended otherwise."""
        if self.status == "CANCELLED":
            return True
        if self.terminal:
            return False
        ran = self.status == "IN_PROGRESS"
        finished = int(len(self.check.custom_ids) * self.cancel_fraction) if ran else 0
        ran_ids = runnable_prefix(self.check.custom_ids, self._expiring(), finished)
        self._finish("CANCELLED", ran_ids)
        return True

    def expire(self, finished: int) -> None:
        """End as ``EXPIRED`` with the first ``finished`` runnable requests answered."""
        if not self.terminal:
            self._finish(
                "EXPIRED", runnable_prefix(self.check.custom_ids, self._expiring(), finished)
            )

    def _finish(self, status: str, run: set[str]) -> None:
        paths = self.new_path(".jsonl"), self.new_path(".jsonl")
        written = [0, 0]
        with (
            self.input_path.open("rb") as src,
            paths[0].open("w", encoding="utf-8") as out,
            paths[1].open("w", encoding="utf-8") as err,
        ):
            for raw in src:
                if not raw.strip():
                    continue
                line = json.loads(raw)
                custom_id = line["custom_id"]
                fault = self._fault(custom_id)
                if fault.omit:
                    continue
                record, ok = self._answer(line, fault, status, custom_id in run)
                write_result_line(out if ok else err, record, fault)
                written[0 if ok else 1] += 1
        names = ("output", "error")
        for index, path in enumerate(paths):
            if written[index]:
                file_id = self.add_file(f"batch_{self.id}_{names[index]}.jsonl", path)
                setattr(self, f"{names[index]}_file_id", file_id)
            else:
                path.unlink()
        self.status, self.progress, self.completed_at = status, 100.0, self.clock()

    def _answer(
        self, line: dict[str, Any], fault: KeyFault, status: str, ran: bool
    ) -> tuple[dict[str, Any], bool]:
        record: dict[str, Any] = {"id": hex_id("batch_req_"), "custom_id": line["custom_id"]}
        if not ran:
            code, message = NOT_RUN.get(status, NOT_RUN["EXPIRED"])
            record.update(response=None, error={"code": code, "message": message})
            return record, False
        code_status, body = 200, None
        if fault.error_status is not None:
            code_status, body = fault.error_status, openai_error_object(fault.error_status)
        else:
            try:
                body = emulated_chat_completion(line["body"])
            except RequestRejected as exc:
                code_status = exc.status
                body = openai_error_object(exc.status, exc.message, param=exc.param)
        request_id = hex_id("", 32)
        record.update(
            response={"status_code": code_status, "request_id": request_id, "body": body},
            error=None,
        )
        return record, code_status == 200

    def to_json(self) -> dict[str, Any]:
        """The vendor's ``BatchJob`` object."""
        return {
            "id": self.id,
            "user_id": "user-lmbatch-emulator",
            "input_file_id": self.input_file_id,
            "file_size_bytes": self.input_path.stat().st_size,
            "status": self.status,
            "job_deadline": iso(self.created_at + 86400),
            "created_at": iso(self.created_at),
            "endpoint": self.endpoint,
            "progress": self.progress,
            "model_id": self.model_id,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "error": self.check.error if self.status == "FAILED" else None,
            "completed_at": iso(self.completed_at),
        }
