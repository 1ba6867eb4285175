"""How an Anthropic ``MessageBatch`` object becomes a :class:`lmbatch.BatchInfo`.

===========================================  ===================
``processing_status``                        :class:`BatchStatus`
===========================================  ===================
``in_progress``                              ``IN_PROGRESS``
``canceling``                                ``CANCELING``
``ended`` with ``cancel_initiated_at`` set   ``CANCELLED``
``ended`` with ``request_counts.expired>0``  ``EXPIRED``
``ended`` otherwise                          ``FINISHED``
anything else                                ``UNKNOWN``
===========================================  ===================

Request counts: ``processing``, ``succeeded``, ``errored``, ``canceled`` (→ ``cancelled``)
and ``expired``; ``total`` is their sum. Timestamps are RFC 3339 strings (``Z`` or an
offset, any number of fraction digits) parsed into aware datetimes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from lmbatch.provider import BatchInfo, BatchStatus, RequestCounts

__all__ = ["batch_info", "batch_status", "parse_timestamp"]

_FRACTION = re.compile(r"(\.\d+)")
_STATUSES = {"in_progress": BatchStatus.IN_PROGRESS, "canceling": BatchStatus.CANCELING}


def parse_timestamp(value: Any) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime (UTC when no offset); None if absent.

    Accepts ``Z``/``z`` or ``±HH:MM`` offsets, a ``T`` or space separator, and 0 to 9
    fraction digits (beyond microseconds they are truncated). Unreadable values give None.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text[-1] in "zZ":
        text = text[:-1] + "+00:00"
    # Python reads at most 6 fraction digits reliably across versions: pad or cut to 6.
    text = _FRACTION.sub(lambda m: "." + (m.group(1)[1:] + "000000")[:6], text, count=1)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def batch_status(batch: dict[str, Any]) -> BatchStatus:
    """The lmbatch status of a raw ``MessageBatch``."""
    status = batch.get("processing_status")
    if status in _STATUSES:
        return _STATUSES[status]
    if status != "ended":
        return BatchStatus.UNKNOWN
    if batch.get("cancel_initiated_at"):
        return BatchStatus.CANCELLED
    counts = batch.get("request_counts") or {}
    if _count(counts.get("expired")) > 0:
        return BatchStatus.EXPIRED
    return BatchStatus.FINISHED


def batch_info(batch: dict[str, Any], provider: str) -> BatchInfo:
    """A raw ``MessageBatch`` (the JSON the API sent) as a :class:`BatchInfo` of ``provider``.

    The raw object is kept in ``raw``: ``results_url`` is read from there.
    """
    counts = batch.get("request_counts") or {}
    request_counts = RequestCounts(
        total=0,
        succeeded=_count(counts.get("succeeded")),
        errored=_count(counts.get("errored")),
        processing=_count(counts.get("processing")),
        expired=_count(counts.get("expired")),
        cancelled=_count(counts.get("canceled")),
    )
    request_counts["total"] = (
        request_counts["succeeded"]
        + request_counts["errored"]
        + request_counts["processing"]
        + request_counts["expired"]
        + request_counts["cancelled"]
    )
    return BatchInfo(
        id=str(batch.get("id", "")),
        provider=provider,
        status=batch_status(batch),
        provider_status=str(batch.get("processing_status") or "unknown"),
        created_at=parse_timestamp(batch.get("created_at")),
        request_counts=request_counts,
        model=None,  # a message batch names no model; each request carries its own
        metadata={},
        errors=[],
        raw=dict(batch),
        ended_at=parse_timestamp(batch.get("ended_at")),
        expires_at=parse_timestamp(batch.get("expires_at")),
    )
