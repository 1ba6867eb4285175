"""The ``echo`` provider, on the echo vendor's batch API (:mod:`lmbatch_echo._vendor`).

Every request is answered with ``echo: <last user text>``; a request with a
``response_schema`` gets a JSON object that fits the schema.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from lmbatch.provider import (
    BatchInfo,
    BatchOperations,
    BatchPage,
    BatchStatus,
    ErrorKind,
    Hyperparameters,
    LMOutput,
    Message,
    MessageRole,
    PreparedBatch,
    ProviderLimits,
    ProviderSettings,
    RequestCounts,
    ResultRecord,
    StructuredOutput,
    TextOutput,
    TokenUsage,
    ValidationError,
    create_failure,
    error_for_status,
    parse_json_object,
)
from lmbatch_echo._vendor import EchoAPIError, EchoClient

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
    def client(self) -> EchoClient:
        """The vendor's API client (a real provider builds its SDK's client here)."""
        assert isinstance(self.settings, EchoSettings)
        folder = self.settings.directory or Path(tempfile.gettempdir()) / "lmbatch-echo"
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        return EchoClient(path, self.settings.polls_until_done)

    @contextmanager
    def vendor_errors(self) -> Iterator[None]:
        """The vendor's errors as lmbatch errors: core picks one from the HTTP status."""
        try:
            yield
        except EchoAPIError as exc:
            raise error_for_status(exc.status, exc.message, provider=self.name) from exc

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

    def batch_context(self, params: Hyperparameters) -> dict[str, Any]:
        """What reading the results will need to know: were the answers asked as JSON?"""
        return {"structured": params.response_schema is not None}

    async def submit_batch(self, batch: PreparedBatch) -> str:
        """Create the vendor batch; return its id."""
        assert isinstance(self.settings, EchoSettings)
        try:
            created = self.client.create_batch(
                model=self.settings.model,
                requests=list(batch.iter_records()),
                metadata=batch.metadata,
            )
        except EchoAPIError as exc:
            error = error_for_status(exc.status, exc.message, provider=self.name)
            # Only a refusal (4xx) proves no batch was made; anything else is uncertain.
            raise create_failure(batch, error, provider=self.name) from exc
        return str(created["id"])

    async def fetch_batch(self, batch_id: str) -> BatchInfo:
        """What the vendor says of one batch."""
        with self.vendor_errors():
            batch = self.client.get_batch(batch_id)
        return self._info(batch)

    def _info(self, batch: dict[str, Any]) -> BatchInfo:
        status = STATUS_MAP[batch["state"]]
        total = len(batch["requests"])
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

    async def iter_result_lines(
        self, info: BatchInfo, context: dict[str, Any]
    ) -> AsyncIterator[str]:
        """The raw lines of an ended batch's results file, streamed."""
        with self.vendor_errors():
            for line in self.client.iter_results(info["id"]):
                yield line

    def decode_record(self, record: dict[str, Any], context: dict[str, Any]) -> ResultRecord:
        """One result line (core parsed it) as the request's outcome."""
        custom_id = record.get("custom_id")
        error = record.get("error")
        if error is not None:
            kind: ErrorKind = "cancelled" if error.get("code") == "cancelled" else "errored"
            output = LMOutput.failure(
                kind, error.get("message", ""), code=error.get("code"), provider=self.name
            )
            return ResultRecord(custom_id, output)
        answer = str(record.get("answer", ""))
        item: StructuredOutput | TextOutput = TextOutput(text=answer)
        if context.get("structured"):
            data, problem = parse_json_object(answer)
            if problem is not None:
                output = LMOutput.failure(
                    "invalid_response", problem, code="invalid_json", provider=self.name
                )
                return ResultRecord(custom_id, output)
            item = StructuredOutput(data=data)
        output = LMOutput(
            outputs=[item],
            token_usage=TokenUsage(**record.get("usage", {})),
            finish_details={"stop_reason": "end_turn", "model": record.get("model")},
        )
        return ResultRecord(custom_id, output)

    async def list_batches_page(self, cursor: str | None) -> BatchPage:
        """Every batch, newest first, on one page."""
        with self.vendor_errors():
            batches = self.client.list_batches()
        return BatchPage([self._info(batch) for batch in batches], next_cursor=None)

    async def cancel_batch(self, batch_id: str) -> None:
        """Ask the vendor to stop a running batch."""
        with self.vendor_errors():
            self.client.cancel_batch(batch_id)


def _last_user_text(messages: list[Message]) -> str:
    for message in reversed(messages):
        if message.role is MessageRole.USER:
            return message.text
    return ""
