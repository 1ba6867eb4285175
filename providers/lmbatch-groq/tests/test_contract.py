"""The Groq provider passes lmbatch's provider contract, against the local emulator."""

from __future__ import annotations

import pytest
from lmbatch_groq import GroqBatchOperations

from lmbatch.testing.contract import BatchOperationsContract


class TestGroqContract(BatchOperationsContract):
    @pytest.fixture
    def batch_operations(self, ops: GroqBatchOperations) -> GroqBatchOperations:
        return ops
