"""OpenAI batch statuses, counts and errors as lmbatch's :class:`BatchInfo`.

:func:`batch_info` is public (exported by ``lmbatch_openai``) for vendors whose batch
objects copy OpenAI's (OpenRouter's do).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lmbatch.provider import BatchError, BatchInfo, BatchStatus, RequestCounts, empty_counts

__all__ = ["STATUS_TABLE", "batch_info"]

#: Every vendor status and what it means to lmbatch.
STATUS_TABLE: dict[str, BatchStatus] = {
    "validating": BatchStatus.IN_PROGRESS,
    "in_progress": BatchStatus.IN_PROGRESS,
    "finalizing": BatchStatus.IN_PROGRESS,
    "completed": BatchStatus.FINISHED,
    "failed": BatchStatus.FAILED,
    "cancelling": BatchStatus.CANCELING,
    "cancelled": BatchStatus.CANCELLED,
    "expired": BatchStatus.EXPIRED,
}
_END_STAMPS = ("completed_at", "failed_at", "expired_at", "cancelled_at")


def _time(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value, tz=UTC)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _counts(raw: dict[str, Any], status: BatchStatus) -> RequestCounts:
    vendor = raw.get("request_counts") or {}
    total, done, failed = (_int(vendor.get(k)) for k in ("total", "completed", "failed"))
    counts = empty_counts(total)
    counts["succeeded"], counts["errored"] = done, failed
    rest = max(0, total - done - failed)
    # The vendor does not count requests that never ran; the status says why they did not.
    if status is BatchStatus.EXPIRED:
        counts["expired"] = rest
    elif status is BatchStatus.CANCELLED:
        counts["cancelled"] = rest
    elif not status.is_terminal:
        counts["processing"] = rest
    return counts


def _errors(raw: dict[str, Any], transient_codes: frozenset[str]) -> list[BatchError]:
    container = raw.get("errors") or {}
    entries = container.get("data") if isinstance(container, dict) else None
    errors: list[BatchError] = []
    for entry in entries or []:
        if not isinstance(entry, dict):
            continue
        line = entry.get("line")
        code = entry.get("code")
        error = BatchError(
            code=code,
            message=str(entry.get("message") or ""),
            line=line if isinstance(line, int) else None,
            param=entry.get("param"),
        )
        if isinstance(code, str) and code in transient_codes:
            error["transient"] = True  # e.g. token_limit_exceeded: a full queue passes
        errors.append(error)
    return errors


def batch_info(
    raw: dict[str, Any], provider: str, transient_codes: frozenset[str] = frozenset()
) -> BatchInfo:
    """An OpenAI-protocol ``Batch`` object (a dict, read leniently) as :class:`BatchInfo`.

    ==========================================  ======================================
    ``status``                                  :class:`BatchStatus`
    ==========================================  ======================================
    ``validating``, ``in_progress``,            ``IN_PROGRESS``
    ``finalizing``
    ``completed``                               ``FINISHED``
    ``failed``                                  ``FAILED``
    ``expired``                                 ``EXPIRED``
    ``cancelling`` / ``cancelled``              ``CANCELING`` / ``CANCELLED``
    anything else                               ``UNKNOWN``
    ==========================================  ======================================

    ``request_counts`` (``total``, ``completed``, ``failed``) become succeeded and
    errored; requests that never ran are expired, cancelled or processing by the status.
    Times are unix seconds; ``errors.data`` become :class:`BatchError` entries;
    ``metadata`` is kept; ``raw`` is the object whole.

    Args:
        raw: The batch object.
        provider: The provider's name.
        transient_codes: Error codes that fail a batch for a passing reason: its
            requests are resubmitted (see :class:`BatchError`).
    """
    vendor_status = str(raw.get("status") or "")
    status = STATUS_TABLE.get(vendor_status, BatchStatus.UNKNOWN)
    metadata = raw.get("metadata") or {}
    ended = next((raw[k] for k in _END_STAMPS if raw.get(k) is not None), None)
    return BatchInfo(
        id=str(raw.get("id")),
        provider=provider,
        status=status,
        provider_status=vendor_status,
        created_at=_time(raw.get("created_at")),
        request_counts=_counts(raw, status),
        model=raw.get("model"),
        metadata={str(k): str(v) for k, v in metadata.items()},
        errors=_errors(raw, transient_codes),
        raw=raw,
        ended_at=_time(ended),
        expires_at=_time(raw.get("expires_at")),
    )
