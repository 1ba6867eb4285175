"""The ``echo`` provider: a batch "vendor" kept as JSON files in a directory.

Every request is answered with ``echo: <last user text>``; a request with a
``response_schema`` gets a sample object that fits the schema.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lmbatch.provider import (
    BatchInfo,
    BatchNotFoundError,
    BatchOperations,
    BatchPage,
    BatchStatus,
    Hyperparameters,
    LMOutput,
    Message,
    MessageRole,
    PreparedBatch,
    ProviderLimits,
    ProviderRequestError,
    ProviderSettings,
    RequestCounts,
    ResultRecord,
    StructuredOutput,
    TextOutput,
    TokenUsage,
    ValidationError,
)
from lmbatch.testing import sample_from_schema

__all__ = ["EchoBatchOperations", "EchoSettings"]


class EchoSettings(ProviderSettings):
    """Options of the ``echo`` provider.

    Attributes:
        model: Model name, echoed back in every answer's details.
        directory: Where the echo "vendor" keeps its batches (default: a folder in the
            system temp directory).
        polls_until_done: Status checks a batch takes to finish.
    """

    model: str | None = "echo-1"
    directory: str | None = None
    polls_until_done: int = 1


#: The vendor's batch states, as lmbatch statuses.
STATUS_MAP = {
    "running": BatchStatus.IN_PROGRESS,
    "cancelling": BatchStatus.CANCELING,
    "done": BatchStatus.FINISHED,
    "cancelled": BatchStatus.CANCELLED,
}


class EchoBatchOperations(BatchOperations):
    """The ``echo`` provider (select it with ``get_batch_operations("echo")``)."""

    name = "echo"
    settings_class = EchoSettings
    # Limits and id rules are data: core splits big inputs and maps keys to fit them.
    limits = ProviderLimits(
        max_requests_per_batch=1_000,
        max_bytes_per_batch=10 * 1024 * 1024,
        custom_id_pattern=r"[a-zA-Z0-9_-]{1,64}",
    )
    # The share of the list price batches take off (0.5 = half price); priced via
    # genai-prices or the user's [providers.echo.prices] config. Echo bills nothing
    # extra for batching, so no discount.
    batch_discount = 0.0

    @property
    def directory(self) -> Path:
        """The folder holding the vendor's batches."""
        assert isinstance(self.settings, EchoSettings)
        folder = self.settings.directory or Path(tempfile.gettempdir()) / "lmbatch-echo"
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def validate_hyperparameters(self, params: Hyperparameters) -> None:
        """Refuse, before anything is sent, settings the echo vendor has no use for."""
        if params.tools:
            raise ValidationError("the echo provider cannot call tools")

    def validate_request(self, key: str, messages: list[Message], params: Hyperparameters) -> None:
        """Refuse, before anything is sent, what the echo vendor cannot take."""
        for message in messages:
            if any(not isinstance(part, str) for part in message.contents):
                raise ValidationError("the echo provider takes text only", key=key)

    def encode_request(
        self, custom_id: str, messages: list[Message], params: Hyperparameters
    ) -> dict[str, Any]:
        """One input line of the vendor's format."""
        schema = params.response_schema.json_schema if params.response_schema else None
        return {
            "custom_id": custom_id,
            "prompt": _last_user_text(messages),
            "schema": schema,
        }

    async def submit_batch(self, batch: PreparedBatch) -> str:
        """Store the batch as one JSON file; its name is the vendor's batch id."""
        assert isinstance(self.settings, EchoSettings)
        batch_id = "echo_" + uuid.uuid4().hex[:16]
        self._save(
            {
                "id": batch_id,
                "model": self.settings.model,
                "state": "running",
                "polls_left": max(1, self.settings.polls_until_done),
                "created_at": datetime.now(UTC).isoformat(),
                "metadata": batch.metadata,
                "records": list(batch.iter_records()),
            }
        )
        return batch_id

    async def fetch_batch(self, batch_id: str) -> BatchInfo:
        """What the vendor says of one batch; then time passes (one poll closer to done)."""
        batch = self._load(batch_id)
        info = self._info(batch)
        if batch["state"] in ("running", "cancelling"):
            batch["polls_left"] -= 1
            if batch["state"] == "cancelling":
                batch["state"] = "cancelled"
            elif batch["polls_left"] <= 0:
                batch["state"] = "done"
            self._save(batch)
        return info

    def _info(self, batch: dict[str, Any]) -> BatchInfo:
        status = STATUS_MAP[batch["state"]]
        total = len(batch["records"])
        counts = RequestCounts(
            total=total,
            succeeded=total if status is BatchStatus.FINISHED else 0,
            errored=0,
            processing=0 if status.is_terminal else total,
            expired=0,
            cancelled=total if status is BatchStatus.CANCELLED else 0,
        )
        return BatchInfo(
            id=batch["id"],
            provider=self.name,
            status=status,
            provider_status=batch["state"],
            created_at=datetime.fromisoformat(batch["created_at"]),
            request_counts=counts,
            model=batch["model"],
            metadata=dict(batch["metadata"]),
            errors=[],
            raw={"id": batch["id"], "state": batch["state"]},
        )

    async def iter_result_records(
        self, info: BatchInfo, context: dict[str, Any]
    ) -> AsyncIterator[ResultRecord]:
        """One decoded outcome per input line of a finished (or cancelled) batch."""
        batch = self._load(info["id"])
        for record in batch["records"]:
            if batch["state"] == "cancelled":
                output = LMOutput.failure(
                    "cancelled", "the batch was cancelled", code="cancelled", provider=self.name
                )
            else:
                output = self._answer(record, batch["model"])
            yield ResultRecord(record["custom_id"], output)

    def _answer(self, record: dict[str, Any], model: str | None) -> LMOutput:
        prompt = record["prompt"]
        if record["schema"] is not None:
            item: StructuredOutput | TextOutput = StructuredOutput(
                data=sample_from_schema(record["schema"], prompt)
            )
        else:
            item = TextOutput(text=f"echo: {prompt}")
        words = len(prompt.split())
        return LMOutput(
            outputs=[item],
            token_usage=TokenUsage(input_tokens=words, output_tokens=words + 1),
            finish_details={"stop_reason": "end_turn", "model": model},
        )

    async def list_batches_page(self, cursor: str | None) -> BatchPage:
        """Every batch, newest first, on one page."""
        files = sorted(self.directory.glob("echo_*.json"), key=lambda p: p.stat().st_mtime_ns)
        batches = [self._info(json.loads(path.read_text())) for path in reversed(files)]
        return BatchPage(batches, next_cursor=None)

    async def cancel_batch(self, batch_id: str) -> None:
        """Ask the vendor to stop a running batch."""
        batch = self._load(batch_id)
        if batch["state"] != "running":
            raise ProviderRequestError(
                f"batch {batch_id} is {batch['state']} and cannot be cancelled",
                provider=self.name,
                status_code=409,
            )
        batch["state"] = "cancelling"
        self._save(batch)

    def _path(self, batch_id: str) -> Path:
        return self.directory / f"{batch_id}.json"

    def _load(self, batch_id: str) -> dict[str, Any]:
        path = self._path(batch_id)
        if not batch_id.startswith("echo_") or not path.is_file():
            raise BatchNotFoundError(
                f"no echo batch {batch_id!r}", provider=self.name, status_code=404
            )
        data: dict[str, Any] = json.loads(path.read_text())
        return data

    def _save(self, batch: dict[str, Any]) -> None:
        self._path(batch["id"]).write_text(json.dumps(batch))


def _last_user_text(messages: list[Message]) -> str:
    for message in reversed(messages):
        if message.role is MessageRole.USER:
            return message.text
    return ""
