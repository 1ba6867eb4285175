"""Fixtures of the OpenRouter provider tests.

The emulator (``emulator_server``, ``emulator``) comes from lmbatch's pytest plugin
(``lmbatch.testing.pytest_plugin``); here it runs with results inline in the batch, and
with results paged only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from lmbatch_openrouter import OpenRouterBatchOperations

from lmbatch.testing.emulator import Emulator, EmulatorSettings


@pytest.fixture(autouse=True)
def _no_ambient_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's OpenRouter settings."""
    for name in ("OPENROUTER_API_KEY", "OPENROUTER_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module", params=[True, False], ids=["inline-results", "paged-results"])
def emulator_settings(request: pytest.FixtureRequest) -> EmulatorSettings:
    """The emulator in ``polls`` mode; results inline in the batch, or in pages of two."""
    return EmulatorSettings(
        mode="polls", openrouter_inline_results=request.param, openrouter_results_page_size=2
    )


@pytest.fixture
async def ops(emulator: Emulator) -> AsyncIterator[OpenRouterBatchOperations]:
    """Operations on the emulator, with a fresh in-memory job store."""
    operations = OpenRouterBatchOperations(
        model="openai/gpt-4.1-mini",
        api_key="test",
        base_url=emulator.openrouter_base_url,
        max_retries=0,
        store=":memory:",
    )
    yield operations
    await operations.aclose()
