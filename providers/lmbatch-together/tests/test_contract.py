"""The Together provider passes lmbatch's provider contract, against the local emulator."""

from __future__ import annotations

import pytest
from lmbatch_together import TogetherBatchOperations

from lmbatch.testing.contract import BatchOperationsContract


class TestTogetherContract(BatchOperationsContract):
    @pytest.fixture
    def batch_operations(self, ops: TogetherBatchOperations) -> TogetherBatchOperations:
        return ops
