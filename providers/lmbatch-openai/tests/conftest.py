"""Fixtures of the OpenAI provider tests: VCR wiring.

The emulator fixtures (``emulator_server``, ``emulator``), ``cassette_target``, the
cassette checks and the OpenAPI mock server come from lmbatch's pytest plugin
(``lmbatch.testing.pytest_plugin``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from lmbatch_openai import OpenAIBatchOperations

from lmbatch.testing.cassettes import DUMMY_API_KEY, CassetteVendor

REPO = Path(__file__).resolve().parents[3]
#: The vendor OpenAPI specs: ``$LMBATCH_SPECS_DIR`` if set, else the repository's copies.
SPECS = Path(os.environ.get("LMBATCH_SPECS_DIR") or REPO / "specs" / "openapi")
CASSETTES = Path(__file__).resolve().parent / "cassettes"
VENDOR_ORIGIN = "https://api.openai.com"
#: Opt-in key for re-recording cassettes against the live API. OPENAI_API_KEY is never used.
LIVE_KEY_VARIABLE = "LMBATCH_LIVE_OPENAI_KEY"
#: A key that is never valid anywhere: used for replay and for the emulator.
DUMMY_KEY = DUMMY_API_KEY
#: Recorded against the emulator (or live with ``LMBATCH_LIVE_OPENAI_KEY``), stored as
#: OpenAI's own traffic.
CASSETTE_VENDOR = CassetteVendor(
    provider=OpenAIBatchOperations,
    origin=VENDOR_ORIGIN,
    base_path="/v1",
    live_key_variable=LIVE_KEY_VARIABLE,
    options={"model": "gpt-4.1-mini"},
)


@pytest.fixture
def cassette_vendor() -> CassetteVendor:
    """OpenAI's cassette set-up (for the plugin's ``cassette_target``)."""
    return CASSETTE_VENDOR


@pytest.fixture
def vcr_config() -> dict[str, Any]:
    """VCR settings for OpenAI cassettes (no record_mode: ``--record-mode`` decides)."""
    return CASSETTE_VENDOR.vcr_config()


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    """Every OpenAI cassette lives in ``cassettes/`` beside these tests."""
    return str(CASSETTES)


@pytest.fixture(autouse=True)
def _no_ambient_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's OpenAI settings by accident."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
