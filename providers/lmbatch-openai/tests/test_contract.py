"""The OpenAI provider passes lmbatch's provider contract, against the local emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from lmbatch_openai import OpenAIBatchOperations

from lmbatch.testing.contract import BatchOperationsContract


class TestOpenAIContractResponses(BatchOperationsContract):
    """The contract on the default ``/v1/responses`` endpoint."""

    endpoint = "/v1/responses"

    @pytest.fixture
    async def batch_operations(self, emulator: Any) -> AsyncIterator[OpenAIBatchOperations]:
        ops = OpenAIBatchOperations(
            model="gpt-4.1-mini",
            api_key="test",
            base_url=emulator.openai_base_url,
            endpoint=self.endpoint,
            max_retries=0,
            store=":memory:",
        )
        yield ops
        await ops.aclose()


class TestOpenAIContractChat(TestOpenAIContractResponses):
    """The contract on ``/v1/chat/completions``."""

    endpoint = "/v1/chat/completions"
