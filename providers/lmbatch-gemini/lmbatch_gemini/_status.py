"""How a Gemini batch operation becomes a :class:`lmbatch.BatchInfo`.

A batch is a long-running operation ``{name: "batches/...", metadata: {state, batchStats,
displayName, createTime, ...}, done?, response?, error?}``. Its ``state`` comes in both
spellings: the REST ``BATCH_STATE_*`` words and the google-genai SDK's ``JOB_STATE_*``.

=====================================  ===================
``state``                              :class:`BatchStatus`
=====================================  ===================
``PENDING``, ``QUEUED``, ``RUNNING``   ``IN_PROGRESS``
``CANCELLING``                         ``CANCELING``
``SUCCEEDED``                          ``FINISHED``
``FAILED``                             ``FAILED``
``CANCELLED``                          ``CANCELLED``
``EXPIRED`` (pending/running > 48 h)   ``EXPIRED``
no state, ``done`` with ``error``      ``FAILED`` (``CANCELLED`` for gRPC code 1)
no state, ``done`` with ``response``   ``FINISHED``
anything else                          ``UNKNOWN``
=====================================  ===================

Request counts come from ``metadata.batchStats``, whose int64 values are JSON *strings*
(``"requestCount": "4"``): ``total`` = ``requestCount``, ``succeeded`` =
``successfulRequestCount``, ``errored`` = ``failedRequestCount``; the requests not
counted as either are ``processing`` while the batch runs, ``cancelled`` or ``expired``
once it ended so. The operation's ``error`` (a ``google.rpc.Status``: the reason a batch
failed) is in ``errors``, ``transient`` when its code passes (``RESOURCE_EXHAUSTED``,
``UNAVAILABLE``, ``INTERNAL``...: the requests are then resubmitted by ``invoke``).
``expires_at`` is 48 h after creation, when Gemini expires a batch that has not ended.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from lmbatch.provider import (
    CHUNK_METADATA_KEY,
    JOB_ID_METADATA_KEY,
    BatchError,
    BatchInfo,
    BatchStatus,
    RequestCounts,
    is_transient_status,
)
from lmbatch_gemini._errors import PROVIDER, rpc_status

__all__ = [
    "EXPIRY",
    "batch_info",
    "batch_status",
    "display_name",
    "parse_timestamp",
    "stamp_of",
]

#: Gemini expires a batch still pending or running this long after its creation.
EXPIRY = timedelta(hours=48)

_STATES = {
    "PENDING": BatchStatus.IN_PROGRESS,
    "QUEUED": BatchStatus.IN_PROGRESS,
    "RUNNING": BatchStatus.IN_PROGRESS,
    "UPDATING": BatchStatus.IN_PROGRESS,
    "PAUSED": BatchStatus.IN_PROGRESS,
    "CANCELLING": BatchStatus.CANCELING,
    "SUCCEEDED": BatchStatus.FINISHED,
    "PARTIALLY_SUCCEEDED": BatchStatus.FINISHED,
    "FAILED": BatchStatus.FAILED,
    "CANCELLED": BatchStatus.CANCELLED,
    "EXPIRED": BatchStatus.EXPIRED,
}
_PREFIXES = ("BATCH_STATE_", "JOB_STATE_")
_FRACTION = re.compile(r"(\.\d+)")
# "<display name> [lmbatch_job_id=<job> lmbatch_chunk=<n>]"
_STAMP = re.compile(
    rf"\[{JOB_ID_METADATA_KEY}=(?P<job>[^\s\]]+) {CHUNK_METADATA_KEY}=(?P<chunk>\d+)\]\s*$"
)


def display_name(prefix: str, job_id: str, chunk_index: int) -> str:
    """The ``displayName`` lmbatch gives a batch: ``prefix`` and its job and chunk stamp."""
    stamp = f"[{JOB_ID_METADATA_KEY}={job_id} {CHUNK_METADATA_KEY}={chunk_index}]"
    return f"{prefix} {stamp}" if prefix else stamp


def stamp_of(name: Any) -> dict[str, str]:
    """The job id and chunk stamped in a ``displayName`` (``{}`` for other names)."""
    if not isinstance(name, str):
        return {}
    found = _STAMP.search(name)
    if found is None:
        return {}
    return {JOB_ID_METADATA_KEY: found["job"], CHUNK_METADATA_KEY: found["chunk"]}


def parse_timestamp(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (``Z`` or an offset, 0 to 9 fraction digits), or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text[-1] in "zZ":
        text = text[:-1] + "+00:00"
    # Google writes nanoseconds; Python reads microseconds.
    text = _FRACTION.sub(lambda m: "." + (m.group(1)[1:] + "000000")[:6], text, count=1)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _count(value: Any) -> int:
    """An int64 count: a JSON string (as Gemini sends it) or a number; 0 otherwise."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(0, value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return 0


def _state_word(state: Any) -> str | None:
    if not isinstance(state, str):
        return None
    for prefix in _PREFIXES:
        if state.startswith(prefix):
            return state[len(prefix) :]
    return state


def batch_status(operation: dict[str, Any]) -> BatchStatus:
    """The lmbatch status of a raw batch operation."""
    metadata = operation.get("metadata")
    state = _state_word(metadata.get("state") if isinstance(metadata, dict) else None)
    if state in _STATES:
        return _STATES[state]
    if state not in (None, "UNSPECIFIED") or operation.get("done") is not True:
        return BatchStatus.UNKNOWN
    error = operation.get("error")
    if isinstance(error, dict):
        return BatchStatus.CANCELLED if rpc_status(error)[0] == "CANCELLED" else BatchStatus.FAILED
    return BatchStatus.FINISHED


def _counts(stats: dict[str, Any], status: BatchStatus) -> RequestCounts:
    total = _count(stats.get("requestCount"))
    succeeded = _count(stats.get("successfulRequestCount"))
    errored = _count(stats.get("failedRequestCount"))
    pending = _count(stats.get("pendingRequestCount"))
    total = max(total, succeeded + errored)
    rest = max(0, total - succeeded - errored)
    counts = RequestCounts(
        total=total, succeeded=succeeded, errored=errored, processing=0, expired=0, cancelled=0
    )
    if status is BatchStatus.CANCELLED:
        counts["cancelled"] = rest
    elif status is BatchStatus.EXPIRED:
        counts["expired"] = rest
    elif not status.is_terminal:
        counts["processing"] = pending or rest
    # A failed or finished batch's uncounted requests have no result: core reports them.
    return counts


def _errors(operation: dict[str, Any]) -> list[BatchError]:
    error = operation.get("error")
    if not isinstance(error, dict):
        return []
    word, http, message = rpc_status(error)
    code = word or (str(http) if http is not None else None)
    return [
        BatchError(
            code=code,
            message=message or "the batch failed",
            line=None,
            param=None,
            # A batch failed for a passing reason (quota, overload): its requests are
            # worth resubmitting.
            transient=http is not None and is_transient_status(http),
        )
    ]


def _model(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return value.removeprefix("models/")


def batch_info(operation: dict[str, Any], provider: str = PROVIDER) -> BatchInfo:
    """A raw batch operation (the JSON Gemini sent) as a :class:`BatchInfo`.

    The operation is kept whole in ``raw``: results are read from there.
    """
    metadata = operation.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    status = batch_status(operation)
    stats = metadata.get("batchStats")
    created = parse_timestamp(metadata.get("createTime"))
    name = operation.get("name") or metadata.get("name") or ""
    state = metadata.get("state")
    if not isinstance(state, str) or not state:
        state = "DONE" if operation.get("done") is True else "unknown"
    info = BatchInfo(
        id=str(name),
        provider=provider,
        status=status,
        provider_status=state,
        created_at=created,
        request_counts=_counts(stats if isinstance(stats, dict) else {}, status),
        model=_model(metadata.get("model")),
        metadata=stamp_of(metadata.get("displayName")),
        errors=_errors(operation),
        raw=operation,
        ended_at=parse_timestamp(metadata.get("endTime")),
        expires_at=created + EXPIRY if created is not None else None,
    )
    return info
