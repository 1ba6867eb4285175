"""Configuration of the emulator: lifecycle mode, limits and scripted faults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Mode = Literal["polls", "time", "manual"]
"""How batches move through their lifecycle.

* ``"polls"``: every ``GET`` of one batch counts as a poll; ``polls_per_step`` polls advance it
  one step. Mirrors how a client experiences a real batch: it changes while you watch it.
* ``"time"``: a batch advances one step every ``seconds_per_step`` of wall-clock time.
* ``"manual"``: batches only move when the test calls ``Emulator.advance``.
"""

Provider = Literal["openai", "anthropic"]

OPENAI_OPERATIONS = frozenset(
    {
        "upload",
        "list_files",
        "retrieve_file",
        "delete_file",
        "content",
        "create",
        "retrieve",
        "list",
        "cancel",
    }
)
"""Operation names of the OpenAI half, as used by `EndpointFault.operation`."""

ANTHROPIC_OPERATIONS = frozenset({"create", "retrieve", "list", "cancel", "delete", "results"})
"""Operation names of the Anthropic half, as used by `EndpointFault.operation`."""


@dataclass
class EndpointFault:
    """Make calls to one API operation fail with a vendor-shaped HTTP error.

    Attributes:
        operation: Operation name, one of `OPENAI_OPERATIONS` / `ANTHROPIC_OPERATIONS`
            (``"upload"``, ``"create"``, ``"retrieve"``, ``"list"``, ``"content"``,
            ``"results"``, ``"cancel"``, ``"delete"``, ...).
        status: HTTP status to return (typically 500 or 429; 400..599 accepted).
        nth: Fail only the nth matching call (1-based, counted from when the fault was
            added). ``None`` fails every matching call.
        provider: Restrict to one half of the emulator; ``None`` matches both.
        after_effect: Perform the operation first and only then answer with the error:
            the "vendor created the batch but the client saw a 500" case.
        calls: Matching calls seen so far (maintained by the emulator).
        fired: Times this fault produced an error (maintained by the emulator).
    """

    operation: str
    status: int = 500
    nth: int | None = None
    provider: Provider | None = None
    after_effect: bool = False
    calls: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        known = OPENAI_OPERATIONS | ANTHROPIC_OPERATIONS
        if self.operation not in known:
            raise ValueError(
                f"unknown operation {self.operation!r}; expected one of {sorted(known)}"
            )
        if not 400 <= self.status <= 599:
            raise ValueError(f"fault status must be 4xx or 5xx, got {self.status}")
        if self.nth is not None and self.nth < 1:
            raise ValueError("nth is 1-based")


@dataclass
class EmulatorSettings:
    """Everything that shapes the emulator's behaviour.

    Attributes:
        mode: Lifecycle driver, see `Mode`.
        polls_per_step: In ``"polls"`` mode, retrieves of a batch needed per lifecycle step.
        seconds_per_step: In ``"time"`` mode, wall-clock seconds per lifecycle step.
        cancel_finished_fraction: Share of the requests (rounded down, input order) that are
            already answered when a running batch is cancelled; the rest come back as
            cancelled. Cancelling while OpenAI is still ``validating`` finishes none.
        require_auth: Check ``Authorization`` / ``x-api-key`` (any non-empty key passes).
        openai_max_requests: Lines allowed in one OpenAI batch input file.
        openai_max_file_bytes: Bytes allowed in one OpenAI batch input file.
        openai_max_upload_bytes: Bytes allowed in any single upload (413 above it).
        anthropic_max_requests: Requests allowed in one Anthropic batch.
        anthropic_max_body_bytes: Bytes allowed in one Anthropic create body.
        key_faults: Per-custom_id faults, the same syntax as the in-text directive minus the
            brackets, e.g. ``{"q1": "error=429", "q2": "expire", "q3": "malformed"}``.
        endpoint_faults: Operation-level faults, see `EndpointFault`.
        spill_dir: Parent directory for the emulator's temporary storage (``None``: the
            system temp dir). Uploaded files and result files live there, not in memory.
        sequential_ids: Number batches ``batch_000001``, ``msgbatch_000001``... from the
            start, as many self-hosted servers do (so two emulators hand out the same
            ids); by default ids are random, as the vendors' are.
        clock_offset: Seconds the emulated vendor's clock runs ahead of this machine's
            (negative: behind). Every time it reports (``created_at``, ``ended_at``, file
            times...) and its HTTP ``Date`` header use that clock, to test clock skew.
        create_delay: Seconds every batch-create call takes, half before the batch is
            made and half after, so a client that dies during the call may or may not
            have made one (both halves of the emulator).
    """

    mode: Mode = "polls"
    polls_per_step: int = 1
    seconds_per_step: float = 1.0
    cancel_finished_fraction: float = 0.5
    require_auth: bool = True
    openai_max_requests: int = 50_000
    openai_max_file_bytes: int = 200 * 1024 * 1024
    openai_max_upload_bytes: int = 512 * 1024 * 1024
    anthropic_max_requests: int = 100_000
    anthropic_max_body_bytes: int = 256 * 1024 * 1024
    key_faults: dict[str, str] = field(default_factory=dict)
    endpoint_faults: list[EndpointFault] = field(default_factory=list)
    spill_dir: str | None = None
    sequential_ids: bool = False
    clock_offset: float = 0.0
    create_delay: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in ("polls", "time", "manual"):
            raise ValueError(f"unknown mode {self.mode!r}")
        if self.polls_per_step < 1:
            raise ValueError("polls_per_step must be >= 1")
        if self.seconds_per_step <= 0:
            raise ValueError("seconds_per_step must be > 0")
        if not 0.0 <= self.cancel_finished_fraction <= 1.0:
            raise ValueError("cancel_finished_fraction must be within [0, 1]")
        if self.create_delay < 0:
            raise ValueError("create_delay must be >= 0")
