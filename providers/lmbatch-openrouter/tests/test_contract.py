"""The OpenRouter provider passes lmbatch's provider contract, against the emulator."""

from __future__ import annotations

import pytest
from lmbatch_openrouter import OpenRouterBatchOperations

from lmbatch.testing.contract import BatchOperationsContract


class TestOpenRouterContract(BatchOperationsContract):
    """Every contract test, with results inline and with results paged."""

    @pytest.fixture
    def batch_operations(self, ops: OpenRouterBatchOperations) -> OpenRouterBatchOperations:
        return ops
