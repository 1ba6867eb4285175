"""The built-in fake provider passes the contract every provider must pass."""

from __future__ import annotations

import pytest

import lmbatch._unchecked
from lmbatch.testing import FakeBackend, FakeBatchOperations
from lmbatch.testing.contract import BatchOperationsContract


class TestFakeContract(BatchOperationsContract):
    @pytest.fixture
    def batch_operations(self) -> FakeBatchOperations:
        return FakeBatchOperations(backend=FakeBackend(), store=":memory:", polls_until_done=2)

    def test_each_test_runs_on_the_production_and_the_validating_path(self, decoding: str) -> None:
        assert lmbatch._unchecked.validate_unchecked is (decoding == "validating")


class TestFakeContractWithStrictIds(BatchOperationsContract):
    """Same contract when the vendor only accepts short ASCII ids (like Anthropic)."""

    @pytest.fixture
    def batch_operations(self) -> FakeBatchOperations:
        return FakeBatchOperations(
            backend=FakeBackend(),
            store=":memory:",
            custom_id_pattern=r"[a-zA-Z0-9_-]{1,64}",
        )
