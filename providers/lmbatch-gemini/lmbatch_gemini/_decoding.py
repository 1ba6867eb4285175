"""How one Gemini batch result becomes an :class:`lmbatch.LMOutput`.

A result is an inline entry ``{"metadata": {"key"}, "response" | "error"}`` or a file
line ``{"key", "response" | "error"}``. The key is the request's ``custom_id``; a result
without one (a batch made elsewhere without keys) gets its 0-based position in the results
as a synthetic key (``"0"``, ``"1"``...).

=====================================  ==============================================
Gemini                                 outcome
=====================================  ==============================================
``response`` (GenerateContentResponse)  the first candidate's parts, in order: text →
                                       ``TextOutput`` (``StructuredOutput`` parsed from
                                       the whole text when a ``response_schema`` was
                                       asked for); ``thought: true`` parts →
                                       ``ThinkingOutput`` (with the
                                       ``thoughtSignature``); a signature on another
                                       part → an empty ``ThinkingOutput`` carrying it,
                                       just before; ``functionCall`` → ``ToolCall`` (id
                                       ``call_<n>`` when Gemini gives none)
``promptFeedback.blockReason``         ``RefusalOutput`` ("the prompt was blocked"),
                                       ``finish_reason="content_filter"``
``finishReason`` SAFETY, RECITATION,   ``finish_reason="content_filter"``, with a
BLOCKLIST, PROHIBITED_CONTENT, SPII...  ``RefusalOutput`` when nothing else came back
``error`` (google.rpc.Status)          ``LMError(kind="errored")`` with the code's name
                                       (``DEADLINE_EXCEEDED``) and the HTTP status it
                                       stands for (504: resubmitted by ``invoke``);
                                       ``CANCELLED`` → ``kind="cancelled"``
anything else                          ``LMError(kind="invalid_response")``
=====================================  ==============================================

Usage (``usageMetadata``): ``input_tokens`` = ``promptTokenCount`` (cached tokens
included), ``cached_input_tokens`` = ``cachedContentTokenCount``, ``reasoning_tokens`` =
``thoughtsTokenCount``, ``output_tokens`` = ``candidatesTokenCount`` +
``thoughtsTokenCount`` (every billed output token, as OpenAI counts reasoning inside
output). ``finish_details`` keeps ``stop_reason`` (the ``finishReason`` word), the model
version, the response id and the raw usage.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

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
from lmbatch_gemini._errors import PROVIDER, rpc_status

__all__ = ["decode_entry", "decode_line", "decode_response", "salvage_key"]

_KEY_RE = re.compile(rb'"key"\s*:\s*"((?:[^"\\]|\\.)*)"')

_FINISH_REASONS: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "MODEL_ARMOR": "content_filter",
}


def salvage_key(line: bytes) -> str | None:
    """The ``key`` of a result line that is not valid JSON, if it still shows."""
    found = _KEY_RE.search(line)
    if found is None:
        return None
    try:
        value = orjson.loads(b'"' + found.group(1) + b'"')
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, str) else None


def decode_line(
    line: bytes, position: int, context: dict[str, Any], provider: str = PROVIDER
) -> ResultRecord:
    """Decode one line of a responses file (never raises).

    Args:
        line: The line, without its line break.
        position: Its 0-based position among the file's results (the synthetic key of a
            line without a key).
        context: The job's context (``response_schema`` when structured output was asked).
        provider: The provider's name, in errors.
    """
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return ResultRecord(
            salvage_key(line),
            LMOutput.failure(
                "invalid_response",
                f"the result line is not valid JSON: {exc}",
                code="malformed_line",
                provider=provider,
            ),
        )
    if not isinstance(record, dict):
        return ResultRecord(
            None,
            LMOutput.failure(
                "invalid_response",
                "the result line is not a JSON object",
                code="malformed_line",
                provider=provider,
            ),
        )
    key = record.get("key")
    return _decoded(key if isinstance(key, str) else str(position), record, context, provider)


def decode_entry(
    entry: Any, position: int, context: dict[str, Any], provider: str = PROVIDER
) -> ResultRecord:
    """Decode one inline result ``{"metadata": {"key"}, "response" | "error"}``."""
    if not isinstance(entry, dict):
        return ResultRecord(
            str(position),
            LMOutput.failure(
                "invalid_response",
                "the inline result is not a JSON object",
                code="malformed_result",
                provider=provider,
            ),
        )
    metadata = entry.get("metadata")
    key = metadata.get("key") if isinstance(metadata, dict) else None
    return _decoded(key if isinstance(key, str) else str(position), entry, context, provider)


def _decoded(
    key: str, result: dict[str, Any], context: dict[str, Any], provider: str
) -> ResultRecord:
    error = result.get("error")
    if isinstance(error, dict):
        return ResultRecord(key, _errored(error, result, provider))
    response = result.get("response")
    if isinstance(response, dict):
        return ResultRecord(key, decode_response(response, context, provider))
    return ResultRecord(
        key,
        LMOutput.failure(
            "invalid_response",
            "the result has neither a response nor an error",
            code="malformed_result",
            provider=provider,
            raw=result,
        ),
    )


def _errored(error: dict[str, Any], raw: dict[str, Any], provider: str) -> LMOutput:
    word, http, message = rpc_status(error)
    if word == "CANCELLED":
        return LMOutput.failure(
            "cancelled",
            message or "the batch was cancelled before this request ran",
            code=word,
            provider=provider,
            raw=raw,
        )
    return LMOutput.failure(
        "errored",
        message or "the request failed",
        code=word,
        status_code=http,
        provider=provider,
        raw=raw,
    )


def decode_response(
    response: dict[str, Any], context: dict[str, Any], provider: str = PROVIDER
) -> LMOutput:
    """Decode one ``GenerateContentResponse``."""
    usage = response.get("usageMetadata")
    usage = usage if isinstance(usage, dict) else {}
    candidates = response.get("candidates")
    candidate = candidates[0] if isinstance(candidates, list) and candidates else None
    candidate = candidate if isinstance(candidate, dict) else {}
    feedback = response.get("promptFeedback")
    blocked = feedback.get("blockReason") if isinstance(feedback, dict) else None
    details = _finish_details(response, candidate, usage, blocked)
    if blocked and not candidate:
        refusal = RefusalOutput(text=f"the prompt was blocked ({blocked})")
        return unchecked_success(
            [refusal], _usage(usage), details, raw=response, finish_reason="content_filter"
        )
    items, problem = _items(candidate, context)
    if problem is not None:
        output = LMOutput.failure(
            "invalid_response", problem, code="invalid_json", provider=provider, raw=response
        )
        return output.model_copy(update={"token_usage": _usage(usage), "finish_details": details})
    word = candidate.get("finishReason")
    reason = finish_reason_of(word, _FINISH_REASONS)
    if reason == "stop" and any(isinstance(item, ToolCall) for item in items):
        reason = "tool_calls"
    if reason == "content_filter" and not any(
        isinstance(item, TextOutput | StructuredOutput | ToolCall) for item in items
    ):
        items.append(RefusalOutput(text=f"the answer was blocked ({word})"))
    if reason is None and candidate:
        reason = "stop"
    return unchecked_success(items, _usage(usage), details, raw=response, finish_reason=reason)


def _items(
    candidate: dict[str, Any], context: dict[str, Any]
) -> tuple[list[OutputItem], str | None]:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    items: list[OutputItem] = []
    texts: list[str] = []
    structured = context.get("response_schema") is not None
    calls = 0
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, dict):
            continue
        signature = part.get("thoughtSignature")
        signature = signature if isinstance(signature, str) else None
        text = part.get("text")
        if part.get("thought") is True:
            thought = text if isinstance(text, str) else ""
            items.append(ThinkingOutput(text=thought, signature=signature))
            continue
        if signature is not None:
            # Kept so the conversation can go on (see the encoding's thought_signature).
            items.append(ThinkingOutput(text="", signature=signature))
        call = part.get("functionCall")
        if isinstance(call, dict):
            args = call.get("args")
            call_id = call.get("id")
            items.append(
                ToolCall(
                    id=call_id if isinstance(call_id, str) and call_id else f"call_{calls}",
                    name=str(call.get("name") or ""),
                    args=args if isinstance(args, dict) else {},
                )
            )
            calls += 1
        elif isinstance(text, str):
            if structured:
                texts.append(text)
            else:
                items.append(build_unchecked(TextOutput, {"type": "text", "text": text}))
        # Other parts (inline images, executable code...) stay in ``raw`` only.
    if structured and texts:
        data, problem = parse_json_object("".join(texts))
        if problem is not None:
            return items, problem
        items.append(StructuredOutput(data=data))
    return items, None


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return 0


def _usage(usage: dict[str, Any]) -> TokenUsage | None:
    if not usage:
        return None
    thoughts = _int(usage.get("thoughtsTokenCount"))
    return build_unchecked(
        TokenUsage,
        {
            "input_tokens": _int(usage.get("promptTokenCount")),
            "output_tokens": _int(usage.get("candidatesTokenCount")) + thoughts,
            "cached_input_tokens": _int(usage.get("cachedContentTokenCount")),
            "reasoning_tokens": thoughts,
        },
    )


def _finish_details(
    response: dict[str, Any], candidate: dict[str, Any], usage: dict[str, Any], blocked: Any
) -> dict[str, Any]:
    details: dict[str, Any] = {
        "stop_reason": candidate.get("finishReason"),
        "model": response.get("modelVersion"),
        "response_id": response.get("responseId"),
        "usage": usage,
    }
    if candidate.get("finishMessage") is not None:
        details["finish_message"] = candidate["finishMessage"]
    if blocked is not None:
        details["block_reason"] = blocked
    return details
