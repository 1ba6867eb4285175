"""OpenRouter Batch API provider for lmbatch (provider name ``openrouter``).

Installed, it is found through the ``lmbatch`` entry point::

    ops = lmbatch.get_batch_operations("openrouter", model="openai/gpt-4.1-mini")

``httpx`` is imported only when the provider first talks to the API.
"""

from __future__ import annotations

from lmbatch_openrouter._operations import OpenRouterBatchOperations
from lmbatch_openrouter._settings import OpenRouterSettings

__all__ = ["OpenRouterBatchOperations", "OpenRouterSettings"]
