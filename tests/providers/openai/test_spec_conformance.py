"""The provider's calls conform to the official OpenAI spec (Prism mock server).

Prism serves ``specs/openapi/openai-batch-files.subset.yaml`` and answers any request
that breaks the spec with a 4xx (422), which the provider turns into an lmbatch error, so
each test fails on a non-conforming call. Prism's answers are schema-generated filler, so
these tests check request shapes only; lifecycle and result files are covered by the
emulator and cassette tests.

Install Prism with ``scripts/install-mock-server.sh``. Without it these tests skip, unless
``LMBATCH_REQUIRE_MOCK_SERVER=1`` (set by CI), where they fail.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from lmbatch_openai import OpenAIBatchOperations

from lmbatch import BatchStatus, LMInput, Message, ProviderRequestError
from lmbatch._status import BatchInfo, empty_counts
from tests.specs import REPO, SPECS

PRISM = REPO / ".tools" / "prism" / "node_modules" / ".bin" / "prism"
SPEC = SPECS / "openai-batch-files.subset.yaml"
_START_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prism exited early:\n{log.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"prism did not start within {_START_TIMEOUT:g} s")


@pytest.fixture(scope="module")
def prism_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Prism on 127.0.0.1 and a free port, serving the OpenAI batch/files subset spec."""
    if not PRISM.exists() or not SPEC.exists():
        reason = (
            f"prism not installed ({PRISM}); run scripts/install-mock-server.sh"
            if not PRISM.exists()
            else f"spec not found: {SPEC}"
        )
        if os.environ.get("LMBATCH_REQUIRE_MOCK_SERVER") == "1":
            pytest.fail(f"LMBATCH_REQUIRE_MOCK_SERVER=1 but {reason}")
        pytest.skip(reason)
    port = _free_port()
    log = tmp_path_factory.mktemp("prism") / "prism.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(PRISM), "mock", "-h", "127.0.0.1", "-p", str(port), str(SPEC)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stopping it stops node's children
        )
    try:
        _wait_until_listening(process, port, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def _make_ops(prism_url: str, endpoint: str = "/v1/responses") -> OpenAIBatchOperations:
    return OpenAIBatchOperations(
        model="gpt-4.1-mini",
        api_key="test",
        base_url=prism_url,  # Prism serves the spec's paths without /v1
        endpoint=endpoint,
        max_retries=0,
        store=":memory:",
        metadata={"team": "conformance"},
        output_expires_after=3600,
    )


@pytest.fixture
async def ops(prism_url: str) -> AsyncIterator[OpenAIBatchOperations]:
    operations = _make_ops(prism_url)
    yield operations
    await operations.aclose()


def _terminal_info(batch_id: str) -> BatchInfo:
    return BatchInfo(
        id=batch_id,
        provider="openai",
        status=BatchStatus.FINISHED,
        provider_status="completed",
        created_at=None,
        request_counts=empty_counts(1),
        model=None,
        metadata={},
        errors=[],
        raw={
            "id": batch_id,
            "endpoint": "/v1/responses",
            "input_file_id": "file-in",
            "output_file_id": "file-out",
            "error_file_id": "file-err",
        },
    )


@pytest.mark.parametrize("endpoint", ["/v1/responses", "/v1/chat/completions"])
async def test_upload_and_create_conform(prism_url: str, endpoint: str) -> None:
    async with _make_ops(prism_url, endpoint) as ops:
        requests: dict[str, LMInput] = {"a": "Hello", "b": [Message.user("two", "parts")]}
        batch_id = await ops.create(requests, {"max_tokens": 10})
    assert batch_id


async def test_status_conforms(ops: OpenAIBatchOperations) -> None:
    info = await ops.fetch_batch("batch_abc")
    assert info["provider"] == "openai"


async def test_retrieve_reads_both_files_and_deletes_the_input(
    ops: OpenAIBatchOperations,
) -> None:
    info = _terminal_info("batch_abc")
    records = [record async for record in ops.iter_result_records(info, {})]
    # Prism's file content is filler, not JSONL: one unreadable line per file.
    assert len(records) == 2
    assert all(r.output.error is not None for r in records)
    await ops.after_results(info, {})


async def test_list_conforms(ops: OpenAIBatchOperations) -> None:
    listed = await ops.list()
    assert isinstance(listed, list)


async def test_cancel_conforms(ops: OpenAIBatchOperations) -> None:
    await ops.cancel("batch_abc")


async def test_a_non_conforming_call_fails(ops: OpenAIBatchOperations) -> None:
    """The check is real: a request that breaks the spec gets a 4xx from Prism."""
    from lmbatch_openai._errors import mapped_errors

    client: Any = ops._client()
    call = client.batches.create(
        input_file_id="file-x", endpoint="/v1/foo", completion_window="48h"
    )
    with pytest.raises(ProviderRequestError) as caught, mapped_errors("create", provider="openai"):
        await call
    assert caught.value.status_code == 422
