"""Groq Batch API provider for lmbatch (provider name ``groq``).

Install ``lmbatch-groq`` and select it by name::

    ops = lmbatch.get_batch_operations("groq", model="llama-3.1-8b-instant")

Importing this package is cheap: the operations class and the ``openai`` SDK load on
first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lmbatch_groq._operations import GroqBatchOperations
    from lmbatch_groq._settings import GroqSettings

__all__ = ["GroqBatchOperations", "GroqSettings"]


def __getattr__(name: str) -> Any:
    if name == "GroqBatchOperations":
        from lmbatch_groq._operations import GroqBatchOperations

        return GroqBatchOperations
    if name == "GroqSettings":
        from lmbatch_groq._settings import GroqSettings

        return GroqSettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
