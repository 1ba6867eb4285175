"""Fixtures of the Mistral provider tests.

The emulator (``emulator_server``, ``emulator``, in ``polls`` mode) comes from lmbatch's
pytest plugin (``lmbatch.testing.pytest_plugin``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from lmbatch_mistral import MistralBatchOperations

from lmbatch.testing.cassettes import CassetteVendor
from lmbatch.testing.emulator import Emulator

#: Recorded against the emulator's ``/mistral`` (or live), stored as Mistral's own
#: traffic (the SDK adds ``/v1`` to the base URL itself).
CASSETTES = CassetteVendor(
    provider=MistralBatchOperations,
    origin="https://api.mistral.ai",
    emulated_root="/mistral",
    live_key_variable="LMBATCH_LIVE_MISTRAL_KEY",
    options={"model": "mistral-small-latest"},
)


@pytest.fixture
def cassette_vendor() -> CassetteVendor:
    """Mistral's cassette set-up (for the plugin's ``cassette_target``)."""
    return CASSETTES


@pytest.fixture
def vcr_config() -> dict[str, Any]:
    """VCR settings for Mistral cassettes (no record_mode: ``--record-mode`` decides)."""
    return CASSETTES.vcr_config()


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    """Every Mistral cassette lives in ``cassettes/`` beside these tests."""
    return str(Path(__file__).resolve().parent / "cassettes")


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
