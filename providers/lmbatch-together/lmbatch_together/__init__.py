"""Together AI Batch API provider for lmbatch (provider name ``together``).

Install ``lmbatch-together`` and select it by name::

    ops = lmbatch.get_batch_operations("together", model="meta-llama/Llama-3.3-70B-Instruct-Turbo")

Importing this package is cheap: the operations class and the ``together`` SDK load on
first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lmbatch_together._operations import TogetherBatchOperations
    from lmbatch_together._settings import TogetherSettings

__all__ = ["TogetherBatchOperations", "TogetherSettings"]


def __getattr__(name: str) -> Any:
    if name == "TogetherBatchOperations":
        from lmbatch_together._operations import TogetherBatchOperations

        return TogetherBatchOperations
    if name == "TogetherSettings":
        from lmbatch_together._settings import TogetherSettings

        return TogetherSettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
