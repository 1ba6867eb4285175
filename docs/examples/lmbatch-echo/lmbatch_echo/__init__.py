"""lmbatch-echo: a tiny lmbatch provider that answers every prompt with itself."""

from __future__ import annotations

from lmbatch_echo._operations import EchoBatchOperations, EchoSettings

__all__ = ["EchoBatchOperations", "EchoSettings"]
