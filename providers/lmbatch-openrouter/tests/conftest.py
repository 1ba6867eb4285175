"""Fixtures of the OpenRouter provider tests: the emulator served on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from lmbatch_openrouter import OpenRouterBatchOperations
from lmbatch_openrouter._emulator import OpenRouterEmulator, create_app

from lmbatch.testing.emulator import EmulatorSettings, EmulatorState


@dataclass
class Served:
    """A running emulator: its state, its OpenRouter half and its base URL."""

    state: EmulatorState
    vendor: OpenRouterEmulator
    base_url: str


@pytest.fixture(autouse=True)
def _no_ambient_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's OpenRouter settings."""
    for name in ("OPENROUTER_API_KEY", "OPENROUTER_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def serve(app: Any) -> Iterator[str]:
    """Serve ``app`` on a free port of 127.0.0.1 while the generator is open."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


@pytest.fixture(params=[True, False], ids=["inline-results", "paged-results"])
def emulator(request: pytest.FixtureRequest) -> Iterator[Served]:
    """The emulator in ``polls`` mode; results inline in the batch, or paged only."""
    state = EmulatorState(EmulatorSettings(mode="polls"))
    app = create_app(state, inline_results=request.param, results_page_size=2)
    try:
        for url in serve(app):
            yield Served(state, app.state.openrouter, url + "/api/v1")
    finally:
        state.close()


@pytest.fixture
async def ops(emulator: Served) -> AsyncIterator[OpenRouterBatchOperations]:
    """Operations on the emulator, with a fresh in-memory job store."""
    operations = OpenRouterBatchOperations(
        model="openai/gpt-4.1-mini",
        api_key="test",
        base_url=emulator.base_url,
        max_retries=0,
        store=":memory:",
    )
    yield operations
    await operations.aclose()
