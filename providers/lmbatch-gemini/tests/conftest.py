"""Fixtures of the Gemini provider tests: the Gemini emulator and a provider aimed at it.

Self-contained: only public ``lmbatch``, ``lmbatch.provider`` and ``lmbatch.testing``
names, and this package's own modules. The emulator is this package's Gemini vendor,
served alone (the lmbatch emulator host serves plugin vendors once its hook lands).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from lmbatch_gemini import GeminiBatchOperations
from lmbatch_gemini._emulator import GeminiEmulator, VendorServer, gemini_server

from lmbatch.testing.emulator import EmulatorSettings

#: A key that is never valid anywhere.
DUMMY_KEY = "test"
MODEL = "gemini-2.5-flash"
#: Polls per lifecycle step: 2, so a new batch is still pending at its first check.
POLLS_PER_STEP = 2
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(autouse=True)
def _no_ambient_gemini_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's Google settings by accident."""
    for name in ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def server() -> AsyncIterator[VendorServer]:
    """A fresh Gemini emulator in "polls" mode, stopped after the test."""
    settings = EmulatorSettings(mode="polls", polls_per_step=POLLS_PER_STEP)
    async with gemini_server(settings) as running:
        yield running


@pytest.fixture
def emulator(server: VendorServer) -> GeminiEmulator:
    """The emulator's Gemini vendor (its batches, files and controls)."""
    assert isinstance(server.vendor, GeminiEmulator)
    return server.vendor


@pytest.fixture
async def make_ops(server: VendorServer) -> AsyncIterator[Any]:
    """Build providers aimed at ``server`` (closed after the test)."""
    made: list[GeminiBatchOperations] = []

    def make(**options: Any) -> GeminiBatchOperations:
        options.setdefault("model", MODEL)
        options.setdefault("api_key", DUMMY_KEY)
        options.setdefault("base_url", server.base_url)
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
