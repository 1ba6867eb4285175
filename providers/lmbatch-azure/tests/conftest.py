"""Fixtures of the Azure provider tests: an emulator and operations on both API surfaces."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from lmbatch_azure import AzureBatchOperations

MODEL = "gpt-4.1-mini"
DEPLOYMENT = "gpt-4-1-mini-batch"
API_VERSION = "2024-10-21"


@pytest.fixture(autouse=True)
def _no_ambient_azure_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's settings by accident."""
    for name in (
        "AZURE_OPENAI_API_KEY",
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_AD_TOKEN",
        "OPENAI_API_VERSION",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def emulator(emulator_server: Any) -> Iterator[Any]:
    """The module's emulator, emptied (options too) before and after the test."""
    emulator_server.reset()
    vendor = emulator_server.state.vendors["azure"]
    saved = vars(vendor.options).copy()
    yield emulator_server
    vars(vendor.options).update(saved)
    emulator_server.reset()


@pytest.fixture(params=["ga", "classic"])
def surface(request: pytest.FixtureRequest) -> str:
    """The GA ``/openai/v1/`` API, or the classic one with an ``api-version``."""
    return str(request.param)


def azure_ops(endpoint: str, surface: str = "ga", **options: Any) -> AzureBatchOperations:
    """Operations on the emulated resource ``endpoint``."""
    if surface == "classic":
        options.setdefault("api_version", API_VERSION)
    options.setdefault("api_key", "test")
    options.setdefault("deployment", DEPLOYMENT)
    return AzureBatchOperations(
        model=MODEL, endpoint=endpoint, max_retries=0, store=":memory:", **options
    )


@pytest.fixture
async def make_ops() -> AsyncIterator[Callable[..., AzureBatchOperations]]:
    """Build operations (``azure_ops``'s arguments); each is closed after the test."""
    made: list[AzureBatchOperations] = []

    def make(endpoint: str, surface: str = "ga", **options: Any) -> AzureBatchOperations:
        made.append(azure_ops(endpoint, surface, **options))
        return made[-1]

    yield make
    for operations in made:
        await operations.aclose()


@pytest.fixture
def ops(
    emulator: Any, surface: str, make_ops: Callable[..., AzureBatchOperations]
) -> AzureBatchOperations:
    """Operations on the emulator, on each API surface."""
    return make_ops(emulator.base_url_for("azure"), surface)
