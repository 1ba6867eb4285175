"""The openai-compatible provider passes lmbatch's provider contract, on the emulator."""

from __future__ import annotations

import pytest
from lmbatch_openai_compatible import OpenAICompatibleServerBatchOperations

from lmbatch.testing.contract import BatchOperationsContract


class TestOpenAICompatibleContract(BatchOperationsContract):
    @pytest.fixture
    def batch_operations(
        self, ops: OpenAICompatibleServerBatchOperations
    ) -> OpenAICompatibleServerBatchOperations:
        return ops
