"""What both endpoints' encoders share: request checks and small conversions."""

from __future__ import annotations

import json
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

__all__ = [
    "RESERVED_BODY_KEYS",
    "check_messages",
    "check_schema",
    "merge_extra",
    "tool_arguments",
    "tool_output",
]

#: Body keys lmbatch sets itself; a pass-through hyperparameter may not replace them.
RESERVED_BODY_KEYS = frozenset({"model", "input", "messages", "stream", "stream_options"})


def check_messages(key: str, messages: list[Message], *, pdf_urls: bool) -> None:
    """Refuse what neither endpoint can carry (raise :class:`ValidationError`).

    Args:
        key: The request key, for the error.
        messages: The conversation.
        pdf_urls: Whether the endpoint takes a PDF by URL (Responses does, Chat does not).
    """
    for index, message in enumerate(messages):
        for part in message.contents:
            if isinstance(part, str) and not part.strip():
                raise ValidationError(f"message #{index} has an empty text part", key=key)
            if not isinstance(part, Attachment):
                continue
            if not (part.is_image or part.is_pdf):
                raise ValidationError(
                    f"message #{index}: the OpenAI batch protocol takes image (png, jpeg, "
                    f"gif, webp) and PDF attachments, not {part.mime_type}",
                    key=key,
                )
            if message.role is not MessageRole.USER:
                raise ValidationError(
                    f"message #{index} ({message.role}): attachments belong in user messages",
                    key=key,
                )
            if part.is_pdf and part.url is not None and not pdf_urls:
                raise ValidationError(
                    f"message #{index}: /v1/chat/completions takes PDFs as inline data only, "
                    "not by URL; use Attachment.from_bytes/from_path or the /v1/responses "
                    "endpoint",
                    key=key,
                )
        if message.role is MessageRole.SYSTEM and any(
            isinstance(part, ToolCall | ToolResult) for part in message.contents
        ):
            raise ValidationError(f"message #{index}: system messages take text only", key=key)


def check_schema(params: Hyperparameters) -> None:
    """Refuse a ``response_schema`` OpenAI's strict mode cannot take."""
    schema = params.response_schema
    if schema is not None and schema.json_schema.get("type") != "object":
        raise ValidationError(
            "hyperparameters['response_schema']: strict structured output (json_schema) needs "
            f"an object schema at the top level, got type {schema.json_schema.get('type')!r}"
        )


def merge_extra(body: dict[str, Any], params: Hyperparameters) -> dict[str, Any]:
    """Add the pass-through hyperparameters to ``body`` (they may not replace core keys)."""
    reserved = RESERVED_BODY_KEYS & set(params.extra)
    if reserved:
        raise ValidationError(
            f"hyperparameters {sorted(reserved)} are set by lmbatch and cannot be passed through"
        )
    body.update(params.extra)
    return body


def tool_arguments(call: ToolCall) -> str:
    """A tool call's arguments as the JSON string OpenAI carries."""
    return json.dumps(call.args, ensure_ascii=False, separators=(",", ":"))


def tool_output(result: ToolResult) -> str:
    """A tool result's text; OpenAI has no error flag, so errors are marked in the text."""
    return f"Error: {result.output}" if result.is_error else result.output
