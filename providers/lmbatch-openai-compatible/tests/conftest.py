"""Fixtures of the openai-compatible provider tests: an emulator and operations on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from lmbatch_openai_compatible import OpenAICompatibleServerBatchOperations

MODEL = "meta-llama/Llama-3.3-70B-Instruct"


@pytest.fixture(autouse=True)
def _no_ambient_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's settings by accident."""
    for name in ("OPENAI_API_KEY", "OPENAI_COMPATIBLE_API_KEY", "LMBATCH_PROVIDER"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server_url(emulator: Any) -> str:
    """The emulated OpenAI-compatible server's base URL."""
    return str(emulator.base_url_for("openai-compatible"))


@pytest.fixture
async def ops(server_url: str) -> AsyncIterator[OpenAICompatibleServerBatchOperations]:
    """Operations on the emulated server."""
    operations = OpenAICompatibleServerBatchOperations(
        model=MODEL, base_url=server_url, api_key="test", max_retries=0, store=":memory:"
    )
    yield operations
    await operations.aclose()
