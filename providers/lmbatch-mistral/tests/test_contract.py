"""The Mistral provider passes lmbatch's provider contract, against the emulator."""

from __future__ import annotations

import pytest
from lmbatch_mistral import MistralBatchOperations

from lmbatch.testing.contract import BatchOperationsContract


class TestMistralContract(BatchOperationsContract):
    """Every contract test, with input files and with inline requests."""

    @pytest.fixture
    def batch_operations(self, ops: MistralBatchOperations) -> MistralBatchOperations:
        return ops
