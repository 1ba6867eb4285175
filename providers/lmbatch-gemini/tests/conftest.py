"""Fixtures of the Gemini provider tests: the emulator, a provider aimed at it, cassettes.

Self-contained: only public ``lmbatch``, ``lmbatch.provider`` and ``lmbatch.testing``
names, and this package's own modules. The emulator is lmbatch's, serving this plugin's
Gemini vendor (registered through the emulator hook) under ``/gemini``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from lmbatch_gemini import GeminiBatchOperations
from lmbatch_gemini._emulator import GeminiEmulator

from lmbatch.testing.cassettes import CassetteVendor
from lmbatch.testing.emulator import Emulator, EmulatorSettings

#: A key that is never valid anywhere.
DUMMY_KEY = "test"
MODEL = "gemini-2.5-flash"
#: Polls per lifecycle step: 2, so a new batch is still pending at its first check.
POLLS_PER_STEP = 2
DATA = Path(__file__).resolve().parent / "data"
CASSETTES = Path(__file__).resolve().parent / "cassettes"
VENDOR_ORIGIN = "https://generativelanguage.googleapis.com"
#: Opt-in key for re-recording cassettes against the live API; GEMINI_API_KEY and
#: GOOGLE_API_KEY are never used.
LIVE_KEY_VARIABLE = "LMBATCH_LIVE_GEMINI_KEY"
#: Gemini's key header: scrubbed from cassettes like the headers core knows of.
KEY_HEADER = "x-goog-api-key"
#: Where the emulator serves the Gemini API (its root for clients).
EMULATED_ROOT = "/gemini"
#: Recorded against the emulator's ``/gemini`` (ids numbered from the start), or live
#: with ``LMBATCH_LIVE_GEMINI_KEY``; stored as Google's own traffic.
CASSETTE_VENDOR = CassetteVendor(
    provider=GeminiBatchOperations,
    origin=VENDOR_ORIGIN,
    emulated_root=EMULATED_ROOT,
    live_key_variable=LIVE_KEY_VARIABLE,
    key_headers=(KEY_HEADER,),
    options={"model": MODEL},
    emulator_settings={"mode": "polls", "polls_per_step": POLLS_PER_STEP, "sequential_ids": True},
)


@pytest.fixture(autouse=True)
def _no_ambient_gemini_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's Google settings by accident."""
    for name in ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """A fresh emulator in "polls" mode, stopped after the test."""
    settings = EmulatorSettings(mode="polls", polls_per_step=POLLS_PER_STEP)
    async with Emulator(settings) as running:
        yield running


@pytest.fixture
def gemini(emulator: Emulator) -> GeminiEmulator:
    """The emulator's Gemini vendor (its batches, files and ``fail``)."""
    vendor = emulator.state.vendors["gemini"]
    assert isinstance(vendor, GeminiEmulator)
    return vendor


@pytest.fixture
async def make_ops(emulator: Emulator) -> AsyncIterator[Any]:
    """Build providers aimed at ``emulator`` (closed after the test)."""
    made: list[GeminiBatchOperations] = []

    def make(**options: Any) -> GeminiBatchOperations:
        options.setdefault("model", MODEL)
        options.setdefault("api_key", DUMMY_KEY)
        options.setdefault("base_url", emulator.gemini_base_url)
        options.setdefault("max_retries", 0)
        options.setdefault("store", ":memory:")
        ops = GeminiBatchOperations(**options)
        made.append(ops)
        return ops

    yield make
    for ops in made:
        await ops.aclose()


@pytest.fixture
async def ops(make_ops: Any) -> GeminiBatchOperations:
    """The provider aimed at the emulator, with a private in-memory store."""
    return make_ops()  # type: ignore[no-any-return]


@pytest.fixture
def cassette_vendor() -> CassetteVendor:
    """Gemini's cassette set-up (for the plugin's ``cassette_target``)."""
    return CASSETTE_VENDOR


@pytest.fixture
def vcr_config() -> dict[str, Any]:
    """VCR settings for Gemini cassettes (no record_mode: ``--record-mode`` decides).

    The emulator serves Gemini under ``/gemini``: recorded URIs lose that prefix with the
    local origin, so cassettes read (and replay) as Google's own traffic.
    """
    return CASSETTE_VENDOR.vcr_config()


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    """Every Gemini cassette lives in ``cassettes/`` beside these tests."""
    return str(CASSETTES)
