"""Together batch jobs as lmbatch's :class:`BatchInfo`.

==================  ===============
Together ``status`` lmbatch
==================  ===============
``VALIDATING``      ``IN_PROGRESS``
``IN_PROGRESS``     ``IN_PROGRESS``
``COMPLETED``       ``FINISHED``
``FAILED``          ``FAILED``
``EXPIRED``         ``EXPIRED``
``CANCELLED``       ``CANCELLED``
==================  ===============

A job has no request counts, only ``progress`` (a percentage): counts stay zero (total
unknown) and the percentage is kept in ``raw["progress"]``. Times are ISO 8601 strings;
``job_deadline`` is when the vendor expires the job.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lmbatch.provider import BatchError, BatchInfo, BatchStatus, empty_counts

__all__ = ["STATUS_TABLE", "job_info"]

#: Every vendor status (upper case) and what it means to lmbatch.
STATUS_TABLE: dict[str, BatchStatus] = {
    "VALIDATING": BatchStatus.IN_PROGRESS,
    "IN_PROGRESS": BatchStatus.IN_PROGRESS,
    "COMPLETED": BatchStatus.FINISHED,
    "FAILED": BatchStatus.FAILED,
    "EXPIRED": BatchStatus.EXPIRED,
    "CANCELLED": BatchStatus.CANCELLED,
}


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def job_info(raw: dict[str, Any], provider: str = "together") -> BatchInfo:
    """A vendor batch job (a dict, parsed leniently) as :class:`BatchInfo`."""
    vendor_status = str(raw.get("status") or "")
    # The vendor writes its words in upper case; a lower-case one still means the same.
    status = STATUS_TABLE.get(vendor_status.upper(), BatchStatus.UNKNOWN)
    error = raw.get("error")
    errors = [BatchError(code=None, message=str(error), line=None, param=None)] if error else []
    return BatchInfo(
        id=str(raw.get("id")),
        provider=provider,
        status=status,
        provider_status=vendor_status,
        created_at=_time(raw.get("created_at")),
        request_counts=empty_counts(),
        model=raw.get("model_id"),
        metadata={},
        errors=errors,
        raw=raw,
        ended_at=_time(raw.get("completed_at")) if status.is_terminal else None,
        expires_at=_time(raw.get("job_deadline")),
    )
