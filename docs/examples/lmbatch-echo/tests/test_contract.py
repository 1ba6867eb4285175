"""The echo provider passes lmbatch's provider contract suite."""

from __future__ import annotations

from pathlib import Path

import pytest
from lmbatch_echo import EchoBatchOperations

from lmbatch.testing.contract import BatchOperationsContract


class TestEchoContract(BatchOperationsContract):
    # The echo vendor cannot script failures with [[lmbatch:error=429]] prompts.
    supports_fault_directives = False

    @pytest.fixture
    def batch_operations(self, tmp_path: Path) -> EchoBatchOperations:
        return EchoBatchOperations(directory=str(tmp_path / "vendor"), store=":memory:")
