"""Azure OpenAI global batch provider for lmbatch (provider name ``azure``).

Install ``lmbatch-azure`` and select it by name::

    ops = lmbatch.get_batch_operations(
        "azure", model="gpt-4.1-mini", deployment="gpt-4-1-mini-batch"
    )

Importing this package is cheap: the operations class and the ``openai`` SDK load on
first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lmbatch_azure._operations import AzureBatchOperations
    from lmbatch_azure._settings import AzureSettings

__all__ = ["AzureBatchOperations", "AzureSettings"]


def __getattr__(name: str) -> Any:
    if name == "AzureBatchOperations":
        from lmbatch_azure._operations import AzureBatchOperations

        return AzureBatchOperations
    if name == "AzureSettings":
        from lmbatch_azure._settings import AzureSettings

        return AzureSettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
