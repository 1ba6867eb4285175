"""Fixtures of the Mistral provider tests: the emulator served on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from lmbatch_mistral import MistralBatchOperations
from lmbatch_mistral._emulator import MistralEmulator, create_app

from lmbatch.testing.emulator import EmulatorSettings, EmulatorState


@dataclass
class Served:
    """A running emulator: its state, its Mistral half and its base URL."""

    state: EmulatorState
    vendor: MistralEmulator
    base_url: str


@pytest.fixture(autouse=True)
def _no_ambient_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's Mistral settings."""
    for name in ("MISTRAL_API_KEY", "MISTRAL_BASE_URL"):
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


@pytest.fixture
def emulator() -> Iterator[Served]:
    """The emulator in ``polls`` mode."""
    state = EmulatorState(EmulatorSettings(mode="polls"))
    app = create_app(state)
    try:
        for url in serve(app):
            yield Served(state, app.state.mistral, url)
    finally:
        state.close()


@pytest.fixture(params=["file", "inline"])
async def ops(
    emulator: Served, request: pytest.FixtureRequest
) -> AsyncIterator[MistralBatchOperations]:
    """Operations on the emulator (input by file or inline), fresh in-memory job store."""
    operations = MistralBatchOperations(
        model="mistral-small-latest",
        api_key="test",
        base_url=emulator.base_url,
        input=request.param,
        store=":memory:",
    )
    yield operations
    await operations.aclose()
