"""One request as a Mistral ``/v1/chat/completions`` body, and its answer back.

==========================  ======================================================
lmbatch                     Mistral chat body
==========================  ======================================================
system / user / assistant   ``{"role", "content"}``; user parts ``text``,
                            ``image_url`` (URL or ``data:`` URL) and
                            ``document_url`` (PDFs by URL only)
``ToolCall`` / ``ToolResult``  ``tool_calls`` / ``{"role": "tool", "tool_call_id"}``
``max_tokens``              ``max_tokens``
``temperature``, ``top_p``,  same names
``stop``
``seed``                    ``random_seed``
``response_schema``         ``response_format`` ``json_schema`` (strict)
``tools``, ``tool_choice``  function tools; ``"required"`` as is
==========================  ======================================================

Answers: ``content`` is a string or a list of chunks (``text``, ``thinking``);
``finish_reason`` ``model_length`` is ``length``.
"""

from __future__ import annotations

import json
from typing import Any

from lmbatch.provider import (
    Attachment,
    FinishReason,
    Hyperparameters,
    LMOutput,
    Message,
    MessageRole,
    OutputItem,
    StructuredOutput,
    TextOutput,
    ThinkingOutput,
    TokenUsage,
    ToolCall,
    ToolResult,
    ValidationError,
    finish_reason_of,
    parse_json_object,
    unchecked_success,
)

__all__ = ["RESERVED", "BadAnswer", "check_request", "decode_chat", "encode_chat"]

#: Body keys lmbatch sets; a pass-through hyperparameter may not replace them.
RESERVED = frozenset({"model", "messages", "stream"})
_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
    "model_length": "length",
}


class BadAnswer(Exception):
    """A 2xx body lmbatch cannot read."""


def check_request(key: str, messages: list[Message]) -> None:
    """Refuse what a Mistral batch cannot carry (raise :class:`ValidationError`)."""
    for index, message in enumerate(messages):
        for part in message.contents:
            if isinstance(part, str) and not part.strip():
                raise ValidationError(f"message #{index} has an empty text part", key=key)
            if not isinstance(part, Attachment):
                continue
            if not (part.is_image or part.is_pdf):
                raise ValidationError(
                    f"message #{index}: Mistral takes images and PDFs, not {part.mime_type}",
                    key=key,
                )
            if part.is_pdf and part.url is None:
                raise ValidationError(
                    f"message #{index}: Mistral takes PDFs by URL only (document_url)",
                    key=key,
                )
            if message.role is not MessageRole.USER:
                raise ValidationError(
                    f"message #{index}: attachments belong in user messages", key=key
                )


def _part(part: Any) -> dict[str, Any]:
    if isinstance(part, str):
        return {"type": "text", "text": part}
    if part.is_image:
        return {"type": "image_url", "image_url": part.data_url()}
    return {"type": "document_url", "document_url": part.url}


def _closed(node: Any) -> Any:
    """A copy of a JSON schema as strict mode wants it: objects closed, all keys required."""
    if isinstance(node, list):
        return [_closed(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _closed(value) for key, value in node.items()}
    if isinstance(out.get("properties"), dict):
        out.setdefault("additionalProperties", False)
        out["required"] = list(out["properties"])
    return out


def _messages(message: Message) -> list[dict[str, Any]]:
    if message.role is MessageRole.SYSTEM:
        return [{"role": "system", "content": message.text}]
    if message.role is MessageRole.ASSISTANT:
        out: dict[str, Any] = {"role": "assistant", "content": message.text or None}
        calls = [part for part in message.contents if isinstance(part, ToolCall)]
        if calls:
            out["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": json.dumps(call.args)},
                }
                for call in calls
            ]
        return [out]
    results = [part for part in message.contents if isinstance(part, ToolResult)]
    parts = [_part(part) for part in message.contents if isinstance(part, str | Attachment)]
    encoded: list[dict[str, Any]] = [
        {
            "role": "tool",
            "tool_call_id": result.id,
            "content": f"Error: {result.output}" if result.is_error else result.output,
        }
        for result in results
    ]
    if parts:
        encoded.append({"role": "user", "content": parts})
    return encoded


def encode_chat(model: str, messages: list[Message], params: Hyperparameters) -> dict[str, Any]:
    """The ``/v1/chat/completions`` body of one request."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [item for message in messages for item in _messages(message)],
    }
    for name in ("max_tokens", "temperature", "top_p", "stop", "seed"):
        value = getattr(params, name)
        if value is not None:
            body["random_seed" if name == "seed" else name] = value
    schema = params.response_schema
    if schema is not None:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {
                "name": schema.name,
                "schema": _closed(schema.json_schema),
                "strict": True,
            },
        }
    if params.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters,
                },
            }
            for tool in params.tools
        ]
    choice = params.tool_choice
    if choice is not None:
        named = {"type": "function", "function": {"name": choice}}
        body["tool_choice"] = choice if choice in ("auto", "none", "required") else named
    body.update(params.extra)
    return body


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(chunks: Any) -> str:
    parts = [c.get("text") for c in chunks if isinstance(c, dict) and c.get("type") == "text"]
    return "".join(p for p in parts if isinstance(p, str))


def _tool_call(call: dict[str, Any]) -> ToolCall:
    function = _dict(call.get("function"))
    arguments = function.get("arguments") or "{}"
    try:
        args = json.loads(arguments) if isinstance(arguments, str) else arguments
    except ValueError:
        raise BadAnswer("tool call arguments are not valid JSON") from None
    if not isinstance(args, dict):
        raise BadAnswer("tool call arguments are not a JSON object")
    return ToolCall(id=str(call.get("id")), name=str(function.get("name")), args=args)


def decode_chat(body: dict[str, Any], structured: bool) -> LMOutput:
    """A 2xx chat completion as :class:`LMOutput` (raise :class:`BadAnswer` if unreadable)."""
    choices = [c for c in body.get("choices") or [] if isinstance(c, dict)]
    if not choices:
        raise BadAnswer("the chat completion has no choices")
    message = _dict(choices[0].get("message"))
    items: list[OutputItem] = []
    content = message.get("content")
    if isinstance(content, list):  # chunks: thinking first, then the answer's text
        for chunk in content:
            if isinstance(chunk, dict) and chunk.get("type") == "thinking":
                thought = chunk.get("thinking")
                text = thought if isinstance(thought, str) else _text(thought)
                items.append(ThinkingOutput(text=text))
        content = _text(content)
    if isinstance(content, str) and content:
        if structured:
            data, problem = parse_json_object(content)
            if problem is not None:
                raise BadAnswer(problem)
            items.append(StructuredOutput(data=data))
        else:
            items.append(TextOutput(text=content))
    items += [_tool_call(c) for c in message.get("tool_calls") or [] if isinstance(c, dict)]
    usage = _dict(body.get("usage"))
    token_usage = TokenUsage(
        input_tokens=_count(usage.get("prompt_tokens")),
        output_tokens=_count(usage.get("completion_tokens")),
        cached_input_tokens=_count(usage.get("prompt_cached_tokens")),
    )
    word = choices[0].get("finish_reason")
    details = {
        "stop_reason": word,
        "model": body.get("model"),
        "response_id": body.get("id"),
    }
    reason = finish_reason_of(word, _FINISH)
    return unchecked_success(
        items,
        token_usage if usage else None,
        {k: v for k, v in details.items() if v is not None},
        raw=body,
        finish_reason=reason,
    )
