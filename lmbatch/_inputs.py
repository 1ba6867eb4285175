"""Turning a caller's ``LMInput`` into a validated conversation."""

from __future__ import annotations

from typing import Any

import pydantic

from lmbatch._errors import ValidationError
from lmbatch._json import json_problem, unencodable_reason
from lmbatch._messages import Attachment, Message, MessageRole, ToolCall, ToolResult

__all__ = ["normalize_input"]


def normalize_input(key: str, value: Any) -> list[Message]:
    """Validate one request and return it as a list of messages.

    A string, or a list of content parts, becomes one user message. Raises
    :class:`ValidationError` naming ``key`` when the request cannot be sent.
    """
    if not key.isascii():
        _check_key_text(key)
    if isinstance(value, str):
        if not value.strip():
            raise ValidationError("the prompt is empty", key=key)
        return [Message.user(value)]
    if isinstance(value, Message):
        messages = [value]
    elif isinstance(value, list | tuple):
        if not value:
            raise ValidationError("the request is an empty list", key=key)
        if all(_looks_like_message(item) for item in value):
            messages = [_to_message(key, index, item) for index, item in enumerate(value)]
        elif any(_looks_like_message(item) for item in value):
            raise ValidationError(
                "mixes Message objects and bare content parts; use one or the other", key=key
            )
        else:
            parts = [_to_part(key, index, item) for index, item in enumerate(value)]
            messages = [Message(role=MessageRole.USER, contents=parts)]
    else:
        raise ValidationError(
            f"must be a str, a list of content parts or a list of Message, "
            f"not {type(value).__name__}",
            key=key,
        )
    _check_conversation(key, messages)
    return messages


def _check_key_text(key: str) -> None:
    try:
        key.encode("utf-8")
    except UnicodeEncodeError as exc:
        # The key is stored and sent as UTF-8; one that cannot be encoded would fail
        # halfway (in the job store or the upload) instead of here.
        raise ValidationError(f"the key {unencodable_reason(exc)}", key=key) from None


def _looks_like_message(item: Any) -> bool:
    return isinstance(item, Message) or (isinstance(item, dict) and "role" in item)


def _to_message(key: str, index: int, item: Any) -> Message:
    if isinstance(item, Message):
        return item
    try:
        return Message.model_validate(item)
    except pydantic.ValidationError as exc:
        raise ValidationError(
            f"message #{index} is not valid: {_first_error(exc)}", key=key
        ) from None


def _to_part(key: str, index: int, item: Any) -> Any:
    if isinstance(item, str | Attachment | ToolCall | ToolResult):
        return item
    if isinstance(item, dict):
        try:
            return Message(role=MessageRole.USER, contents=[item]).contents[0]
        except pydantic.ValidationError as exc:
            raise ValidationError(
                f"content part #{index} is not valid: {_first_error(exc)}", key=key
            ) from None
    raise ValidationError(
        f"content part #{index} has unsupported type {type(item).__name__}", key=key
    )


def _first_error(exc: pydantic.ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])


def _check_conversation(key: str, messages: list[Message]) -> None:
    if all(message.role is MessageRole.SYSTEM for message in messages):
        raise ValidationError("has only system messages; add a user message", key=key)
    for index, message in enumerate(messages):
        if not message.contents:
            raise ValidationError(f"message #{index} ({message.role}) has no content", key=key)
        for part in message.contents:
            if isinstance(part, str) and not part.strip():
                raise ValidationError(
                    f"message #{index} ({message.role}) has an empty text part", key=key
                )
            if isinstance(part, ToolCall):
                if message.role is not MessageRole.ASSISTANT:
                    raise ValidationError(
                        f"message #{index}: tool calls belong in assistant messages", key=key
                    )
                # Free-form arguments: refused here, before providers encode them.
                problem = json_problem(part.args)
                if problem is not None:
                    raise ValidationError(
                        f"message #{index}: the arguments dict of tool call "
                        f"{part.name!r} {problem}",
                        key=key,
                    )
            if isinstance(part, ToolResult) and message.role is not MessageRole.USER:
                raise ValidationError(
                    f"message #{index}: tool results belong in user messages", key=key
                )
            if isinstance(part, Attachment) and message.role is MessageRole.SYSTEM:
                raise ValidationError(f"message #{index}: system messages take text only", key=key)
