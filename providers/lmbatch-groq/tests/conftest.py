"""Fixtures of the Groq provider tests: an emulator and operations talking to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from lmbatch_groq import GroqBatchOperations

MODEL = "llama-3.1-8b-instant"


@pytest.fixture(autouse=True)
def _no_ambient_groq_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's settings by accident."""
    for name in ("GROQ_API_KEY", "GROQ_BASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def ops(emulator: Any) -> AsyncIterator[GroqBatchOperations]:
    """Groq operations talking to the emulator."""
    operations = GroqBatchOperations(
        model=MODEL,
        api_key="test",
        base_url=emulator.groq_base_url,
        max_retries=0,
        store=":memory:",
    )
    yield operations
    await operations.aclose()
