"""Spec conformance: create, status, list, cancel and delete against a spec-driven mock.

Prism serves the official Anthropic Message Batches subset spec and answers any request
that violates it with 422 (PROVIDER_APIS.md §5.2), which fails these tests. Prism is
installed by ``scripts/install-mock-server.sh`` into ``.tools/``; without it the tests skip,
unless ``LMBATCH_REQUIRE_MOCK_SERVER=1``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from lmbatch_anthropic import AnthropicBatchOperations

from lmbatch import BatchStatus, ProviderRequestError

from .conftest import MODEL, REPO, SPEC_FILE
from .test_encoding import CASES

pytestmark = pytest.mark.timeout(120)

_START_TIMEOUT = 60.0


def _prism_executable() -> str | None:
    """Prism from ``$LMBATCH_PRISM``, ``.tools/`` (the install script) or the PATH."""
    candidates = [
        os.environ.get("LMBATCH_PRISM"),
        str(REPO / ".tools" / "prism" / "node_modules" / ".bin" / "prism"),
        str(REPO / ".tools" / "node_modules" / ".bin" / "prism"),
        str(REPO / ".tools" / "bin" / "prism"),
        shutil.which("prism"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the Prism process group this module started (and only that one)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@pytest.fixture(scope="module")
def prism_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Prism mock of the Anthropic subset spec on 127.0.0.1 and a free port."""
    executable = _prism_executable()
    if executable is None:
        if os.environ.get("LMBATCH_REQUIRE_MOCK_SERVER") == "1":
            pytest.fail("Prism is required (LMBATCH_REQUIRE_MOCK_SERVER=1) but not installed")
        pytest.skip("Prism is not installed: run scripts/install-mock-server.sh")
    if not SPEC_FILE.is_file():
        pytest.skip(f"the Anthropic subset spec is missing: {SPEC_FILE}")
    port = _free_port()
    log_path = tmp_path_factory.mktemp("prism") / "prism.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [executable, "mock", "-h", "127.0.0.1", "-p", str(port), str(SPEC_FILE)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as a whole
        )
    try:
        deadline = time.monotonic() + _START_TIMEOUT
        while not _listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Prism did not start:\n{log_path.read_text()[-2000:]}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)


@pytest.fixture
async def mock_ops(prism_url: str) -> AsyncIterator[AnthropicBatchOperations]:
    operations = AnthropicBatchOperations(
        model=MODEL, api_key="test", base_url=prism_url, max_retries=0, store=":memory:"
    )
    yield operations
    await operations.aclose()


@pytest.mark.parametrize(("request_", "hyperparameters", "options"), CASES)
async def test_create_matches_the_spec(
    prism_url: str,
    request_: Any,
    hyperparameters: dict[str, Any] | None,
    options: dict[str, Any],
) -> None:
    async with AnthropicBatchOperations(
        model=MODEL,
        api_key="test",
        base_url=prism_url,
        max_retries=0,
        store=":memory:",
        **options,
    ) as ops:
        try:
            batch_id = await ops.create(
                {"doc/7 — ünïcode": request_, "plain": "Hello"}, hyperparameters
            )
        except ProviderRequestError as exc:  # Prism: 422 for a request the spec refuses
            pytest.fail(f"the mock refused the create call: {exc}")
        assert batch_id


async def test_status_list_cancel_delete_match_the_spec(mock_ops: AnthropicBatchOperations) -> None:
    info = await mock_ops.info("msgbatch_013Zva2CMHLNnXjNJJKqJ2EF")
    assert isinstance(info["status"], BatchStatus)
    assert info["created_at"] is not None
    page = await mock_ops.list_batches_page(None)
    assert page.batches
    listed = await mock_ops.list_batches_page("msgbatch_013Zva2CMHLNnXjNJJKqJ2EF")
    assert isinstance(listed.batches, list)
    await mock_ops.cancel("msgbatch_013Zva2CMHLNnXjNJJKqJ2EF")
    await mock_ops.delete("msgbatch_013Zva2CMHLNnXjNJJKqJ2EF")
