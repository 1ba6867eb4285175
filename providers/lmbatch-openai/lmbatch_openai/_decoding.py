"""Decoding output- and error-file lines into :class:`LMOutput`.

=================================================  =========================================
result line                                        outcome
=================================================  =========================================
``response.status_code`` 2xx                       success, body decoded by the batch's
                                                   endpoint (Responses or Chat Completions)
``response.status_code`` ≥ 400 (or 0)              ``errored``, with the vendor's code,
                                                   message and status
``error.code == "batch_expired"``                  ``expired``
``error.code == "batch_cancelled"``                ``cancelled``
any other ``error``                                ``errored``
neither ``response`` nor ``error``                 ``invalid_response``
=================================================  =========================================

An ``errored`` outcome is ``transient`` (resubmitted by ``invoke``) when its HTTP status
says so (408, 409, 429, 5xx) or its code is one of the provider's
``transient_error_codes``. Lines that are not JSON objects are core's
(:meth:`BatchOperations.decode_result_line`).

Answers: text → :class:`TextOutput` (:class:`StructuredOutput` when a ``response_schema``
was requested; text that is not JSON is ``invalid_response``), refusals →
:class:`RefusalOutput`, function calls → :class:`ToolCall`, reasoning summaries →
:class:`ThinkingOutput`. Usage counts cached input and reasoning tokens. A chat-completions
body is read by :func:`decode_chat_completion`, public for vendors whose answers copy
OpenAI's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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
    is_transient_status,
    parse_json_object,
    unchecked_success,
)

__all__ = [
    "UnreadableAnswerError",
    "decode_body",
    "decode_chat_completion",
    "decode_record",
]

_NOT_RUN = {"batch_expired": "expired", "batch_cancelled": "cancelled"}


class UnreadableAnswerError(Exception):
    """A 2xx answer body lmbatch cannot read (e.g. structured output that is not JSON).

    Raised by :func:`decode_chat_completion`; its message says why. The request's outcome
    is then ``invalid_response`` (answered, and billed, but unusable).
    """


def decode_record(
    record: dict[str, Any],
    endpoint: str,
    structured: bool,
    provider: str,
    transient_codes: frozenset[str],
) -> ResultRecord:
    """One line of an output or error file, parsed.

    Args:
        record: The line's JSON object.
        endpoint: The endpoint the batch used (decides how a body reads).
        structured: Whether a ``response_schema`` was requested.
        provider: The provider's name, in errors.
        transient_codes: Error codes that mean "try again later".
    """
    custom_id = record.get("custom_id")
    custom_id = custom_id if isinstance(custom_id, str) else None
    return ResultRecord(
        custom_id, _outcome(record, endpoint, structured, provider, transient_codes)
    )


def _invalid(provider: str, message: str, raw: dict[str, Any] | None = None) -> LMOutput:
    return LMOutput.failure(
        "invalid_response", message, code="invalid_response", provider=provider, raw=raw
    )


def _outcome(
    record: dict[str, Any],
    endpoint: str,
    structured: bool,
    provider: str,
    transient_codes: frozenset[str],
) -> LMOutput:
    error = record.get("error")
    response = record.get("response")
    if isinstance(error, dict):
        code = error.get("code")
        kind = _NOT_RUN.get(str(code), "errored")
        return LMOutput.failure(
            kind,  # type: ignore[arg-type]
            str(error.get("message") or code or "the request failed"),
            code=str(code) if code is not None else None,
            provider=provider,
            raw=record,
            transient=isinstance(code, str) and code in transient_codes,
        )
    if not isinstance(response, dict):
        return _invalid(provider, "the result line has neither a response nor an error", record)
    status = response.get("status_code")
    body = _dict(response.get("body"))
    if not isinstance(status, int) or not 200 <= status < 300:
        detail = _dict(body.get("error"))
        code = detail.get("code") or detail.get("type")
        status_code = status if isinstance(status, int) else None
        return LMOutput.failure(
            "errored",
            str(detail.get("message") or f"the request failed with HTTP status {status}"),
            code=code,
            status_code=status_code,
            provider=provider,
            raw=record,
            transient=is_transient_status(status_code)
            or (isinstance(code, str) and code in transient_codes),
        )
    try:
        output = decode_body(body, endpoint, structured)
    except UnreadableAnswerError as exc:
        return _invalid(provider, str(exc), record)
    request_id = response.get("request_id")
    if request_id:
        output.finish_details["request_id"] = request_id
    return output


def decode_body(body: dict[str, Any], endpoint: str, structured: bool) -> LMOutput:
    """A 2xx response body of ``endpoint`` as :class:`LMOutput`.

    Raises:
        UnreadableAnswerError: The body cannot be read (e.g. structured output that is not JSON).
    """
    if endpoint == "/v1/chat/completions" or body.get("object") == "chat.completion":
        return decode_chat_completion(body, structured=structured)
    return _responses(body, structured)


def _answer_text(text: str, structured: bool) -> OutputItem:
    if not structured:
        return build_unchecked(TextOutput, {"type": "text", "text": text})
    data, problem = parse_json_object(text)
    if problem is not None:
        raise UnreadableAnswerError(problem)
    return StructuredOutput(data=data)


def _tool_call(call_id: Any, name: Any, arguments: Any) -> ToolCall:
    if not isinstance(arguments, str) or not arguments.strip():
        args: Any = {}
    else:
        try:
            args = json.loads(arguments)
        except ValueError as exc:
            raise UnreadableAnswerError(f"tool call arguments are not valid JSON: {exc}") from None
    if not isinstance(args, dict):
        raise UnreadableAnswerError("tool call arguments are not a JSON object")
    return ToolCall(id=str(call_id), name=str(name), args=args)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _responses(body: dict[str, Any], structured: bool) -> LMOutput:
    items: list[OutputItem] = []
    for entry in body.get("output") or []:
        if not isinstance(entry, dict):
            continue
        kind = entry.get("type")
        if kind == "message":
            for part in entry.get("content") or []:
                if not isinstance(part, dict):
                    continue
                if part.get("type") == "output_text":
                    items.append(_answer_text(str(part.get("text") or ""), structured))
                elif part.get("type") == "refusal":
                    items.append(RefusalOutput(text=str(part.get("refusal") or "")))
        elif kind == "function_call":
            items.append(
                _tool_call(entry.get("call_id"), entry.get("name"), entry.get("arguments"))
            )
        elif kind == "reasoning":
            for summary in entry.get("summary") or []:
                if isinstance(summary, dict) and summary.get("text"):
                    items.append(ThinkingOutput(text=str(summary["text"])))
    token_usage = _token_usage(body, input_name="input_tokens", output_name="output_tokens")
    incomplete = body.get("incomplete_details")
    if isinstance(incomplete, dict) and incomplete.get("reason"):
        stop_reason = str(incomplete["reason"])
    elif any(isinstance(item, ToolCall) for item in items):
        stop_reason = "tool_calls"
    else:
        stop_reason = "stop"
    details = {
        "stop_reason": stop_reason,
        "status": body.get("status"),
        "model": body.get("model"),
        "response_id": body.get("id"),
    }
    return unchecked_success(
        items,
        token_usage,
        {k: v for k, v in details.items() if v is not None},
        raw=body,
        finish_reason=_finish_reason(stop_reason, items),
    )


#: OpenAI's stop words (Chat ``finish_reason``, Responses ``incomplete_details.reason``).
_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "max_output_tokens": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
}


def _finish_reason(word: Any, items: list[OutputItem]) -> FinishReason | None:
    """The normalised reason; a refusal says ``refusal`` (OpenAI says ``stop`` there)."""
    if any(isinstance(item, RefusalOutput) for item in items):
        return "refusal"
    return finish_reason_of(word, _FINISH_REASONS)


def _token_usage(body: dict[str, Any], *, input_name: str, output_name: str) -> TokenUsage | None:
    """Usage of either endpoint: they differ only in the field names' stems.

    Responses says ``input_tokens``/``output_tokens``; Chat says ``prompt_tokens``/
    ``completion_tokens``; both add ``<name>_details`` with cached and reasoning tokens.
    """
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return None
    return build_unchecked(
        TokenUsage,
        {
            "input_tokens": _count(usage.get(input_name)),
            "output_tokens": _count(usage.get(output_name)),
            "cached_input_tokens": _count(
                _dict(usage.get(f"{input_name}_details")).get("cached_tokens")
            ),
            "reasoning_tokens": _count(
                _dict(usage.get(f"{output_name}_details")).get("reasoning_tokens")
            ),
        },
    )


def _text_chunks(chunks: list[Any]) -> str:
    return "".join(
        str(c.get("text") or "") for c in chunks if isinstance(c, dict) and c.get("type") == "text"
    )


def decode_chat_completion(
    body: dict[str, Any],
    *,
    structured: bool = False,
    finish_reasons: Mapping[str, FinishReason] | None = None,
) -> LMOutput:
    """A 2xx chat-completions answer body as :class:`LMOutput` (public).

    Reads OpenAI's ``chat.completion`` and what vendors that copy it add: reasoning as
    ``reasoning_content`` or ``reasoning``, and ``content`` as a list of chunks (``text``,
    and ``thinking`` whose ``thinking`` is text or a list of text chunks).

    ================================  ===================================================
    the first choice's ``message``    output
    ================================  ===================================================
    ``reasoning_content``/thinking    :class:`ThinkingOutput`
    ``refusal``                       :class:`RefusalOutput` (finish reason ``refusal``)
    ``content``                       :class:`TextOutput`, or :class:`StructuredOutput`
                                      when ``structured``
    ``tool_calls``                    :class:`ToolCall` (arguments parsed)
    ================================  ===================================================

    ``usage`` gives the token counts (cached and reasoning tokens from its
    ``*_tokens_details``); ``finish_details`` has ``stop_reason`` (the vendor's word),
    ``model`` and ``response_id``.

    Args:
        body: The answer's JSON body.
        structured: A ``response_schema`` was asked for: the text must be a JSON object.
        finish_reasons: The vendor's own ``finish_reason`` words, beyond OpenAI's
            (``stop``, ``length``, ``content_filter``, ``tool_calls``, ``function_call``).

    Raises:
        UnreadableAnswerError: No choices, structured output that is not a JSON object,
            or tool-call arguments that are not one.
    """
    choices = [c for c in body.get("choices") or [] if isinstance(c, dict)]
    if not choices:
        raise UnreadableAnswerError("the chat completion has no choices")
    choice = choices[0]
    message = _dict(choice.get("message"))
    items: list[OutputItem] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        items.append(ThinkingOutput(text=reasoning))
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        items.append(RefusalOutput(text=refusal))
    content = message.get("content")
    if isinstance(content, list):  # chunks: thinking first, then the answer's text
        for chunk in content:
            if isinstance(chunk, dict) and chunk.get("type") == "thinking":
                thought = chunk.get("thinking")
                text = thought if isinstance(thought, str) else _text_chunks(thought or [])
                items.append(ThinkingOutput(text=text))
        content = _text_chunks(content)
    if isinstance(content, str) and content:
        items.append(_answer_text(content, structured))
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            items.append(
                _tool_call(call.get("id"), function.get("name"), function.get("arguments"))
            )
    token_usage = _token_usage(body, input_name="prompt_tokens", output_name="completion_tokens")
    word = choice.get("finish_reason")
    details = {
        "stop_reason": word,
        "model": body.get("model"),
        "response_id": body.get("id"),
        "choices": len(choices) if len(choices) > 1 else None,
    }
    reason = _finish_reason(word, items)
    if reason == "other" and finish_reasons:
        reason = finish_reasons.get(str(word), "other")
    return unchecked_success(
        items,
        token_usage,
        {k: v for k, v in details.items() if v is not None},
        raw=body,
        finish_reason=reason,
    )
