"""Fixtures of the Groq provider tests: an emulator, operations talking to it, cassettes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from lmbatch_groq import GroqBatchOperations

from lmbatch.testing.cassettes import CassetteVendor

MODEL = "llama-3.1-8b-instant"
#: Recorded against the emulator's ``/groq`` (or live), stored as Groq's own traffic.
CASSETTES = CassetteVendor(
    provider=GroqBatchOperations,
    origin="https://api.groq.com",
    base_path="/openai/v1",
    emulated_root="/groq",
    live_key_variable="LMBATCH_LIVE_GROQ_KEY",
    options={"model": MODEL},
)


@pytest.fixture
def cassette_vendor() -> CassetteVendor:
    """Groq's cassette set-up (for the plugin's ``cassette_target``)."""
    return CASSETTES


@pytest.fixture
def vcr_config() -> dict[str, Any]:
    """VCR settings for Groq cassettes (no record_mode: ``--record-mode`` decides)."""
    return CASSETTES.vcr_config()


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    """Every Groq cassette lives in ``cassettes/`` beside these tests."""
    return str(Path(__file__).resolve().parent / "cassettes")


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
