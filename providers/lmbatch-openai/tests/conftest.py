"""Fixtures of the OpenAI provider tests: VCR wiring and cassette targets.

The emulator fixtures (``emulator_server``, ``emulator``), the cassette checks and the
OpenAPI mock server come from lmbatch's pytest plugin (``lmbatch.testing.pytest_plugin``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lmbatch.testing.cassettes import DUMMY_API_KEY, vcr_config_for

REPO = Path(__file__).resolve().parents[3]
#: The vendor OpenAPI specs: ``$LMBATCH_SPECS_DIR`` if set, else the repository's copies.
SPECS = Path(os.environ.get("LMBATCH_SPECS_DIR") or REPO / "specs" / "openapi")
CASSETTES = Path(__file__).resolve().parent / "cassettes"
VENDOR_ORIGIN = "https://api.openai.com"
#: Opt-in key for re-recording cassettes against the live API. OPENAI_API_KEY is never used.
LIVE_KEY_VARIABLE = "LMBATCH_LIVE_OPENAI_KEY"
#: A key that is never valid anywhere: used for replay and for the emulator.
DUMMY_KEY = DUMMY_API_KEY


@pytest.fixture
def vcr_config() -> dict[str, Any]:
    """VCR settings for OpenAI cassettes (no record_mode: ``--record-mode`` decides)."""
    return vcr_config_for(VENDOR_ORIGIN)


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    """Every OpenAI cassette lives in ``cassettes/`` beside these tests."""
    return str(CASSETTES)


@pytest.fixture(autouse=True)
def _no_ambient_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's OpenAI settings by accident."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)


@dataclass
class CassetteTarget:
    """Where cassette tests send their requests.

    Attributes:
        base_url: ``https://api.openai.com/v1`` for replay and live recording, the
            emulator's URL when recording against it.
        api_key: The dummy key, or the live key when recording live.
        emulator: The running emulator when recording against it, else None.
    """

    base_url: str
    api_key: str
    emulator: Any = None

    @property
    def live(self) -> bool:
        """Whether requests reach the real API (live recording)."""
        return self.emulator is None and self.api_key != DUMMY_KEY


@pytest.fixture
def cassette_target(record_mode: str) -> Iterator[CassetteTarget]:
    """Replay (default): the vendor URL with a dummy key, served by the cassette.

    ``--record-mode=once`` etc.: the emulator (default) or, with ``LMBATCH_LIVE_OPENAI_KEY``
    set, the live API.
    """
    if record_mode == "none":
        yield CassetteTarget(VENDOR_ORIGIN + "/v1", DUMMY_KEY)
        return
    live_key = os.environ.get(LIVE_KEY_VARIABLE)
    if live_key:
        yield CassetteTarget(VENDOR_ORIGIN + "/v1", live_key)
        return
    from lmbatch.testing.emulator import Emulator, EmulatorSettings

    with Emulator(EmulatorSettings(mode="polls")) as emulator:
        yield CassetteTarget(emulator.openai_base_url, DUMMY_KEY, emulator)
