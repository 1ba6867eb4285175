"""Fixtures of the Gemini provider tests: the emulator, a provider aimed at it, cassettes.

Self-contained: only public ``lmbatch``, ``lmbatch.provider`` and ``lmbatch.testing``
names, and this package's own modules. The emulator is lmbatch's, serving this plugin's
Gemini vendor (registered through the emulator hook) under ``/gemini``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lmbatch_gemini import GeminiBatchOperations
from lmbatch_gemini._emulator import GeminiEmulator

from lmbatch.testing.cassettes import FILTERED_HEADERS, vcr_config_for
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
def vcr_config() -> dict[str, Any]:
    """VCR settings for Gemini cassettes (no record_mode: ``--record-mode`` decides).

    The emulator serves Gemini under ``/gemini``: recorded URIs lose that prefix with the
    local origin, so cassettes read (and replay) as Google's own traffic.
    """
    config = vcr_config_for(VENDOR_ORIGIN, filter_headers=[*sorted(FILTERED_HEADERS), KEY_HEADER])
    rewrite, scrub = config["before_record_request"], config["before_record_response"]

    def before_record_request(request: Any) -> Any:
        request = rewrite(request)
        request.uri = request.uri.replace(VENDOR_ORIGIN + EMULATED_ROOT, VENDOR_ORIGIN)
        return request

    def before_record_response(response: dict[str, Any]) -> dict[str, Any]:
        response = scrub(response)
        body = response.get("body") or {}
        if isinstance(body.get("string"), bytes):
            root = (VENDOR_ORIGIN + EMULATED_ROOT).encode()
            body["string"] = body["string"].replace(root, VENDOR_ORIGIN.encode())
        return response

    config["before_record_request"] = before_record_request
    config["before_record_response"] = before_record_response
    return config


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    """Every Gemini cassette lives in ``cassettes/`` beside these tests."""
    return str(CASSETTES)


@dataclass
class CassetteTarget:
    """Where cassette tests send their requests.

    Attributes:
        base_url: Google's API root for replay and live recording, the emulator's when
            recording against it.
        api_key: The dummy key, or the live key when recording live.
        emulator: The running emulator when recording against it, else None.
    """

    base_url: str
    api_key: str
    emulator: Emulator | None = None

    @property
    def live(self) -> bool:
        """Whether requests reach the real API (live recording)."""
        return self.emulator is None and self.api_key != DUMMY_KEY

    def operations(self, **options: Any) -> GeminiBatchOperations:
        """A provider instance aimed at this target, with a private in-memory store."""
        options.setdefault("model", MODEL)
        return GeminiBatchOperations(
            api_key=self.api_key,
            base_url=self.base_url,
            max_retries=0,
            store=":memory:",
            **options,
        )


@pytest.fixture
def cassette_target(record_mode: str) -> Iterator[CassetteTarget]:
    """Replay (default): Google's root with a dummy key, served by the cassette.

    ``--record-mode=once`` (or any recording mode): the Gemini emulator, or the live API
    when ``LMBATCH_LIVE_GEMINI_KEY`` is set.
    """
    if record_mode == "none":
        yield CassetteTarget(VENDOR_ORIGIN, DUMMY_KEY)
        return
    live_key = os.environ.get(LIVE_KEY_VARIABLE)
    if live_key:
        yield CassetteTarget(VENDOR_ORIGIN, live_key)
        return
    settings = EmulatorSettings(mode="polls", polls_per_step=POLLS_PER_STEP, sequential_ids=True)
    with Emulator(settings) as running:
        yield CassetteTarget(running.gemini_base_url, DUMMY_KEY, running)
