"""Fixtures of the openai-compatible provider tests: an emulator, operations on it, cassettes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from lmbatch_openai_compatible import OpenAICompatibleServerBatchOperations

from lmbatch.testing.cassettes import CassetteVendor

MODEL = "meta-llama/Llama-3.3-70B-Instruct"
#: Recorded against the emulator's ``/compatible`` server, stored as a self-hosted
#: gateway's traffic (``llm.example.com`` stands for any such server).
CASSETTES = CassetteVendor(
    provider=OpenAICompatibleServerBatchOperations,
    origin="https://llm.example.com",
    base_path="/v1",
    emulated_root="/compatible",
    live_key_variable="LMBATCH_LIVE_OPENAI_COMPATIBLE_KEY",
    options={"model": MODEL},
)


@pytest.fixture
def cassette_vendor() -> CassetteVendor:
    """The generic server's cassette set-up (for the plugin's ``cassette_target``)."""
    return CASSETTES


@pytest.fixture
def vcr_config() -> dict[str, Any]:
    """VCR settings for these cassettes (no record_mode: ``--record-mode`` decides)."""
    return CASSETTES.vcr_config()


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    """Every cassette lives in ``cassettes/`` beside these tests."""
    return str(Path(__file__).resolve().parent / "cassettes")


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
