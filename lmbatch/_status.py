"""Batch status and batch information, the same for every provider."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

if TYPE_CHECKING:
    from lmbatch._cost import Cost

__all__ = ["TERMINAL_STATUSES", "BatchError", "BatchInfo", "BatchStatus", "RequestCounts"]


class BatchStatus(StrEnum):
    """Where a batch is in its life.

    CANCELLED and EXPIRED batches can still hold results of the requests that finished.
    """

    IN_PROGRESS = "in_progress"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELING = "canceling"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        """Whether the batch will not change any more."""
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {BatchStatus.FINISHED, BatchStatus.FAILED, BatchStatus.CANCELLED, BatchStatus.EXPIRED}
)


class RequestCounts(TypedDict):
    """How many requests of a batch are in each state."""

    total: int
    succeeded: int
    errored: int
    processing: int
    expired: int
    cancelled: int


class BatchError(TypedDict):
    """A batch-level error (the whole batch or one input line was refused).

    ``transient`` (optional, False when absent): the vendor failed the batch for a
    reason that passes (a queue quota, an overload): when the whole batch failed, its
    requests are resubmitted by ``invoke`` (see ``LMError.transient``).
    """

    code: str | None
    message: str
    line: int | None
    param: str | None
    transient: NotRequired[bool]


class BatchInfo(TypedDict):
    """What is known of a batch (or of an lmbatch job grouping several batches).

    ``list()`` returns these, so they are plain dicts.
    """

    id: str
    provider: str
    status: BatchStatus
    provider_status: str
    created_at: datetime | None
    request_counts: RequestCounts
    model: str | None
    metadata: dict[str, str]
    errors: list[BatchError]
    raw: dict[str, Any]
    ended_at: NotRequired[datetime | None]
    expires_at: NotRequired[datetime | None]
    #: For a job: the provider batches it consists of.
    batches: NotRequired[list[BatchInfo]]
    #: For a batch or job lmbatch made: the submission rounds, first and resubmissions
    #: (``{"round", "job_id", "requests"}`` each; a key's own round is in its output's
    #: ``finish_details["lmbatch_round"]``).
    rounds: NotRequired[list[dict[str, Any]]]
    #: For a batch or job lmbatch made: what it cost (every round of a job), from the
    #: job store's ledger, which fills as results are read; None before any are.
    cost: NotRequired[Cost | None]
    #: Why ``cost`` may be incomplete (results not all read, models without a price).
    cost_note: NotRequired[str]
    #: The job's ``max_cost``: ``{"max_cost", "spent", "left", "note"}`` (USD).
    budget: NotRequired[dict[str, Any]]


def empty_counts(total: int = 0) -> RequestCounts:
    """Request counts with every state at zero."""
    return RequestCounts(total=total, succeeded=0, errored=0, processing=0, expired=0, cancelled=0)
