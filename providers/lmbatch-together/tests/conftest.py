"""Fixtures of the Together provider tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from lmbatch_together import TogetherBatchOperations

MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"


@pytest.fixture(autouse=True)
def _no_ambient_together_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's Together settings by accident."""
    for name in ("TOGETHER_API_KEY", "TOGETHER_BASE_URL", "LMBATCH_TOGETHER_MODEL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def ops(emulator: Any) -> AsyncIterator[TogetherBatchOperations]:
    """Together operations talking to the emulator."""
    operations = TogetherBatchOperations(
        model=MODEL,
        api_key="test",
        base_url=emulator.together_base_url,
        max_retries=0,
        store=":memory:",
    )
    yield operations
    await operations.aclose()
