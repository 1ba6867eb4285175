"""Mistral Batch API provider for lmbatch (provider name ``mistral``).

Installed, it is found through the ``lmbatch`` entry point::

    ops = lmbatch.get_batch_operations("mistral", model="mistral-small-latest")

The official ``mistralai`` SDK is imported only when the provider first talks to the API.
"""

from __future__ import annotations

from lmbatch_mistral._operations import MistralBatchOperations
from lmbatch_mistral._settings import MistralSettings

__all__ = ["MistralBatchOperations", "MistralSettings"]
