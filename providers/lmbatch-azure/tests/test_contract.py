"""The Azure provider passes lmbatch's provider contract on both API surfaces."""

from __future__ import annotations

import pytest
from lmbatch_azure import AzureBatchOperations

from lmbatch.testing.contract import BatchOperationsContract


class TestAzureContract(BatchOperationsContract):
    @pytest.fixture
    def batch_operations(self, ops: AzureBatchOperations) -> AzureBatchOperations:
        return ops
