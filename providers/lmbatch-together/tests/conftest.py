"""Fixtures of the Together provider tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from lmbatch_together import TogetherBatchOperations

from lmbatch.testing.cassettes import CassetteVendor

MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
#: Recorded against the emulator's ``/together`` (or live), stored as Together's own
#: traffic; the signed upload URL (a 302 ``Location``) is rewritten the same way.
CASSETTES = CassetteVendor(
    provider=TogetherBatchOperations,
    origin="https://api.together.ai",
    emulated_root="/together",
    live_key_variable="LMBATCH_LIVE_TOGETHER_KEY",
    options={"model": MODEL},
)


@pytest.fixture
def cassette_vendor() -> CassetteVendor:
    """Together's cassette set-up (for the plugin's ``cassette_target``)."""
    return CASSETTES


@pytest.fixture
def vcr_config() -> dict[str, Any]:
    """VCR settings for Together cassettes (no record_mode: ``--record-mode`` decides)."""
    return CASSETTES.vcr_config()


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    """Every Together cassette lives in ``cassettes/`` beside these tests."""
    return str(Path(__file__).resolve().parent / "cassettes")


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
