"""Fixtures of the Anthropic provider tests: VCR wiring, emulator, spec validation.

The cassette checks, the hostile proxy and the OpenAPI mock server come from lmbatch's
pytest plugin (``lmbatch.testing.pytest_plugin``); ``emulator`` is overridden here: a
fresh one per test, two status checks per lifecycle step.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from lmbatch_anthropic import AnthropicBatchOperations

from lmbatch.testing.cassettes import DUMMY_API_KEY, CassetteVendor
from lmbatch.testing.emulator import Emulator, EmulatorSettings

REPO = Path(__file__).resolve().parents[3]
#: The vendor OpenAPI specs: ``$LMBATCH_SPECS_DIR`` if set, else the repository's copies.
SPECS = Path(os.environ.get("LMBATCH_SPECS_DIR") or REPO / "specs" / "openapi")
CASSETTES = Path(__file__).resolve().parent / "cassettes"
SPEC_FILE = SPECS / "anthropic-message-batches.subset.yaml"
VENDOR_ORIGIN = "https://api.anthropic.com"
#: Opt-in key for re-recording cassettes against the live API. ANTHROPIC_API_KEY is never used.
LIVE_KEY_VARIABLE = "LMBATCH_LIVE_ANTHROPIC_KEY"
#: A key that is never valid anywhere: used for replay and for the emulator.
DUMMY_KEY = DUMMY_API_KEY
MODEL = "claude-sonnet-4-5"
#: Polls per lifecycle step: 2, so a new batch is still in progress at its first check.
POLLS_PER_STEP = 2
#: Recorded against the emulator (or live with ``LMBATCH_LIVE_ANTHROPIC_KEY``), stored as
#: Anthropic's own traffic.
CASSETTE_VENDOR = CassetteVendor(
    provider=AnthropicBatchOperations,
    origin=VENDOR_ORIGIN,
    live_key_variable=LIVE_KEY_VARIABLE,
    options={"model": MODEL},
    emulator_settings={"mode": "polls", "polls_per_step": POLLS_PER_STEP},
)


@pytest.fixture(autouse=True)
def _no_ambient_anthropic_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's Anthropic settings by accident."""
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def cassette_vendor() -> CassetteVendor:
    """Anthropic's cassette set-up (for the plugin's ``cassette_target``)."""
    return CASSETTE_VENDOR


@pytest.fixture
def vcr_config() -> dict[str, Any]:
    """VCR settings for Anthropic cassettes (no record_mode: ``--record-mode`` decides)."""
    return CASSETTE_VENDOR.vcr_config()


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    """Every Anthropic cassette lives in ``cassettes/`` beside these tests."""
    return str(CASSETTES)


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """A fresh emulator in "polls" mode, stopped after the test."""
    settings = EmulatorSettings(mode="polls", polls_per_step=POLLS_PER_STEP)
    async with Emulator(settings) as running:
        yield running


@pytest.fixture
async def ops(emulator: Emulator) -> AsyncIterator[AnthropicBatchOperations]:
    """The provider aimed at ``emulator``, with a private in-memory store."""
    operations = AnthropicBatchOperations(
        model=MODEL,
        api_key=DUMMY_KEY,
        base_url=emulator.anthropic_base_url,
        max_retries=0,
        store=":memory:",
    )
    yield operations
    await operations.aclose()


@cache
def _spec() -> dict[str, Any]:
    with SPEC_FILE.open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = yaml.safe_load(handle)
    return loaded


@cache
def spec_validator(schema_name: str) -> jsonschema.Draft202012Validator:
    """A validator for ``#/components/schemas/<schema_name>`` of the Anthropic subset spec."""
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": _spec()["components"]}
    return jsonschema.Draft202012Validator(schema)


def spec_errors(instance: Any, schema_name: str) -> list[str]:
    """Every violation of the named spec schema, readable."""
    errors = sorted(spec_validator(schema_name).iter_errors(instance), key=lambda e: e.json_path)
    return [f"{e.json_path}: {e.message[:300]}" for e in errors]
