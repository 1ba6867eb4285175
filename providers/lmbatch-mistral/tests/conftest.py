"""Fixtures of the Mistral provider tests.

The emulator (``emulator_server``, ``emulator``, in ``polls`` mode) comes from lmbatch's
pytest plugin (``lmbatch.testing.pytest_plugin``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from lmbatch_mistral import MistralBatchOperations

from lmbatch.testing.emulator import Emulator


@pytest.fixture(autouse=True)
def _no_ambient_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's Mistral settings."""
    for name in ("MISTRAL_API_KEY", "MISTRAL_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(params=["file", "inline"])
async def ops(
    emulator: Emulator, request: pytest.FixtureRequest
) -> AsyncIterator[MistralBatchOperations]:
    """Operations on the emulator (input by file or inline), fresh in-memory job store."""
    operations = MistralBatchOperations(
        model="mistral-small-latest",
        api_key="test",
        base_url=emulator.mistral_base_url,
        input=request.param,
        store=":memory:",
    )
    yield operations
    await operations.aclose()
