"""What both endpoints' encoders share: request checks and small conversions."""

from __future__ import annotations

import json
from typing import Any, Literal

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
    "AttachmentSource",
    "check_hyperparameters",
    "check_messages",
    "merge_extra",
    "tool_arguments",
    "tool_output",
]

#: Body keys lmbatch sets itself; a pass-through hyperparameter may not replace them.
RESERVED_BODY_KEYS = frozenset({"model", "input", "messages", "stream", "stream_options"})


AttachmentSource = Literal["any", "url", "inline"]
"""How an endpoint takes one kind of attachment: by URL or inline data, or by ``url`` (an
``Attachment.from_url``) or ``inline`` data (``Attachment.from_bytes``/``from_path``) only."""


def check_messages(
    key: str,
    messages: list[Message],
    *,
    images: AttachmentSource = "any",
    pdfs: AttachmentSource = "any",
) -> None:
    """Refuse what neither endpoint can carry (raise :class:`ValidationError`).

    Args:
        key: The request key, for the error.
        messages: The conversation.
        images: How the endpoint takes images.
        pdfs: How the endpoint takes PDFs (OpenAI's Responses: any; its Chat Completions:
            inline only).
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
            source, kind = (images, "images") if part.is_image else (pdfs, "PDFs")
            if source == "url" and part.url is None:
                raise ValidationError(
                    f"message #{index}: this endpoint takes {kind} by URL only "
                    "(Attachment.from_url), not inline data",
                    key=key,
                )
            if source == "inline" and part.url is not None:
                raise ValidationError(
                    f"message #{index}: /v1/chat/completions takes {kind} as inline data only, "
                    "not by URL; use Attachment.from_bytes/from_path or the /v1/responses "
                    "endpoint",
                    key=key,
                )
        if message.role is MessageRole.SYSTEM and any(
            isinstance(part, ToolCall | ToolResult) for part in message.contents
        ):
            raise ValidationError(f"message #{index}: system messages take text only", key=key)


def check_hyperparameters(params: Hyperparameters) -> None:
    """Refuse a ``response_schema`` strict mode cannot take, and pass-through
    hyperparameters that would replace keys lmbatch sets (raise :class:`ValidationError`).
    """
    schema = params.response_schema
    if schema is not None and schema.json_schema.get("type") != "object":
        raise ValidationError(
            "hyperparameters['response_schema']: strict structured output (json_schema) needs "
            f"an object schema at the top level, got type {schema.json_schema.get('type')!r}"
        )
    _check_reserved(params)


def _check_reserved(params: Hyperparameters) -> None:
    reserved = RESERVED_BODY_KEYS & set(params.extra)
    if reserved:
        raise ValidationError(
            f"hyperparameters {sorted(reserved)} are set by lmbatch and cannot be passed through"
        )


def merge_extra(body: dict[str, Any], params: Hyperparameters) -> dict[str, Any]:
    """Add the pass-through hyperparameters to ``body`` (they may not replace core keys)."""
    _check_reserved(params)
    body.update(params.extra)
    return body


def tool_arguments(call: ToolCall) -> str:
    """A tool call's arguments as the JSON string OpenAI carries."""
    return json.dumps(call.args, ensure_ascii=False, separators=(",", ":"))


def tool_output(result: ToolResult) -> str:
    """A tool result's text; OpenAI has no error flag, so errors are marked in the text."""
    return f"Error: {result.output}" if result.is_error else result.output
