"""Vendor-looking identifiers and timestamps."""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime

_BASE62 = string.ascii_letters + string.digits


def _base62(n: int) -> str:
    return "".join(secrets.choice(_BASE62) for _ in range(n))


def hex_id(prefix: str, n: int = 32) -> str:
    """``prefix`` + ``n`` lowercase hex chars (``batch_<32 hex>``, ``batch_req_…``)."""
    return prefix + secrets.token_hex((n + 1) // 2)[:n]


def openai_file_id() -> str:
    """A ``file-…`` id like current OpenAI ones (22 base62 chars)."""
    return "file-" + _base62(22)


def anthropic_id(prefix: str) -> str:
    """An Anthropic-style id: ``prefix`` + ``01`` + 22 base62 chars (``msgbatch_01…``)."""
    return prefix + "01" + _base62(22)


def rfc3339(ts: float) -> str:
    """Format a unix time the way the Anthropic API does (microseconds, ``+00:00``)."""
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="microseconds")
