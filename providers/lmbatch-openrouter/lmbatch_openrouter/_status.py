"""An OpenRouter ``BatchObject`` as :class:`BatchInfo`, and its result items as outcomes.

The batch object is OpenAI's (statuses, ``request_counts``, unix times; see
:func:`lmbatch_openai.batch_info`), with ``finalized_at`` for its end and one
``error: {message}`` for a failed batch; it carries no metadata.

A result item is ``{custom_id, response: {status_code, request_id, body}, error}`` with
exactly one of ``response``/``error`` set:

=====================================  ==================================================
result item                            outcome
=====================================  ==================================================
``response.status_code`` 2xx           success: the body is a chat completion
                                       (:func:`lmbatch_openai.decode_chat_completion`;
                                       ``provider`` and ``usage.cost`` kept in
                                       ``finish_details`` as ``upstream_provider``, ``cost``)
``response.status_code`` ≥ 400         ``errored``, with the status and ``error.message``
``error`` of type ``batch_expired``    ``expired`` (``batch_cancelled``: ``cancelled``),
                                       whatever its canonical ``error_type``
any other ``error``                    ``errored``
neither                                ``invalid_response``
=====================================  ==================================================

``errored`` outcomes are transient (resubmitted by ``invoke``) by their HTTP status, an
error type of :data:`lmbatch_openai.TRANSIENT_ERROR_CODES` or a canonical ``error_type``
of an overloaded, unavailable, failing or slow upstream.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lmbatch_openai import (
    TRANSIENT_ERROR_CODES,
    UnreadableAnswerError,
    decode_chat_completion,
)
from lmbatch_openai import (
    batch_info as openai_batch_info,
)

from lmbatch.provider import BatchError, BatchInfo, LMOutput, ResultRecord

__all__ = ["batch_info", "decode_item"]

_NOT_RUN = {"batch_expired": "expired", "expired": "expired", "batch_cancelled": "cancelled"}
#: Error words worth a retry: OpenAI's, and OpenRouter's canonical ``error_type``s for an
#: overloaded, unavailable, failing or slow upstream.
_TRANSIENT = TRANSIENT_ERROR_CODES | {
    "provider_overloaded",
    "provider_unavailable",
    "server",
    "timeout",
}


def batch_info(raw: dict[str, Any], provider: str) -> BatchInfo:
    """A raw ``BatchObject`` (or list item) as :class:`BatchInfo`; ``raw`` keeps it whole."""
    info = openai_batch_info(raw, provider)
    ended = raw.get("finalized_at")
    if isinstance(ended, int | float) and not isinstance(ended, bool):
        info["ended_at"] = datetime.fromtimestamp(ended, tz=UTC)
    error = raw.get("error")
    if isinstance(error, dict):
        message = str(error.get("message") or "")
        info["errors"] = [BatchError(code=None, message=message, line=None, param=None)]
    return info


def _failure(item: Any, message: str, provider: str, **fields: Any) -> LMOutput:
    raw = item if isinstance(item, dict) else None
    return LMOutput.failure(message=message, provider=provider, raw=raw, **fields)


def decode_item(item: Any, structured: bool, provider: str) -> ResultRecord:
    """One item of a batch's ``results`` as a :class:`ResultRecord`."""
    if not isinstance(item, dict):
        text = "a result is not a JSON object"
        bad = _failure(item, text, provider, kind="invalid_response", code="malformed_line")
        return ResultRecord(None, bad)
    custom_id = item.get("custom_id")
    custom_id = custom_id if isinstance(custom_id, str) else None
    error, response = item.get("error"), item.get("response")
    if isinstance(error, dict):
        # ``error_type`` is OpenRouter's canonical class (the SDK's ``APIErrorType``), which
        # has no word for a request a batch left unrun: ``type`` says ``batch_expired``.
        words = [error.get(name) for name in ("error_type", "type")]
        words = [word for word in words if isinstance(word, str) and word]
        code = words[0] if words else None
        kind = next((_NOT_RUN[word] for word in words if word in _NOT_RUN), "errored")
        text = str(error.get("message") or code or "the request failed")
        transient = any(word in _TRANSIENT for word in words)
        output = _failure(item, text, provider, kind=kind, code=code, transient=transient)
        return ResultRecord(custom_id, output)
    if not isinstance(response, dict):
        text = "the result has neither a response nor an error"
        return ResultRecord(custom_id, _failure(item, text, provider, kind="invalid_response"))
    status = response.get("status_code")
    body: dict[str, Any] = response["body"] if isinstance(response.get("body"), dict) else {}
    if not isinstance(status, int) or not 200 <= status < 300:
        detail: dict[str, Any] = body["error"] if isinstance(body.get("error"), dict) else {}
        text = str(detail.get("message") or f"the request failed with HTTP status {status}")
        code = detail.get("type") or detail.get("code")
        output = _failure(
            item,
            text,
            provider,
            kind="errored",
            code=str(code) if code is not None else None,
            status_code=status if isinstance(status, int) else None,
            # None: transient by the HTTP status.
            transient=True if isinstance(code, str) and code in TRANSIENT_ERROR_CODES else None,
        )
        return ResultRecord(custom_id, output)
    try:
        output = decode_chat_completion(body, structured=structured)
    except UnreadableAnswerError as exc:
        return ResultRecord(custom_id, _failure(item, str(exc), provider, kind="invalid_response"))
    usage = body.get("usage")
    extra = {
        "request_id": response.get("request_id"),
        "upstream_provider": body.get("provider"),
        "cost": usage.get("cost") if isinstance(usage, dict) else None,
    }
    output.finish_details.update({k: v for k, v in extra.items() if v is not None})
    return ResultRecord(custom_id, output)
