"""An OpenRouter ``BatchObject`` as :class:`BatchInfo`, and its result items as outcomes.

=====================================  ====================
``status``                             :class:`BatchStatus`
=====================================  ====================
``validating``, ``in_progress``,       ``IN_PROGRESS``
``finalizing``
``completed``                          ``FINISHED``
``failed``                             ``FAILED`` (reason in ``error.message``)
``expired``                            ``EXPIRED``
``cancelling``                         ``CANCELING``
``cancelled``                          ``CANCELLED``
anything else                          ``UNKNOWN``
=====================================  ====================

``request_counts`` has ``total``, ``completed`` (succeeded) and ``failed``; requests that
never ran are ``expired``, ``cancelled`` or ``processing`` by the batch's status. Times
are unix seconds (``created_at``, ``finalized_at``, ``expires_at``).

A result item is ``{custom_id, response: {status_code, request_id, body}, error}`` with
exactly one of ``response``/``error`` set: a 2xx response is decoded as a chat
completion; a ≥ 400 response or an ``error`` is ``errored`` (``expired``/``cancelled``
when the error type says so).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lmbatch.provider import (
    BatchError,
    BatchInfo,
    BatchStatus,
    LMOutput,
    ResultRecord,
    empty_counts,
)
from lmbatch_openrouter._chat import BadAnswer, decode_chat
from lmbatch_openrouter._http import PROVIDER

__all__ = ["STATUS_TABLE", "batch_info", "decode_result"]

STATUS_TABLE: dict[str, BatchStatus] = {
    "validating": BatchStatus.IN_PROGRESS,
    "in_progress": BatchStatus.IN_PROGRESS,
    "finalizing": BatchStatus.IN_PROGRESS,
    "completed": BatchStatus.FINISHED,
    "failed": BatchStatus.FAILED,
    "expired": BatchStatus.EXPIRED,
    "cancelling": BatchStatus.CANCELING,
    "cancelled": BatchStatus.CANCELLED,
}
_NOT_RUN = {"batch_expired": "expired", "expired": "expired", "batch_cancelled": "cancelled"}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _time(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value, tz=UTC)


def batch_info(raw: dict[str, Any]) -> BatchInfo:
    """A raw ``BatchObject`` (or list item) as :class:`BatchInfo`; ``raw`` keeps it whole."""
    word = str(raw.get("status") or "")
    status = STATUS_TABLE.get(word, BatchStatus.UNKNOWN)
    vendor = raw.get("request_counts") or {}
    counts = empty_counts(_int(vendor.get("total")))
    counts["succeeded"], counts["errored"] = (
        _int(vendor.get("completed")),
        _int(vendor.get("failed")),
    )
    rest = max(0, counts["total"] - counts["succeeded"] - counts["errored"])
    if status is BatchStatus.EXPIRED:
        counts["expired"] = rest
    elif status is BatchStatus.CANCELLED:
        counts["cancelled"] = rest
    elif not status.is_terminal:
        counts["processing"] = rest
    error = raw.get("error")
    errors = [
        BatchError(code=None, message=str(error.get("message") or ""), line=None, param=None)
        for error in [error]
        if isinstance(error, dict)
    ]
    return BatchInfo(
        id=str(raw.get("id") or ""),
        provider=PROVIDER,
        status=status,
        provider_status=word or "unknown",
        created_at=_time(raw.get("created_at")),
        request_counts=counts,
        model=raw.get("model") if isinstance(raw.get("model"), str) else None,
        metadata={},  # OpenRouter batches carry no metadata
        errors=errors,
        raw=raw,
        ended_at=_time(raw.get("finalized_at")),
        expires_at=_time(raw.get("expires_at")),
    )


def _failure(item: dict[str, Any], message: str, **fields: Any) -> LMOutput:
    return LMOutput.failure(message=message, provider=PROVIDER, raw=item, **fields)


def decode_result(item: Any, structured: bool) -> ResultRecord:
    """One item of ``results`` as a :class:`ResultRecord`."""
    if not isinstance(item, dict):
        bad = LMOutput.failure(
            "invalid_response",
            "a result is not a JSON object",
            code="malformed_line",
            provider=PROVIDER,
        )
        return ResultRecord(None, bad)
    custom_id = item.get("custom_id")
    custom_id = custom_id if isinstance(custom_id, str) else None
    error, response = item.get("error"), item.get("response")
    if isinstance(error, dict):
        code = error.get("error_type") or error.get("type")
        kind = _NOT_RUN.get(str(code), "errored")
        text = str(error.get("message") or code or "the request failed")
        return ResultRecord(custom_id, _failure(item, text, kind=kind, code=code))
    if not isinstance(response, dict):
        text = "the result has neither a response nor an error"
        return ResultRecord(custom_id, _failure(item, text, kind="invalid_response"))
    status = response.get("status_code")
    body: dict[str, Any] = response["body"] if isinstance(response.get("body"), dict) else {}
    if not isinstance(status, int) or not 200 <= status < 300:
        detail: dict[str, Any] = body["error"] if isinstance(body.get("error"), dict) else {}
        text = str(detail.get("message") or f"the request failed with HTTP status {status}")
        code = detail.get("type") or detail.get("code")
        return ResultRecord(
            custom_id,
            _failure(
                item,
                text,
                kind="errored",
                code=str(code) if code is not None else None,
                status_code=status if isinstance(status, int) else None,
            ),
        )
    try:
        output = decode_chat(body, structured)
    except BadAnswer as exc:
        return ResultRecord(custom_id, _failure(item, str(exc), kind="invalid_response"))
    if response.get("request_id"):
        output.finish_details["request_id"] = response["request_id"]
    return ResultRecord(custom_id, output)
