"""Encoding a request for ``/v1/responses``.

==========================  ===============================================================
lmbatch                     Responses request body
==========================  ===============================================================
system message              ``{"role": "system", "content": text}`` input item
user text / attachments     ``{"role": "user", "content": [input_text | input_image |
                            input_file]}``; inline data travels as a ``data:`` URL
assistant text              ``{"role": "assistant", "content": text}``
assistant ``ToolCall``      ``{"type": "function_call", "call_id", "name", "arguments"}``
user ``ToolResult``         ``{"type": "function_call_output", "call_id", "output"}``
``max_tokens``              ``max_output_tokens``
``temperature``, ``top_p``  same names
``stop``, ``seed``          not offered by Responses: refused (use ``/v1/chat/completions``)
``response_schema``         ``text.format = {"type": "json_schema", "name", "schema",
                            "strict": true}`` (objects closed, see :mod:`._schema`)
``tools``                   ``{"type": "function", "name", "description", "parameters",
                            "strict": false}``
``tool_choice``             ``"auto"``/``"none"``/``"required"``, or
                            ``{"type": "function", "name"}``
anything else               copied into the body unchanged
==========================  ===============================================================
"""

from __future__ import annotations

from typing import Any

from lmbatch.provider import (
    Attachment,
    Hyperparameters,
    Message,
    MessageRole,
    ToolCall,
    ToolResult,
    ValidationError,
)
from lmbatch_openai._encoding_shared import (
    check_messages,
    merge_extra,
    tool_arguments,
    tool_output,
)
from lmbatch_openai._schema import strict_response_schema

__all__ = [
    "encode_responses_body",
    "validate_responses_hyperparameters",
    "validate_responses_request",
]

_UNSUPPORTED = {"stop": "stop sequences", "seed": "a sampling seed"}


def validate_responses_hyperparameters(params: Hyperparameters) -> None:
    """Refuse portable settings the Responses endpoint does not offer."""
    for name, what in _UNSUPPORTED.items():
        if getattr(params, name) is not None:
            raise ValidationError(
                f"hyperparameters[{name!r}]: the /v1/responses endpoint does not take {what}; "
                "use endpoint='/v1/chat/completions'"
            )


def validate_responses_request(key: str, messages: list[Message]) -> None:
    """Refuse a conversation Responses cannot carry."""
    check_messages(key, messages)


def _attachment(part: Attachment) -> dict[str, Any]:
    if part.is_image:
        return {"type": "input_image", "image_url": part.data_url(), "detail": "auto"}
    if part.url is not None:
        return {"type": "input_file", "file_url": part.url}
    return {
        "type": "input_file",
        "filename": part.filename or "document.pdf",
        "file_data": part.data_url(),
    }


def _message_items(message: Message) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if message.role is MessageRole.USER:
        content: list[dict[str, Any]] = []
        for part in message.contents:
            if isinstance(part, ToolResult):
                # Tool results answer the assistant's calls, so they come first.
                items.append(
                    {
                        "type": "function_call_output",
                        "call_id": part.id,
                        "output": tool_output(part),
                    }
                )
            elif isinstance(part, str):
                content.append({"type": "input_text", "text": part})
            elif isinstance(part, Attachment):
                content.append(_attachment(part))
        if content:
            items.append({"type": "message", "role": "user", "content": content})
        return items
    text = message.text
    if text:
        items.append({"type": "message", "role": message.role.value, "content": text})
    for part in message.contents:
        if isinstance(part, ToolCall):
            items.append(
                {
                    "type": "function_call",
                    "call_id": part.id,
                    "name": part.name,
                    "arguments": tool_arguments(part),
                }
            )
    return items


def encode_responses_body(
    model: str, messages: list[Message], params: Hyperparameters
) -> dict[str, Any]:
    """The request body of one ``/v1/responses`` call."""
    body: dict[str, Any] = {
        "model": model,
        "input": [item for message in messages for item in _message_items(message)],
    }
    if params.max_tokens is not None:
        body["max_output_tokens"] = params.max_tokens
    if params.temperature is not None:
        body["temperature"] = params.temperature
    if params.top_p is not None:
        body["top_p"] = params.top_p
    if params.response_schema is not None:
        body["text"] = {
            "format": {
                "type": "json_schema",
                "name": params.response_schema.name,
                "schema": strict_response_schema(params),
                "strict": True,
            }
        }
    if params.tools:
        body["tools"] = [
            {
                "type": "function",
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.parameters,
                "strict": False,
            }
            for tool in params.tools
        ]
    if params.tool_choice is not None:
        choice = params.tool_choice
        body["tool_choice"] = (
            choice
            if choice in ("auto", "none", "required")
            else {"type": "function", "name": choice}
        )
    return merge_extra(body, params)
