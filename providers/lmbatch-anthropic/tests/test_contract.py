"""The Anthropic provider passes the contract every provider must pass (via the emulator)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from lmbatch_anthropic import AnthropicBatchOperations

from lmbatch.testing.contract import BatchOperationsContract
from lmbatch.testing.emulator import Emulator

from .conftest import DUMMY_KEY, MODEL


class TestAnthropicContract(BatchOperationsContract):
    @pytest.fixture
    async def batch_operations(self, emulator: Emulator) -> AsyncIterator[AnthropicBatchOperations]:
        operations = AnthropicBatchOperations(
            model=MODEL,
            api_key=DUMMY_KEY,
            base_url=emulator.anthropic_base_url,
            max_retries=0,
            store=":memory:",
        )
        yield operations
        await operations.aclose()
