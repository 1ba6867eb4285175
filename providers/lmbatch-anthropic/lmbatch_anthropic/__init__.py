"""Anthropic Message Batches provider for lmbatch (provider name ``anthropic``).

Installed, it is found through the ``lmbatch`` entry point::

    ops = lmbatch.get_batch_operations("anthropic", model="claude-sonnet-4-5")

The ``anthropic`` SDK is imported only when the provider first talks to the API.
"""

from __future__ import annotations

from lmbatch_anthropic._operations import AnthropicBatchOperations
from lmbatch_anthropic._settings import DEFAULT_MAX_TOKENS, AnthropicSettings

__all__ = ["DEFAULT_MAX_TOKENS", "AnthropicBatchOperations", "AnthropicSettings"]
