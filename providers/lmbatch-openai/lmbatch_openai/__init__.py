"""OpenAI Batch API provider for lmbatch (provider name ``openai``), and the base class of
every vendor that speaks the same protocol.

Install ``lmbatch-openai`` and select it by name::

    ops = lmbatch.get_batch_operations("openai", model="gpt-4.1-mini")

A vendor whose API is OpenAI's Files + Batches protocol is a small subclass of
:class:`OpenAICompatibleBatchOperations` (see its docstring).

Importing this package is cheap: the operations classes and the ``openai`` SDK load on
first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lmbatch_openai._compatible import OpenAICompatibleBatchOperations
    from lmbatch_openai._operations import OpenAIBatchOperations
    from lmbatch_openai._settings import OpenAICompatibleSettings, OpenAISettings

__all__ = [
    "OpenAIBatchOperations",
    "OpenAICompatibleBatchOperations",
    "OpenAICompatibleSettings",
    "OpenAISettings",
]


def __getattr__(name: str) -> Any:
    if name == "OpenAIBatchOperations":
        from lmbatch_openai._operations import OpenAIBatchOperations

        return OpenAIBatchOperations
    if name == "OpenAICompatibleBatchOperations":
        from lmbatch_openai._compatible import OpenAICompatibleBatchOperations

        return OpenAICompatibleBatchOperations
    if name == "OpenAISettings":
        from lmbatch_openai._settings import OpenAISettings

        return OpenAISettings
    if name == "OpenAICompatibleSettings":
        from lmbatch_openai._settings import OpenAICompatibleSettings

        return OpenAICompatibleSettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
