"""How one line of an Anthropic results file becomes an :class:`lmbatch.LMOutput`.

A line is ``{"custom_id": ..., "result": {"type": ..., ...}}``:

=============  ======================================================================
``type``       outcome
=============  ======================================================================
``succeeded``  the message's content blocks, in order: ``text`` → ``TextOutput``;
               ``thinking`` → ``ThinkingOutput`` (with its signature);
               ``redacted_thinking`` → ``ThinkingOutput`` with empty text (the
               encrypted data as signature); ``tool_use`` → ``ToolCall``, or
               ``StructuredOutput`` for the forced response-schema tool; with native
               structured output the text is parsed as JSON into a
               ``StructuredOutput``. ``stop_reason == "refusal"`` adds a
               ``RefusalOutput``. Usage: ``input_tokens`` counts every prompt token
               (uncached + cache reads + cache writes), ``cached_input_tokens`` the
               cache reads; the vendor's own usage is kept in ``finish_details``
errored        ``LMError(kind="errored")`` with the vendor's error type as ``code``, its
               message, and the HTTP status that type stands for (which makes rate
               limits, API errors, timeouts and overloads ``transient``: resubmitted);
               both the nested ``{"type": "error", "error": {...}}`` and the older flat
               ``{"type": ..., "message": ...}`` shapes are read
``canceled``   ``LMError(kind="cancelled")``
``expired``    ``LMError(kind="expired")``
other / bad    ``LMError(kind="invalid_response")``
=============  ======================================================================

Lines that are not JSON objects are core's (:meth:`BatchOperations.decode_result_line`).
"""

from __future__ import annotations

from typing import Any

from lmbatch.provider import (
    FinishReason,
    LMOutput,
    OutputItem,
    RefusalOutput,
    ResultRecord,
    StructuredOutput,
    TextOutput,
    ThinkingOutput,
    TokenUsage,
    ToolCall,
    build_unchecked,
    finish_reason_of,
    parse_json_object,
    unchecked_success,
)

__all__ = ["ERROR_STATUS", "decode_record", "decode_result"]

#: The HTTP status each Anthropic error type stands for.
ERROR_STATUS = {
    "invalid_request_error": 400,
    "invalid_request": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def decode_record(record: dict[str, Any], context: dict[str, Any], provider: str) -> ResultRecord:
    """Decode one line of a results file, parsed (never raises)."""
    custom_id = record.get("custom_id")
    if not isinstance(custom_id, str):
        return ResultRecord(
            None,
            LMOutput.failure(
                "invalid_response",
                "the result line has no custom_id",
                code="malformed_line",
                provider=provider,
            ),
        )
    return ResultRecord(custom_id, decode_result(record.get("result"), context, provider))


def decode_result(result: Any, context: dict[str, Any], provider: str) -> LMOutput:
    """Decode the ``result`` object of one line."""
    kind = result.get("type") if isinstance(result, dict) else None
    raw = result if isinstance(result, dict) else None
    if kind == "succeeded" and isinstance(result.get("message"), dict):
        return _succeeded(result["message"], context, provider)
    if kind == "errored":
        return _errored(result.get("error"), raw, provider)
    if kind == "canceled":
        return LMOutput.failure(
            "cancelled",
            "the batch was cancelled before this request ran",
            code="canceled",
            provider=provider,
            raw=raw,
        )
    if kind == "expired":
        return LMOutput.failure(
            "expired",
            "the batch expired before this request ran",
            code="expired",
            provider=provider,
            raw=raw,
        )
    return LMOutput.failure(
        "invalid_response",
        f"unknown result type {kind!r}",
        code="unknown_result_type",
        provider=provider,
        raw=raw,
    )


def _errored(error: Any, raw: dict[str, Any] | None, provider: str) -> LMOutput:
    # Nested (current): {"type": "error", "error": {"type", "message"}, "request_id"}.
    # Flat (older docs): {"type": "invalid_request", "message": ...}.
    inner = error.get("error") if isinstance(error, dict) else None
    body = inner if isinstance(inner, dict) else error if isinstance(error, dict) else {}
    code = body.get("type") if isinstance(body.get("type"), str) else None
    message = body.get("message") if isinstance(body.get("message"), str) else ""
    return LMOutput.failure(
        "errored",
        message or "the request failed",
        code=code,
        status_code=ERROR_STATUS.get(code or ""),
        provider=provider,
        raw=raw,
    )


def _succeeded(message: dict[str, Any], context: dict[str, Any], provider: str) -> LMOutput:
    schema_tool = context.get("schema_tool")
    native = context.get("structured_output") == "native"
    items: list[OutputItem] = []
    for block in message.get("content") or []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            if native:
                data, problem = parse_json_object(block["text"])
                if problem is not None:
                    return _unreadable(message, problem, provider)
                items.append(StructuredOutput(data=data))
            else:
                items.append(build_unchecked(TextOutput, {"type": "text", "text": block["text"]}))
        elif kind == "thinking":
            items.append(
                ThinkingOutput(
                    text=str(block.get("thinking") or ""), signature=block.get("signature")
                )
            )
        elif kind == "redacted_thinking":
            items.append(ThinkingOutput(text="", signature=block.get("data")))
        elif kind == "tool_use":
            args = block.get("input") if isinstance(block.get("input"), dict) else {}
            if schema_tool is not None and block.get("name") == schema_tool:
                items.append(StructuredOutput(data=args))
            else:
                items.append(
                    ToolCall(
                        id=str(block.get("id", "")), name=str(block.get("name", "")), args=args
                    )
                )
        # Server-tool blocks (web search...) stay in ``raw`` only.
    if message.get("stop_reason") == "refusal":
        details = message.get("stop_details") or {}
        explanation = details.get("explanation") if isinstance(details, dict) else None
        texts = [i.text for i in items if isinstance(i, TextOutput)]
        text = explanation or "".join(texts) or "The model declined to answer."
        items = [i for i in items if not isinstance(i, TextOutput | StructuredOutput)]
        items.append(RefusalOutput(text=text))
    usage = _usage_of(message)
    return unchecked_success(
        items,
        _usage(usage),
        _finish_details(message, usage),
        raw=message,
        finish_reason=_finish_reason(message.get("stop_reason"), items),
    )


#: Anthropic's ``stop_reason`` words.
_FINISH_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "refusal",
}


def _finish_reason(word: Any, items: list[OutputItem]) -> FinishReason | None:
    reason = finish_reason_of(word, _FINISH_REASONS)
    if reason == "tool_calls" and not any(isinstance(item, ToolCall) for item in items):
        return "stop"  # the forced response-schema tool: a structured answer, complete
    return reason


def _unreadable(message: dict[str, Any], reason: str, provider: str) -> LMOutput:
    output = LMOutput.failure(
        "invalid_response", reason, code="invalid_json", provider=provider, raw=message
    )
    usage = _usage_of(message)
    return output.model_copy(
        update={"token_usage": _usage(usage), "finish_details": _finish_details(message, usage)}
    )


def _usage_of(message: dict[str, Any]) -> dict[str, Any]:
    usage = message.get("usage")
    return usage if isinstance(usage, dict) else {}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _usage(usage: dict[str, Any]) -> TokenUsage:
    cache_read = _int(usage.get("cache_read_input_tokens"))
    cache_write = _int(usage.get("cache_creation_input_tokens"))
    return build_unchecked(
        TokenUsage,
        {
            "input_tokens": _int(usage.get("input_tokens")) + cache_read + cache_write,
            "output_tokens": _int(usage.get("output_tokens")),
            "cached_input_tokens": cache_read,
            "reasoning_tokens": 0,
        },
    )


def _finish_details(message: dict[str, Any], usage: dict[str, Any]) -> dict[str, Any]:
    details: dict[str, Any] = {
        "stop_reason": message.get("stop_reason"),
        "stop_sequence": message.get("stop_sequence"),
        "model": message.get("model"),
        "message_id": message.get("id"),
        "cache_creation_input_tokens": _int(usage.get("cache_creation_input_tokens")),
        "cache_read_input_tokens": _int(usage.get("cache_read_input_tokens")),
        "usage": usage,
    }
    if usage.get("service_tier") is not None:
        details["service_tier"] = usage["service_tier"]
    return details
