"""The Gemini provider passes the contract every provider must pass (via the emulator).

Twice: inline requests (the default for small batches) and uploaded files.
"""

from __future__ import annotations

from typing import Any

import pytest
from lmbatch_gemini import GeminiBatchOperations

from lmbatch.testing.contract import BatchOperationsContract


class TestGeminiInlineContract(BatchOperationsContract):
    @pytest.fixture
    def batch_operations(self, make_ops: Any) -> GeminiBatchOperations:
        return make_ops(mode="auto")  # type: ignore[no-any-return]


class TestGeminiFileContract(BatchOperationsContract):
    @pytest.fixture
    def batch_operations(self, make_ops: Any) -> GeminiBatchOperations:
        return make_ops(mode="file")  # type: ignore[no-any-return]
