"""lmbatch provider for any server speaking the OpenAI Files + Batches protocol.

Provider name ``openai-compatible``, configured entirely by options::

    ops = lmbatch.get_batch_operations(
        "openai-compatible",
        base_url="https://api.studio.nebius.com/v1",
        api_key_env="NEBIUS_API_KEY",
        model="meta-llama/Llama-3.3-70B-Instruct",
    )

Importing this package is cheap: the operations class and the ``openai`` SDK load on
first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lmbatch_openai_compatible._operations import (
        OpenAICompatibleServerBatchOperations,
        OpenAICompatibleServerSettings,
    )

__all__ = ["OpenAICompatibleServerBatchOperations", "OpenAICompatibleServerSettings"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from lmbatch_openai_compatible import _operations

        return getattr(_operations, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
