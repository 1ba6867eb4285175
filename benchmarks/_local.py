"""The real providers with their network calls swapped for local files.

Everything lmbatch does around the wire (validation, encoding, splitting, the job store,
result streaming, key mapping, decoding, structured-output checks) runs unchanged; only
upload/create/poll/download read and write files in a directory instead. Each submitted
batch gets a results file assembled from ready-made vendor lines (``answers``, one per
custom id, less lmbatch's job tag), or from ``answer_for`` when no ready line exists.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from lmbatch_anthropic import AnthropicBatchOperations
from lmbatch_anthropic._status import batch_info as anthropic_batch_info
from lmbatch_openai import OpenAIBatchOperations
from lmbatch_openai._status import batch_info as openai_batch_info

from lmbatch import BatchInfo
from lmbatch._keys import strip_job_tag
from lmbatch.provider import PreparedBatch

__all__ = ["LocalAnthropic", "LocalOpenAI", "openai_echo_answer"]

AnswerFn = Callable[[str, dict[str, Any]], str]


class _LocalBatches:
    """Shared bookkeeping: a results file and a request count per batch id."""

    def __init__(self, directory: Path, answers: dict[str, str] | None, answer_for: AnswerFn):
        self.directory = directory
        self.answers = answers or {}
        self.answer_for = answer_for
        self.counts: dict[str, int] = {}

    def submit(self, batch: PreparedBatch, prefix: str) -> str:
        batch_id = f"{prefix}_{batch.job_id}_{batch.chunk_index}"
        count = 0
        with self.results_path(batch_id).open("w", encoding="utf-8") as out:
            for record in batch.iter_records():
                custom_id = record["custom_id"]
                plain = strip_job_tag(custom_id)
                ready = self.answers.get(plain)
                if ready is not None:
                    # Ready-made lines name the plain key; the vendor echoes the id it got.
                    line = ready.replace(json.dumps(plain), json.dumps(custom_id), 1)
                else:
                    line = self.answer_for(custom_id, record)
                out.write(line + "\n")
                count += 1
        self.counts[batch_id] = count
        return batch_id

    def results_path(self, batch_id: str) -> Path:
        return self.directory / f"{batch_id}.jsonl"

    async def lines(self, batch_id: str) -> AsyncIterator[str]:
        with self.results_path(batch_id).open(encoding="utf-8") as handle:
            for line in handle:
                yield line


class LocalOpenAI(OpenAIBatchOperations):
    """OpenAI provider whose Files and Batches API is a directory."""

    def __init__(
        self,
        directory: Path,
        answers: dict[str, str] | None = None,
        answer_for: AnswerFn | None = None,
        **options: Any,
    ) -> None:
        options.setdefault("api_key", "local")
        options.setdefault("delete_input_file", False)
        super().__init__(**options)
        self.local = _LocalBatches(directory, answers, answer_for or _no_answer)

    async def submit_batch(self, batch: PreparedBatch) -> str:
        return self.local.submit(batch, "batch")

    async def vendor_date(self) -> str | None:
        return None  # no vendor to ask: this machine's clock

    async def fetch_batch(self, batch_id: str) -> BatchInfo:
        count = self.local.counts[batch_id]
        return openai_batch_info(
            {
                "id": batch_id,
                "object": "batch",
                "endpoint": self.endpoint,
                "status": "completed",
                "input_file_id": f"file-in-{batch_id}",
                "output_file_id": batch_id,
                "error_file_id": None,
                "created_at": 0,
                "completion_window": "24h",
                "request_counts": {"total": count, "completed": count, "failed": 0},
                "metadata": {},
            },
            self.name,
        )

    async def _file_lines(self, file_id: str) -> AsyncIterator[str]:
        async for line in self.local.lines(file_id):
            yield line


class LocalAnthropic(AnthropicBatchOperations):
    """Anthropic provider whose Message Batches API is a directory."""

    def __init__(
        self,
        directory: Path,
        answers: dict[str, str] | None = None,
        answer_for: AnswerFn | None = None,
        **options: Any,
    ) -> None:
        options.setdefault("api_key", "local")
        super().__init__(**options)
        self.local = _LocalBatches(directory, answers, answer_for or _no_answer)

    async def submit_batch(self, batch: PreparedBatch) -> str:
        return self.local.submit(batch, "msgbatch")

    async def vendor_date(self) -> str | None:
        return None  # no vendor to ask: this machine's clock

    async def fetch_batch(self, batch_id: str) -> BatchInfo:
        count = self.local.counts[batch_id]
        return anthropic_batch_info(
            {
                "id": batch_id,
                "type": "message_batch",
                "processing_status": "ended",
                "request_counts": {
                    "processing": 0,
                    "succeeded": count,
                    "errored": 0,
                    "canceled": 0,
                    "expired": 0,
                },
                "created_at": "2026-11-29T00:00:00Z",
                "ended_at": "2026-11-29T00:01:00Z",
                "expires_at": "2026-11-30T00:00:00Z",
                # The vendor's shape (never fetched: _result_lines reads the directory);
                # it must name the API host, as lmbatch follows no other.
                "results_url": f"https://api.anthropic.com/v1/messages/batches/{batch_id}/results",
            },
            self.name,
        )

    async def _result_lines(self, batch_id: str, url: str) -> AsyncIterator[str]:
        async for line in self.local.lines(batch_id):
            yield line


def _no_answer(custom_id: str, record: dict[str, Any]) -> str:
    raise KeyError(f"no ready-made answer for {custom_id}")


def openai_echo_answer(custom_id: str, record: dict[str, Any]) -> str:
    """A small ``/v1/responses`` success line for any request (used at scale)."""
    body = {
        "id": f"resp_{custom_id}",
        "object": "response",
        "status": "completed",
        "model": "gpt-4.1-mini",
        "output": [
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": f"Answer to {custom_id}."}],
            }
        ],
        "usage": {"input_tokens": 20, "output_tokens": 5, "total_tokens": 25},
    }
    return json.dumps(
        {"custom_id": custom_id, "response": {"status_code": 200, "body": body}, "error": None}
    )
