"""The ``fake`` provider: an in-memory, deterministic vendor for tests and examples.

It behaves like a real batch API (batches take polls to finish, can fail, expire with
partial results, be cancelled, and be listed page by page) but keeps everything in a
:class:`FakeBackend` in this process. Scripts decide what happens:

* per batch, with :meth:`FakeBackend.script_next_batch` (polls until done, failure,
  expiry, cancellation behaviour);
* per request id, with :meth:`FakeBackend.script_request`, or with a directive in the
  prompt text: ``[[lmbatch:error=429]]``, ``[[lmbatch:expire]]``,
  ``[[lmbatch:malformed]]``, ``[[lmbatch:omit]]``, ``[[lmbatch:duplicate]]``,
  ``[[lmbatch:finish=length]]`` (an ok answer with that ``finish_reason``), several
  comma-separated in one bracket too (the directive grammar the emulator reads too);
* per call, with :meth:`FakeBackend.fail_next` (raise an error on the next submit,
  fetch, results, list or cancel call).
"""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

from lmbatch._errors import BatchNotFoundError, ProviderRequestError, ValidationError
from lmbatch._hyperparameters import Hyperparameters
from lmbatch._keys import strip_job_tag
from lmbatch._limits import ProviderLimits
from lmbatch._messages import Attachment, Message, MessageRole, ToolCall
from lmbatch._operations import BatchOperations, BatchPage, ResultRecord
from lmbatch._outputs import (
    ErrorKind,
    FinishReason,
    LMOutput,
    OutputItem,
    RefusalOutput,
    StructuredOutput,
    TextOutput,
    TokenUsage,
)
from lmbatch._planning import PreparedBatch
from lmbatch._settings import ProviderSettings
from lmbatch._status import BatchError, BatchInfo, BatchStatus, RequestCounts, empty_counts
from lmbatch.testing._directives import faults_in_text
from lmbatch.testing._schema_sample import sample_from_schema

__all__ = [
    "FakeBackend",
    "FakeBatchOperations",
    "FakeBatchScript",
    "FakeRequestScript",
    "FakeSettings",
]

Operation = Literal["submit", "fetch", "results", "list", "cancel"]


class FakeSettings(ProviderSettings):
    """Options of the fake provider.

    Attributes:
        model: Model name echoed in outputs.
        polls_until_done: Status checks a batch takes to finish (the first check of a
            new batch always shows it in progress).
        page_size: Batches per page of ``list`` (small, so paging is exercised).
        max_requests_per_batch: Pretend vendor limit, to exercise splitting.
        custom_id_pattern: Pretend request-id rule, to exercise key mapping.
        create_settle_seconds: 0: a fake create either happened or not when the call
            ends, nothing is still in flight at the "vendor".
    """

    model: str | None = "fake-model"
    polls_until_done: int = 1
    page_size: int = 2
    max_requests_per_batch: int = 10_000
    custom_id_pattern: str | None = None
    create_settle_seconds: float = 0.0


@dataclass
class FakeRequestScript:
    """What happens to one request id."""

    error_status: int | None = None
    error_code: str | None = None
    expire: bool = False
    malformed: bool = False
    omit: bool = False
    duplicate: bool = False
    text: str | None = None
    finish_reason: str | None = None


@dataclass
class FakeBatchScript:
    """What happens to one batch.

    Attributes:
        polls_until_done: Status checks until it ends (None: the provider setting).
        fail_with: Batch-level errors: the batch ends ``failed``.
        expire: The batch ends ``expired``; requests after ``finished_before_expiry``
            (and those scripted to expire) come back expired.
        finished_before_expiry: How many requests ran before expiry or cancellation.
    """

    polls_until_done: int | None = None
    fail_with: list[BatchError] | None = None
    expire: bool = False
    finished_before_expiry: int = 0


@dataclass
class _FakeBatch:
    id: str
    model: str | None
    records: list[dict[str, Any]]
    metadata: dict[str, str]
    script: FakeBatchScript
    polls_left: int
    created_at: datetime
    state: str = "in_progress"  # in_progress, canceling, ended
    cancel_requested: bool = False
    ended_at: datetime | None = None
    results: list[tuple[str | None, LMOutput]] = field(default_factory=list)


class FakeBackend:
    """The fake vendor's state. Share one between operations to model one account."""

    def __init__(self) -> None:
        self.batches: dict[str, _FakeBatch] = {}
        self.request_scripts: dict[str, FakeRequestScript] = {}
        self.batch_scripts: list[FakeBatchScript] = []
        self.failures: dict[str, list[Exception]] = {}
        #: How many times each request id was submitted, across all batches (counted
        #: without the job tag lmbatch ends ids with, so one request in two jobs counts 2).
        self.submissions: Counter[str] = Counter()
        #: Calls made per operation.
        self.calls: Counter[str] = Counter()
        self._ids = itertools.count(1)
        # Ids must not repeat across processes that share one job store.
        self._session = uuid.uuid4().hex[:8]

    def reset(self) -> None:
        """Forget every batch, script and count."""
        self.__init__()  # type: ignore[misc]

    def script_request(self, custom_id: str, **script: Any) -> None:
        """Script one request id (see :class:`FakeRequestScript` for the fields)."""
        self.request_scripts[custom_id] = FakeRequestScript(**script)

    def script_next_batch(self, **script: Any) -> None:
        """Script the next batch created (see :class:`FakeBatchScript`)."""
        self.batch_scripts.append(FakeBatchScript(**script))

    def fail_next(self, operation: Operation, error: Exception) -> None:
        """Raise ``error`` on the next call of ``operation``."""
        self.failures.setdefault(operation, []).append(error)

    def _enter(self, operation: Operation) -> None:
        self.calls[operation] += 1
        queued = self.failures.get(operation)
        if queued:
            raise queued.pop(0)

    def _get(self, batch_id: str) -> _FakeBatch:
        batch = self.batches.get(batch_id)
        if batch is None:
            raise BatchNotFoundError(
                f"no fake batch {batch_id!r}", provider="fake", status_code=404
            )
        return batch


_FAKE_MAX_BYTES = 50 * 1024 * 1024

#: The backend shared by fake operations that are not given one.
default_backend = FakeBackend()


class FakeBatchOperations(BatchOperations):
    """The in-memory fake provider (provider name ``fake``)."""

    name = "fake"
    settings_class = FakeSettings
    marks_create_start = True
    #: Pretends to be a batch API at half price, like the real vendors, so costs
    #: exercise the discount (its models have no list price: give one in settings,
    #: ``prices={"fake-model": {"input": 1, "output": 2}}``).
    batch_discount: ClassVar[float] = 0.5
    # What an instance with default settings declares (instances follow their settings).
    limits = ProviderLimits(
        max_requests_per_batch=FakeSettings().max_requests_per_batch,
        max_bytes_per_batch=_FAKE_MAX_BYTES,
        headroom=1.0,
    )
    # Like Anthropic, the fake writes a line for every request it ran, expired or cancelled.
    result_line_states = frozenset({"succeeded", "errored", "expired", "cancelled"})
    # In memory: a download that came back short is read again at once.
    result_download_delays = (0.0, 0.0, 0.0)
    #: Fake batches keep the metadata lmbatch stamps, like OpenAI's.
    stamps_batch_metadata = True

    def __init__(
        self,
        settings: ProviderSettings | None = None,
        *,
        backend: FakeBackend | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(settings, **kwargs)
        assert isinstance(self.settings, FakeSettings)
        self.fake_settings: FakeSettings = self.settings
        self.backend = backend if backend is not None else default_backend
        self.limits = ProviderLimits(
            max_requests_per_batch=self.fake_settings.max_requests_per_batch,
            max_bytes_per_batch=_FAKE_MAX_BYTES,
            custom_id_pattern=self.fake_settings.custom_id_pattern,
            headroom=1.0,
        )

    # -- encoding --------------------------------------------------------------------

    def validate_request(self, key: str, messages: list[Message], params: Hyperparameters) -> None:
        for message in messages:
            for part in message.contents:
                if isinstance(part, Attachment) and not (part.is_image or part.is_pdf):
                    raise ValidationError(
                        f"attachments must be images or PDFs, not {part.mime_type}", key=key
                    )

    def encode_request(
        self, custom_id: str, messages: list[Message], params: Hyperparameters
    ) -> dict[str, Any]:
        return {
            "custom_id": custom_id,
            "model": self.settings.model,
            "messages": [message.model_dump(mode="json") for message in messages],
            "response_schema": params.response_schema.json_schema
            if params.response_schema
            else None,
            "tools": [tool.model_dump() for tool in params.tools or []],
            "tool_choice": params.tool_choice,
        }

    # -- lifecycle -------------------------------------------------------------------

    async def submit_batch(self, batch: PreparedBatch) -> str:
        # Scripted submit failures play the vendor's answer to the create call.
        self.create_started(batch)
        self.backend._enter("submit")
        records = list(batch.iter_records())
        script = (
            self.backend.batch_scripts.pop(0) if self.backend.batch_scripts else FakeBatchScript()
        )
        polls = script.polls_until_done
        batch_id = f"fakebatch_{self.backend._session}_{next(self.backend._ids):06d}"
        self.backend.batches[batch_id] = _FakeBatch(
            id=batch_id,
            model=self.settings.model,
            records=records,
            metadata=dict(batch.metadata),
            script=script,
            polls_left=max(1, polls if polls is not None else self.fake_settings.polls_until_done),
            created_at=datetime.now(UTC),
        )
        for record in records:
            self.backend.submissions[strip_job_tag(record["custom_id"])] += 1
        return batch_id

    async def fetch_batch(self, batch_id: str) -> BatchInfo:
        self.backend._enter("fetch")
        batch = self.backend._get(batch_id)
        info = self._info(batch)
        # A status check shows the state, then time passes: the first check of a new
        # batch always sees it running, like a real vendor.
        if batch.state != "ended":
            batch.polls_left -= 1
            if batch.polls_left <= 0 or batch.state == "canceling":
                self._end(batch)
        return info

    def _end(self, batch: _FakeBatch) -> None:
        batch.state = "ended"
        batch.ended_at = datetime.now(UTC)
        if batch.script.fail_with is not None:
            return
        cut = len(batch.records)
        if batch.cancel_requested or batch.script.expire:
            cut = batch.script.finished_before_expiry
        for index, record in enumerate(batch.records):
            custom_id = record["custom_id"]
            script = self._script_for(record)
            if script.omit:
                continue
            if index >= cut or script.expire:
                kind: ErrorKind = "cancelled" if batch.cancel_requested else "expired"
                output = LMOutput.failure(
                    kind, f"request {kind} before it ran", code=f"batch_{kind}", provider="fake"
                )
            elif script.malformed:
                batch.results.append(
                    (None, LMOutput.failure("invalid_response", "malformed line", provider="fake"))
                )
                continue
            elif script.error_status is not None:
                output = LMOutput.failure(
                    "errored",
                    f"scripted error {script.error_status}",
                    code=script.error_code or f"http_{script.error_status}",
                    status_code=script.error_status,
                    provider="fake",
                )
            else:
                output = self._answer(record, script)
            batch.results.append((custom_id, output))
            if script.duplicate:
                batch.results.append((custom_id, output))

    def _script_for(self, record: dict[str, Any]) -> FakeRequestScript:
        scripts = self.backend.request_scripts
        custom_id = record["custom_id"]
        # Scripted by the id a test knows: with or without lmbatch's job tag.
        script = scripts.get(custom_id) or scripts.get(strip_job_tag(custom_id))
        if script is not None:
            return script
        fault = faults_in_text(_last_user_text(record))
        return FakeRequestScript(
            error_status=fault.error_status,
            expire=fault.expire,
            malformed=fault.malformed,
            omit=fault.omit,
            duplicate=fault.duplicate,
            finish_reason=fault.finish_reason,
        )

    def _answer(self, record: dict[str, Any], script: FakeRequestScript) -> LMOutput:
        prompt = _last_user_text(record)
        items: list[OutputItem] = []
        tool_choice = record.get("tool_choice")
        tools = {tool["name"]: tool for tool in record.get("tools") or []}
        if "[[refuse]]" in prompt:
            items.append(RefusalOutput(text="I can't help with that."))
        elif tool_choice in tools:
            args = sample_from_schema(tools[tool_choice]["parameters"], prompt)
            items.append(
                ToolCall(id=f"call_{record['custom_id'][:20]}", name=tool_choice, args=args)
            )
        elif record.get("response_schema") is not None:
            items.append(
                StructuredOutput(data=sample_from_schema(record["response_schema"], prompt))
            )
        else:
            items.append(
                TextOutput(text=script.text if script.text is not None else f"echo: {prompt}")
            )
        words = sum(len(_message_text(m).split()) for m in record["messages"])
        finish: FinishReason = "tool_calls" if tool_choice in tools else "stop"
        if any(isinstance(item, RefusalOutput) for item in items):
            finish = "refusal"
        if script.finish_reason is not None:
            finish = script.finish_reason  # type: ignore[assignment]
        return LMOutput(
            finish_reason=finish,
            outputs=items,
            token_usage=TokenUsage(input_tokens=words, output_tokens=len(prompt.split()) + 1),
            finish_details={"stop_reason": "end_turn", "model": record.get("model")},
            raw={"custom_id": record["custom_id"]},
        )

    def _info(self, batch: _FakeBatch) -> BatchInfo:
        counts = empty_counts(len(batch.records))
        if batch.state != "ended":
            status = (
                BatchStatus.CANCELING if batch.state == "canceling" else BatchStatus.IN_PROGRESS
            )
            counts["processing"] = len(batch.records)
        elif batch.script.fail_with is not None:
            status = BatchStatus.FAILED
        else:
            status = (
                BatchStatus.CANCELLED
                if batch.cancel_requested
                else BatchStatus.EXPIRED
                if batch.script.expire
                else BatchStatus.FINISHED
            )
            _count(counts, batch.results)
        return BatchInfo(
            id=batch.id,
            provider="fake",
            status=status,
            provider_status=batch.state if status is not BatchStatus.FAILED else "failed",
            created_at=batch.created_at,
            request_counts=counts,
            model=batch.model,
            metadata=dict(batch.metadata),
            errors=list(batch.script.fail_with or []),
            raw={"id": batch.id, "state": batch.state},
            ended_at=batch.ended_at,
            expires_at=batch.created_at + timedelta(hours=24),
        )

    async def iter_result_records(
        self, info: BatchInfo, context: dict[str, Any]
    ) -> AsyncIterator[ResultRecord]:
        self.backend._enter("results")
        batch = self.backend._get(info["id"])
        for custom_id, output in batch.results:
            yield ResultRecord(custom_id, output)

    async def list_batches_page(self, cursor: str | None) -> BatchPage:
        self.backend._enter("list")
        ordered = sorted(self.backend.batches.values(), key=lambda b: b.id, reverse=True)
        start = 0
        if cursor is not None:
            ids = [batch.id for batch in ordered]
            start = ids.index(cursor) + 1 if cursor in ids else len(ids)
        page = ordered[start : start + self.fake_settings.page_size]
        more = start + len(page) < len(ordered)
        return BatchPage([self._info(b) for b in page], page[-1].id if page and more else None)

    async def cancel_batch(self, batch_id: str) -> None:
        self.backend._enter("cancel")
        batch = self.backend._get(batch_id)
        if batch.state == "ended":
            raise ProviderRequestError(
                f"batch {batch_id} has ended and cannot be cancelled",
                provider="fake",
                status_code=409,
            )
        batch.cancel_requested = True
        batch.state = "canceling"


def _count(counts: RequestCounts, results: list[tuple[str | None, LMOutput]]) -> None:
    # Requests are counted, not lines: a duplicated line is one request.
    counted: set[str] = set()
    for custom_id, output in results:
        if custom_id is not None:
            if custom_id in counted:
                continue
            counted.add(custom_id)
        if output.error is None:
            counts["succeeded"] += 1
        elif output.error.kind == "expired":
            counts["expired"] += 1
        elif output.error.kind == "cancelled":
            counts["cancelled"] += 1
        else:
            counts["errored"] += 1


def _message_text(message: dict[str, Any]) -> str:
    return " ".join(part for part in message["contents"] if isinstance(part, str))


def _last_user_text(record: dict[str, Any]) -> str:
    for message in reversed(record["messages"]):
        if message["role"] == MessageRole.USER.value:
            return _message_text(message)
    return ""
