"""Encoding a request for ``/v1/chat/completions``.

==========================  ===============================================================
lmbatch                     Chat Completions request body
==========================  ===============================================================
system message              ``{"role": "system", "content": text}``
user text / attachments     ``{"role": "user", "content": [text | image_url | file]}``;
                            images as URL or ``data:`` URL, PDFs as inline ``file_data``
                            only (a PDF URL is refused)
assistant text / calls      ``{"role": "assistant", "content": text | null,
                            "tool_calls": [{"id", "type": "function",
                            "function": {"name", "arguments"}}]}``
user ``ToolResult``         ``{"role": "tool", "tool_call_id", "content"}``
``max_tokens``              ``max_completion_tokens``
``temperature``, ``top_p``  same names
``stop``                    ``stop`` (a list)
``seed``                    ``seed``
``response_schema``         ``response_format = {"type": "json_schema", "json_schema":
                            {"name", "schema", "strict": true}}``
``tools``                   ``{"type": "function", "function": {"name", "description",
                            "parameters"}}``
``tool_choice``             ``"auto"``/``"none"``/``"required"``, or
                            ``{"type": "function", "function": {"name"}}``
anything else               copied into the body unchanged
==========================  ===============================================================
"""

from __future__ import annotations

from typing import Any

from lmbatch.provider import Attachment, Hyperparameters, Message, MessageRole, ToolCall, ToolResult
from lmbatch_openai._encoding_shared import (
    check_messages,
    merge_extra,
    tool_arguments,
    tool_output,
)
from lmbatch_openai._schema import strict_response_schema

__all__ = ["encode_chat_body", "validate_chat_request"]


def validate_chat_request(key: str, messages: list[Message]) -> None:
    """Refuse a conversation Chat Completions cannot carry."""
    check_messages(key, messages, pdf_urls=False)


def _attachment(part: Attachment) -> dict[str, Any]:
    if part.is_image:
        return {"type": "image_url", "image_url": {"url": part.data_url(), "detail": "auto"}}
    return {
        "type": "file",
        "file": {"filename": part.filename or "document.pdf", "file_data": part.data_url()},
    }


def _chat_messages(message: Message) -> list[dict[str, Any]]:
    if message.role is MessageRole.SYSTEM:
        return [{"role": "system", "content": message.text}]
    if message.role is MessageRole.ASSISTANT:
        calls = [part for part in message.contents if isinstance(part, ToolCall)]
        encoded: dict[str, Any] = {"role": "assistant", "content": message.text or None}
        if calls:
            encoded["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": tool_arguments(call)},
                }
                for call in calls
            ]
        return [encoded]
    out: list[dict[str, Any]] = []
    content: list[dict[str, Any]] = []
    for part in message.contents:
        if isinstance(part, ToolResult):
            out.append({"role": "tool", "tool_call_id": part.id, "content": tool_output(part)})
        elif isinstance(part, str):
            content.append({"type": "text", "text": part})
        elif isinstance(part, Attachment):
            content.append(_attachment(part))
    if content:
        out.append({"role": "user", "content": content})
    return out


def encode_chat_body(
    model: str, messages: list[Message], params: Hyperparameters
) -> dict[str, Any]:
    """The request body of one ``/v1/chat/completions`` call."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [encoded for message in messages for encoded in _chat_messages(message)],
    }
    if params.max_tokens is not None:
        body["max_completion_tokens"] = params.max_tokens
    for name in ("temperature", "top_p", "stop", "seed"):
        value = getattr(params, name)
        if value is not None:
            body[name] = value
    if params.response_schema is not None:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {
                "name": params.response_schema.name,
                "schema": strict_response_schema(params),
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
    if params.tool_choice is not None:
        choice = params.tool_choice
        body["tool_choice"] = (
            choice
            if choice in ("auto", "none", "required")
            else {"type": "function", "function": {"name": choice}}
        )
    return merge_extra(body, params)
