"""Gemini API batch mode provider for lmbatch (provider name ``gemini``).

Install ``lmbatch-gemini`` and select it by name::

    ops = lmbatch.get_batch_operations("gemini", model="gemini-2.5-flash")

Importing this package is cheap: the operations class and httpx load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lmbatch_gemini._operations import GeminiBatchOperations
    from lmbatch_gemini._settings import GeminiSettings

__all__ = ["GeminiBatchOperations", "GeminiSettings"]


def __getattr__(name: str) -> Any:
    if name == "GeminiBatchOperations":
        from lmbatch_gemini._operations import GeminiBatchOperations

        return GeminiBatchOperations
    if name == "GeminiSettings":
        from lmbatch_gemini._settings import GeminiSettings

        return GeminiSettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
