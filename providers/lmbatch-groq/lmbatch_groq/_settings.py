"""Options of the ``groq`` provider."""

from __future__ import annotations

import re

from lmbatch_openai import OpenAICompatibleSettings
from pydantic import field_validator

__all__ = ["GroqSettings", "window_seconds"]

_WINDOW = re.compile(r"(\d+)([hd])")


def window_seconds(window: str) -> int | None:
    """Seconds of a ``completion_window`` such as ``"24h"`` or ``"7d"`` (None: not one)."""
    found = _WINDOW.fullmatch(window)
    if found is None:
        return None
    return int(found[1]) * (3600 if found[2] == "h" else 86400)


class GroqSettings(OpenAICompatibleSettings):
    """Options of the ``groq`` provider.

    Attributes:
        model: Model every request of a batch uses, e.g. ``"llama-3.1-8b-instant"``.
        api_key: API key; defaults to ``$GROQ_API_KEY``. Never read from config files.
        base_url: Groq's OpenAI-compatible API root; defaults to ``$GROQ_BASE_URL``, else
            ``https://api.groq.com/openai/v1``. Config files may only set it when trusted
            (``LMBATCH_TRUST_CONFIG=1``).
        endpoint: ``/v1/chat/completions``, the only endpoint Groq batches.
        completion_window: How long Groq may take: ``"24h"`` (default) up to ``"7d"``
            (hours or days, e.g. ``"36h"``, ``"3d"``).
        output_expires_after: Not used by Groq.
    """

    completion_window: str = "24h"  # type: ignore[assignment]

    @field_validator("completion_window")
    @classmethod
    def _window_in_range(cls, value: str) -> str:
        seconds = window_seconds(value)
        if seconds is None or not 86400 <= seconds <= 7 * 86400:
            raise ValueError("Groq takes a completion window from '24h' to '7d'")
        return value
