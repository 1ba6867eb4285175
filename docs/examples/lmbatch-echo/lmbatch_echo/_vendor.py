"""The echo "vendor": a batch API kept as JSON files in a directory.

It stands in for a vendor's SDK: the provider (:mod:`lmbatch_echo._operations`) calls
:class:`EchoClient` as it would call a real vendor over HTTP, and gets its errors as
:class:`EchoAPIError` (an HTTP status and a message). Every prompt is answered with
``echo: <prompt>``, or, when the request carries a JSON schema, with JSON text that fits
it, as a model asked for structured output would write.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lmbatch.testing import sample_from_schema

__all__ = ["EchoAPIError", "EchoClient"]


class EchoAPIError(Exception):
    """An error answer of the echo vendor: an HTTP status and a message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class EchoClient:
    """The echo vendor's batch API: create, get, list, cancel, read results.

    A batch runs for ``polls_until_done`` reads of its state (time passes when someone
    looks), then its results file is written: one JSON line per request.
    """

    def __init__(self, directory: Path, polls_until_done: int = 1) -> None:
        self.directory = directory
        self.polls_until_done = max(1, polls_until_done)

    def create_batch(
        self, *, model: str | None, requests: list[dict[str, Any]], metadata: dict[str, str]
    ) -> dict[str, Any]:
        """Make a batch of ``requests`` (each ``{"custom_id", "prompt", "schema"}``)."""
        if not requests:
            raise EchoAPIError(400, "a batch needs at least one request")
        batch = {
            "id": "echo_" + uuid.uuid4().hex[:16],
            "model": model,
            "state": "running",
            "polls_left": self.polls_until_done,
            "created_at": datetime.now(UTC).isoformat(),
            "metadata": metadata,
            "requests": requests,
        }
        self._save(batch)
        return batch

    def get_batch(self, batch_id: str) -> dict[str, Any]:
        """A batch's state; then time passes (one read closer to its end)."""
        batch = self._load(batch_id)
        seen = dict(batch)
        if batch["state"] == "cancelling":
            batch["state"] = "cancelled"
        elif batch["state"] == "running":
            batch["polls_left"] -= 1
            if batch["polls_left"] <= 0:
                batch["state"] = "done"
        if batch["state"] != seen["state"]:
            self._save(batch)
            if batch["state"] in ("done", "cancelled"):
                self._write_results(batch)
        return seen

    def list_batches(self) -> list[dict[str, Any]]:
        """Every batch, newest first."""
        files = sorted(self.directory.glob("echo_*.json"), key=lambda p: p.stat().st_mtime_ns)
        return [json.loads(path.read_text()) for path in reversed(files)]

    def cancel_batch(self, batch_id: str) -> dict[str, Any]:
        """Ask a running batch to stop (it ends as ``cancelled`` at its next read)."""
        batch = self._load(batch_id)
        if batch["state"] != "running":
            raise EchoAPIError(409, f"batch {batch_id} is {batch['state']} and cannot be cancelled")
        batch["state"] = "cancelling"
        self._save(batch)
        return batch

    def iter_results(self, batch_id: str) -> Iterator[str]:
        """The lines of an ended batch's results file, one at a time."""
        batch = self._load(batch_id)
        path = self.directory / f"{batch_id}.results.jsonl"
        if batch["state"] not in ("done", "cancelled") or not path.is_file():
            raise EchoAPIError(409, f"batch {batch_id} has no results yet")
        with path.open(encoding="utf-8") as lines:
            yield from lines

    def _write_results(self, batch: dict[str, Any]) -> None:
        with (self.directory / f"{batch['id']}.results.jsonl").open("w") as out:
            for request in batch["requests"]:
                out.write(json.dumps(self._result(request, batch)) + "\n")

    def _result(self, request: dict[str, Any], batch: dict[str, Any]) -> dict[str, Any]:
        if batch["state"] == "cancelled":
            error = {"code": "cancelled", "message": "the batch was cancelled"}
            return {"custom_id": request["custom_id"], "error": error}
        prompt = request["prompt"]
        if request["schema"] is not None:
            answer = json.dumps(sample_from_schema(request["schema"], prompt))
        else:
            answer = f"echo: {prompt}"
        words = len(prompt.split())
        return {
            "custom_id": request["custom_id"],
            "answer": answer,
            "model": batch["model"],
            "usage": {"input_tokens": words, "output_tokens": words + 1},
        }

    def _load(self, batch_id: str) -> dict[str, Any]:
        path = self.directory / f"{batch_id}.json"
        if not batch_id.startswith("echo_") or not path.is_file():
            raise EchoAPIError(404, f"no echo batch {batch_id!r}")
        data: dict[str, Any] = json.loads(path.read_text())
        return data

    def _save(self, batch: dict[str, Any]) -> None:
        (self.directory / f"{batch['id']}.json").write_text(json.dumps(batch))
