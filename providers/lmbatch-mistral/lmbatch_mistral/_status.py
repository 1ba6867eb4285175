"""A Mistral ``BatchJob`` as :class:`BatchInfo`, and result lines as outcomes.

==========================  ====================
``status``                  :class:`BatchStatus`
==========================  ====================
``QUEUED``, ``RUNNING``     ``IN_PROGRESS``
``SUCCESS``                 ``FINISHED``
``FAILED``                  ``FAILED`` (reasons in ``errors[].message``)
``TIMEOUT_EXCEEDED``        ``EXPIRED`` (``timeout_hours`` ran out)
``CANCELLATION_REQUESTED``  ``CANCELING``
``CANCELLED``               ``CANCELLED``
anything else               ``UNKNOWN``
==========================  ====================

Counts: ``succeeded_requests``, ``failed_requests``; the rest of ``total_requests`` is
``processing`` while the job runs, then ``expired`` or ``cancelled`` by the status.
Times are unix seconds. A result line (output or error file) is ``{id, custom_id,
response: {status_code, body}, error}``: a 2xx response is decoded as a chat completion
(:func:`lmbatch_openai.decode_chat_completion`; ``model_length`` is ``length``),
anything else is ``errored`` (``invalid_response`` when it cannot be read), transient by
its HTTP status or an error type of :data:`lmbatch_openai.TRANSIENT_ERROR_CODES`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lmbatch_openai import TRANSIENT_ERROR_CODES, UnreadableAnswerError, decode_chat_completion

from lmbatch.provider import (
    BatchError,
    BatchInfo,
    BatchStatus,
    FinishReason,
    LMOutput,
    ResultRecord,
    empty_counts,
)

__all__ = ["STATUS_TABLE", "batch_info", "decode_record"]

STATUS_TABLE: dict[str, BatchStatus] = {
    "QUEUED": BatchStatus.IN_PROGRESS,
    "RUNNING": BatchStatus.IN_PROGRESS,
    "SUCCESS": BatchStatus.FINISHED,
    "FAILED": BatchStatus.FAILED,
    "TIMEOUT_EXCEEDED": BatchStatus.EXPIRED,
    "CANCELLATION_REQUESTED": BatchStatus.CANCELING,
    "CANCELLED": BatchStatus.CANCELLED,
}
#: Mistral's own ``finish_reason`` words, beyond OpenAI's.
_FINISH: dict[str, FinishReason] = {"model_length": "length"}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _time(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value, tz=UTC)


def batch_info(raw: dict[str, Any], provider: str) -> BatchInfo:
    """A raw ``BatchJob`` (as JSON) as :class:`BatchInfo`; ``raw`` keeps it whole."""
    word = str(raw.get("status") or "")
    status = STATUS_TABLE.get(word, BatchStatus.UNKNOWN)
    counts = empty_counts(_int(raw.get("total_requests")))
    counts["succeeded"] = _int(raw.get("succeeded_requests"))
    counts["errored"] = _int(raw.get("failed_requests"))
    rest = max(0, counts["total"] - counts["succeeded"] - counts["errored"])
    if status is BatchStatus.EXPIRED:
        counts["expired"] = rest
    elif status is BatchStatus.CANCELLED:
        counts["cancelled"] = rest
    elif not status.is_terminal:
        counts["processing"] = rest
    metadata = raw.get("metadata") or {}
    return BatchInfo(
        id=str(raw.get("id") or ""),
        provider=provider,
        status=status,
        provider_status=word or "unknown",
        created_at=_time(raw.get("created_at")),
        request_counts=counts,
        model=raw.get("model") if isinstance(raw.get("model"), str) else None,
        metadata={str(k): str(v) for k, v in metadata.items()},
        errors=[
            BatchError(code=None, message=str(e.get("message") or ""), line=None, param=None)
            for e in raw.get("errors") or []
            if isinstance(e, dict)
        ],
        raw=raw,
        ended_at=_time(raw.get("completed_at")),
        # Mistral does not report when a job times out (timeout_hours is not echoed
        # back); the key is still there, as on every provider, so scripts read it alike.
        expires_at=None,
    )


def _failure(kind: Any, message: str, record: Any, provider: str, **fields: Any) -> LMOutput:
    return LMOutput.failure(kind, message, provider=provider, raw=record, **fields)


def decode_record(record: dict[str, Any], structured: bool, provider: str) -> ResultRecord:
    """One line of an output or error file, parsed (lines that are not objects: core's)."""
    custom_id = record.get("custom_id")
    custom_id = custom_id if isinstance(custom_id, str) else None
    response = record.get("response")
    error = record.get("error")
    if isinstance(error, dict | str) and not isinstance(response, dict):
        message = error.get("message") if isinstance(error, dict) else error
        code = error.get("code") if isinstance(error, dict) else None
        text = str(message or "the request failed")
        transient = isinstance(code, str) and code in TRANSIENT_ERROR_CODES
        code = str(code) if code is not None else None
        output = _failure("errored", text, record, provider, code=code, transient=transient)
        return ResultRecord(custom_id, output)
    if not isinstance(response, dict):
        text = "the result line has neither a response nor an error"
        return ResultRecord(custom_id, _failure("invalid_response", text, record, provider))
    status = response.get("status_code")
    body: dict[str, Any] = response["body"] if isinstance(response.get("body"), dict) else {}
    if not isinstance(status, int) or not 200 <= status < 300:
        text = str(body.get("message") or f"the request failed with HTTP status {status}")
        code = body.get("type") or body.get("code")
        output = _failure(
            "errored",
            text,
            record,
            provider,
            code=str(code) if code is not None else None,
            status_code=status if isinstance(status, int) else None,
            # None: transient by the HTTP status.
            transient=True if isinstance(code, str) and code in TRANSIENT_ERROR_CODES else None,
        )
        return ResultRecord(custom_id, output)
    try:
        output = decode_chat_completion(body, structured=structured, finish_reasons=_FINISH)
    except UnreadableAnswerError as exc:
        return ResultRecord(custom_id, _failure("invalid_response", str(exc), record, provider))
    return ResultRecord(custom_id, output)
