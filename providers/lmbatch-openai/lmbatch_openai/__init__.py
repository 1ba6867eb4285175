"""OpenAI Batch API provider for lmbatch (provider name ``openai``).

Install ``lmbatch-openai`` and select it by name::

    ops = lmbatch.get_batch_operations("openai", model="gpt-4.1-mini")

Importing this package is cheap: the operations class and the ``openai`` SDK load on
first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lmbatch_openai._operations import OpenAIBatchOperations
    from lmbatch_openai._settings import OpenAISettings

__all__ = ["OpenAIBatchOperations", "OpenAISettings"]


def __getattr__(name: str) -> Any:
    if name == "OpenAIBatchOperations":
        from lmbatch_openai._operations import OpenAIBatchOperations

        return OpenAIBatchOperations
    if name == "OpenAISettings":
        from lmbatch_openai._settings import OpenAISettings

        return OpenAISettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
