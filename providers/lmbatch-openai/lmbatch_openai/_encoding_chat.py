"""Encoding a request for ``/v1/chat/completions``: public (exported by ``lmbatch_openai``),
for OpenAI and for every vendor whose chat bodies copy OpenAI's, where the keywords of
:func:`encode_chat_body` and :func:`validate_chat_request` say how a vendor differs.

==========================  ===============================================================
lmbatch                     Chat Completions request body
==========================  ===============================================================
system message              ``{"role": "system", "content": text}``
user text / attachments     ``{"role": "user", "content": [text | image_url | file]}``;
                            images as URL or ``data:`` URL, PDFs as inline ``file_data``
                            only (a PDF URL is refused); ``attachment=`` for others
assistant text / calls      ``{"role": "assistant", "content": text | null,
                            "tool_calls": [{"id", "type": "function",
                            "function": {"name", "arguments"}}]}``
user ``ToolResult``         ``{"role": "tool", "tool_call_id", "content"}``
``max_tokens``              ``max_completion_tokens`` (``max_tokens_field=``)
``temperature``, ``top_p``  same names
``stop``                    ``stop`` (a list)
``seed``                    ``seed`` (``seed_field=``)
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

from collections.abc import Callable
from typing import Any

from lmbatch.provider import Attachment, Hyperparameters, Message, MessageRole, ToolCall, ToolResult
from lmbatch_openai._encoding_shared import (
    AttachmentSource,
    check_hyperparameters,
    check_messages,
    merge_extra,
    tool_arguments,
    tool_output,
)
from lmbatch_openai._schema import strict_response_schema

__all__ = [
    "chat_attachment",
    "encode_chat_body",
    "validate_chat_hyperparameters",
    "validate_chat_request",
]


def validate_chat_request(
    key: str,
    messages: list[Message],
    *,
    images: AttachmentSource = "any",
    pdfs: AttachmentSource = "inline",
) -> None:
    """Refuse a conversation a chat-completions body cannot carry, before anything is sent.

    Empty text parts, attachments other than images and PDFs, attachments outside user
    messages, tool calls or results in system messages, and attachments given in a way
    the vendor does not take.

    Args:
        key: The request key, named in the error.
        messages: The conversation.
        images: How the vendor takes images: ``"any"`` (a URL or inline data), ``"url"``
            only, or ``"inline"`` data only.
        pdfs: The same for PDFs (OpenAI's chat completions: ``"inline"``).

    Raises:
        ValidationError: The conversation cannot be sent.
    """
    check_messages(key, messages, images=images, pdfs=pdfs)


def validate_chat_hyperparameters(params: Hyperparameters) -> None:
    """Refuse hyperparameters a chat-completions body cannot carry, before anything is sent.

    A ``response_schema`` that is not an object schema (strict structured output), and
    pass-through keys that would replace what lmbatch sets (``model``, ``messages``,
    ``stream``...).

    Raises:
        ValidationError: The hyperparameters cannot be sent.
    """
    check_hyperparameters(params)


def chat_attachment(part: Attachment) -> dict[str, Any]:
    """One attachment as a chat-completions content part (OpenAI's encoding).

    An image is an ``image_url`` part (its URL, or a ``data:`` URL of inline bytes); a PDF
    is a ``file`` part whose ``file_data`` is a ``data:`` URL of inline bytes (or the URL
    given, for vendors that take PDFs by URL there).
    """
    if part.is_image:
        return {"type": "image_url", "image_url": {"url": part.data_url(), "detail": "auto"}}
    return {
        "type": "file",
        "file": {"filename": part.filename or "document.pdf", "file_data": part.data_url()},
    }


def _chat_messages(
    message: Message, attachment: Callable[[Attachment], dict[str, Any]]
) -> list[dict[str, Any]]:
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
            content.append(attachment(part))
    if content:
        out.append({"role": "user", "content": content})
    return out


def encode_chat_body(
    model: str,
    messages: list[Message],
    params: Hyperparameters,
    *,
    max_tokens_field: str = "max_completion_tokens",
    seed_field: str = "seed",
    attachment: Callable[[Attachment], dict[str, Any]] = chat_attachment,
) -> dict[str, Any]:
    """The body of one chat-completions request (see the table above).

    The body OpenAI's ``/v1/chat/completions`` takes, and every vendor whose chat endpoint
    copies it; the keywords cover where vendors differ.

    Args:
        model: The model.
        messages: The conversation (checked by :func:`validate_chat_request`).
        params: The hyperparameters (checked by :func:`validate_chat_hyperparameters`).
        max_tokens_field: The body key of ``max_tokens`` (OpenAI's current name is
            ``max_completion_tokens``; many vendors keep ``max_tokens``).
        seed_field: The body key of ``seed`` (Mistral says ``random_seed``).
        attachment: Encodes one attachment as a content part (default
            :func:`chat_attachment`).

    Raises:
        ValidationError: A pass-through hyperparameter would replace a key lmbatch sets.
    """
    body: dict[str, Any] = {
        "model": model,
        "messages": [
            encoded for message in messages for encoded in _chat_messages(message, attachment)
        ],
    }
    if params.max_tokens is not None:
        body[max_tokens_field] = params.max_tokens
    for name in ("temperature", "top_p", "stop"):
        value = getattr(params, name)
        if value is not None:
            body[name] = value
    if params.seed is not None:
        body[seed_field] = params.seed
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
