"""OpenAI batch records: input-file validation, the status machine and output/error files."""

from __future__ import annotations

import json
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
    faults_in_text,
    hex_id,
    runnable_prefix,
    write_result_line,
)
from lmbatch_openai._emulator._http import openai_error_object
from lmbatch_openai._emulator._responder import openai_response, usage_of

EXPIRED_MESSAGE = "This request could not be executed before the completion window expired."
CANCELLED_MESSAGE = "This request was not executed because the batch was cancelled."
_MAX_REPORTED_ERRORS = 100

AddFile = Callable[[str, Path, "int | None"], str]
"""``add_file(filename, path, expires_at) -> file_id`` for a finished output/error file."""


def batch_error(code: str, message: str, line: int | None = None) -> dict[str, Any]:
    """One ``BatchError`` entry."""
    return {"code": code, "message": message, "param": None, "line": line}


@dataclass
class InputCheck:
    """What validating an input file found."""

    custom_ids: list[str] = field(default_factory=list)
    text_faults: dict[str, KeyFault] = field(default_factory=dict)
    model: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)


def check_input(path: Path, endpoint: str, max_requests: int, max_bytes: int) -> InputCheck:
    """Validate a batch input file line by line, the way the vendor does.

    Args:
        path: The JSONL file.
        endpoint: The batch's endpoint; each line's ``url`` must equal it.
        max_requests: Lines allowed (``too_many_tasks`` above).
        max_bytes: Bytes allowed (``file_too_large`` above).

    Returns:
        The custom_ids in input order, in-text faults, the model and any batch errors.
    """
    found = InputCheck()
    if path.stat().st_size > max_bytes:
        found.errors.append(
            batch_error(
                "file_too_large",
                f"The batch input file is larger than the {max_bytes} byte limit.",
            )
        )
        return found
    seen: set[str] = set()
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            if len(found.custom_ids) >= max_requests:
                found.errors = [
                    batch_error(
                        "too_many_tasks",
                        f"The batch input file contains more than the {max_requests} "
                        "maximum number of requests.",
                    )
                ]
                return found
            error = _check_line(raw, number, endpoint, seen, found)
            if error is not None and len(found.errors) < _MAX_REPORTED_ERRORS:
                found.errors.append(error)
    if not found.custom_ids and not found.errors:
        found.errors.append(
            batch_error(
                "empty_file",
                "The batch input file is empty. Please ensure that the batch input file "
                "contains at least one request.",
            )
        )
    return found


def _check_line(
    raw: bytes, number: int, endpoint: str, seen: set[str], found: InputCheck
) -> dict[str, Any] | None:
    try:
        obj = json.loads(raw)
    except ValueError:
        return batch_error("invalid_json_line", "This line is not parseable as valid JSON.", number)
    if not isinstance(obj, dict):
        return batch_error("invalid_json_line", "This line is not a JSON object.", number)
    custom_id = obj.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return batch_error("missing_required_parameter", "Missing 'custom_id'.", number)
    if custom_id in seen:
        return batch_error(
            "duplicate_custom_id",
            "The custom_id for this request is a duplicate of another request. The custom_id "
            "parameter must be unique for each request in a batch.",
            number,
        )
    seen.add(custom_id)
    if obj.get("method") != "POST":
        return batch_error("invalid_method", "Only the POST method is supported.", number)
    if obj.get("url") != endpoint:
        return batch_error(
            "url_mismatch",
            f"The provided URL for this request does not match the batch endpoint {endpoint}.",
            number,
        )
    body = obj.get("body")
    if not isinstance(body, dict):
        return batch_error(
            "invalid_request", "The 'body' of this request is not an object.", number
        )
    model = body.get("model")
    if found.model is None and isinstance(model, str):
        found.model = model
    elif model != found.model:
        return batch_error(
            "model_mismatch",
            "The provided model for this request does not match the model of the other "
            "requests in the batch. All requests in a batch must use the same model.",
            number,
        )
    found.custom_ids.append(custom_id)
    fault = faults_in_text(raw.decode("utf-8", "replace"))
    if fault.any:
        found.text_faults[custom_id] = fault
    return None


@dataclass
class OpenAIBatch:
    """One OpenAI batch and everything needed to finish it."""

    id: str
    endpoint: str
    input_file_id: str
    completion_window: str
    metadata: dict[str, str] | None
    output_expires_seconds: int | None
    input_path: Path
    check: InputCheck
    faults: FaultPlan
    cancel_fraction: float
    new_path: Callable[[str], Path]
    add_file: AddFile
    clock: Callable[[], float] = time.time
    #: Answers one line (url, body); raises ``RequestRejected`` for an HTTP error.
    respond: Callable[[str, dict[str, Any]], dict[str, Any]] = openai_response
    #: Steps spent ``in_progress``, the counts growing at each (1: counted at the end).
    progress_steps: int = 1
    created_at: int = 0
    status: str = "validating"
    run: RunProgress = field(init=False)
    polls: int = 0
    last_step_at: float = field(default_factory=time.monotonic)
    stamps: dict[str, int | None] = field(default_factory=dict)
    output_file_id: str | None = None
    error_file_id: str | None = None
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("total", "completed", "failed"), 0)
    )
    usage: list[int] = field(default_factory=lambda: [0, 0, 0])

    def __post_init__(self) -> None:
        self.created_at = self.created_at or int(self.clock())
        self.run = RunProgress(self.progress_steps)

    @property
    def terminal(self) -> bool:
        """Whether the batch is completed, failed, expired or cancelled."""
        return self.status in ("completed", "failed", "expired", "cancelled")

    def _stamp(self, status: str) -> None:
        self.status = status
        self.stamps[f"{status}_at"] = int(self.clock())

    def _key_fault(self, custom_id: str) -> KeyFault:
        return self.faults.for_key(custom_id, self.check.text_faults.get(custom_id, NO_FAULT))

    def _expiring(self) -> set[str]:
        return {c for c in self.check.custom_ids if self._key_fault(c).expire}

    def step(self) -> None:
        """validating → in_progress|failed → finalizing → completed; cancelling → cancelled."""
        if self.status == "validating":
            if self.check.errors:
                self._stamp("failed")
            else:
                self.counts["total"] = len(self.check.custom_ids)
                self._stamp("in_progress")
        elif self.status == "in_progress":
            if not self.run.step():
                # The share done so far (the answers themselves are made at the end).
                done = self.run.counts(self.check.custom_ids, self._key_fault)
                self.counts["completed"], self.counts["failed"] = done
                return
            expiring = self._expiring()
            if expiring:
                # A request scripted to expire never runs, so the window closes on the batch.
                everyone = len(self.check.custom_ids)
                self._finish("expired", runnable_prefix(self.check.custom_ids, expiring, everyone))
            else:
                self._stamp("finalizing")
        elif self.status == "finalizing":
            self._finish("completed", set(self.check.custom_ids))
        elif self.status == "cancelling" and self.check.errors:
            self._stamp("cancelled")  # an invalid file never ran: nothing to report
        elif self.status == "cancelling":
            ran = self.stamps.get("in_progress_at") is not None
            finished = int(len(self.check.custom_ids) * self.cancel_fraction) if ran else 0
            self._finish(
                "cancelled", runnable_prefix(self.check.custom_ids, self._expiring(), finished)
            )

    def cancel(self) -> bool:
        """Start cancelling; returns False when the status does not allow it."""
        if self.status in ("cancelling", "cancelled"):
            return True
        if self.status not in ("validating", "in_progress"):
            return False
        self._stamp("cancelling")
        return True

    def expire(self, finished: int) -> None:
        """End as ``expired`` with the first ``finished`` runnable requests answered."""
        if self.terminal:
            return
        if self.status == "validating" and self.check.errors:
            self._stamp("failed")
            return
        self.counts["total"] = len(self.check.custom_ids)
        self._finish("expired", runnable_prefix(self.check.custom_ids, self._expiring(), finished))

    def _finish(self, status: str, run: set[str]) -> None:
        # Counted exactly below, answer by answer (what was reported while running was
        # the share done, not the answers).
        self.counts["completed"] = self.counts["failed"] = 0
        if status in ("expired", "cancelled"):
            code, message = (
                ("batch_expired", EXPIRED_MESSAGE)
                if status == "expired"
                else ("batch_cancelled", CANCELLED_MESSAGE)
            )
        out_path, err_path = self.new_path(".jsonl"), self.new_path(".jsonl")
        written = [0, 0]
        with (
            self.input_path.open("rb") as src,
            out_path.open("w", encoding="utf-8") as out,
            err_path.open("w", encoding="utf-8") as err,
        ):
            for raw in src:
                try:
                    line = json.loads(raw)
                except ValueError:
                    continue  # blank line: validation already vouched for the rest
                custom_id = line["custom_id"]
                fault = self._key_fault(custom_id)
                if fault.omit:
                    continue  # lost by the vendor: never run, never counted, no line
                if custom_id in run:
                    record, ok = self._answer(line, fault)
                else:
                    record = {
                        "id": hex_id("batch_req_"),
                        "custom_id": custom_id,
                        "response": None,
                        "error": {"code": code, "message": message},
                    }
                    ok = False
                write_result_line(out if ok else err, record, fault)
                written[0 if ok else 1] += 1
        self.counts["total"] = len(self.check.custom_ids)
        expires = self.output_expires_seconds
        now = int(self.clock())
        expires_at = now + expires if expires else None
        if written[0]:
            self.output_file_id = self.add_file(
                f"batch_{self.id}_output.jsonl", out_path, expires_at
            )
        else:
            out_path.unlink()
        if written[1]:
            self.error_file_id = self.add_file(f"batch_{self.id}_error.jsonl", err_path, expires_at)
        else:
            err_path.unlink()
        if status == "completed" and self.stamps.get("finalizing_at") is None:
            self.stamps["finalizing_at"] = now
        self._stamp(status)

    def _answer(self, line: dict[str, Any], fault: KeyFault) -> tuple[dict[str, Any], bool]:
        status, body = 200, None
        if fault.error_status is not None:
            status = fault.error_status
            body = openai_error_object(status)
        else:
            try:
                body = self.respond(line["url"], line["body"])
            except RequestRejected as exc:
                status = exc.status
                body = openai_error_object(status, exc.message, param=exc.param)
        if status == 200:
            self.counts["completed"] += 1
            for i, n in enumerate(usage_of(body)):
                self.usage[i] += n
        else:
            self.counts["failed"] += 1
        record = {
            "id": hex_id("batch_req_"),
            "custom_id": line["custom_id"],
            "response": {"status_code": status, "request_id": hex_id("", 32), "body": body},
            "error": None,
        }
        return record, status == 200

    def to_json(self) -> dict[str, Any]:
        """The vendor ``Batch`` object."""
        errors = None
        if self.status == "failed" and self.check.errors:
            errors = {"object": "list", "data": list(self.check.errors)}
        in_tok, out_tok, reasoning = self.usage
        stamp_names = (
            "in_progress",
            "finalizing",
            "completed",
            "failed",
            "expired",
            "cancelling",
            "cancelled",
        )
        body: dict[str, Any] = {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "model": self.check.model if self.status != "validating" else None,
            "errors": errors,
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "expires_at": self.created_at + 86400,
        }
        body.update({f"{name}_at": self.stamps.get(f"{name}_at") for name in stamp_names})
        body["request_counts"] = dict(self.counts)
        body["metadata"] = self.metadata
        body["usage"] = {
            "input_tokens": in_tok,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": out_tok,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": in_tok + out_tok,
        }
        return body
