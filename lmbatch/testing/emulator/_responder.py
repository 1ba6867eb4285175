"""What every vendor's deterministic stand-in model shares.

A vendor's responder answers one request body with the body its real endpoint would have
returned: echo text (``"echo: " + last user text``), schema-satisfying structured output
(`sample_from_schema`), refusals (the prompt contains `REFUSE_MARK`), truncation, and
token usage derived from text length (`tokens`: about four characters a token).
"""

from __future__ import annotations

import math
from typing import Any

REFUSE_MARK = "[[refuse]]"
"""A prompt containing this text is refused by every emulated model."""


class RequestRejected(Exception):
    """The emulated endpoint refuses this body (it becomes an HTTP-error result line).

    Args:
        status: HTTP status of the emulated response.
        message: Human-readable reason.
        param: Offending parameter, when known.
    """

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param


def tokens(text: str) -> int:
    """Rough token count: one token per four characters, at least one.

    Args:
        text: Any text.

    Returns:
        The emulated token count.
    """
    return max(1, math.ceil(len(text) / 4))


def text_of(content: Any) -> str:
    """Flatten a message ``content`` (string or list of typed parts) into text.

    Args:
        content: A string, or a list of parts with a ``text`` field.

    Returns:
        The text parts joined by spaces.
    """
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict)]
        return " ".join(p for p in parts if isinstance(p, str) and p)
    return ""


def last_user_text(messages: Any) -> str:
    """Text of the last ``user`` message of a message list ("" when there is none).

    Args:
        messages: A list of ``{"role", "content"}`` messages, or a plain string.

    Returns:
        The text the emulated model echoes.
    """
    if isinstance(messages, str):
        return messages
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role", "user") == "user":
            return text_of(message.get("content"))
    return ""


def all_text(messages: Any) -> str:
    """Every piece of message text, for the input token count.

    Args:
        messages: A list of ``{"role", "content"}`` messages, or a plain string.

    Returns:
        The texts joined by spaces.
    """
    if isinstance(messages, str):
        return messages
    if not isinstance(messages, list):
        return ""
    return " ".join(text_of(m.get("content")) for m in messages if isinstance(m, dict))
