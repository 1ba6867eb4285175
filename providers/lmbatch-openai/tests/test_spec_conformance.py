"""The provider's calls conform to the official OpenAI spec (Prism mock server).

Prism serves ``specs/openapi/openai-batch-files.subset.yaml`` and answers any request
that breaks the spec with a 4xx (422), which the provider turns into an lmbatch error, so
each test fails on a non-conforming call. Prism's answers are schema-generated filler, so
these tests check request shapes only; lifecycle and result files are covered by the
emulator and cassette tests.

Install Prism with ``scripts/install-mock-server.sh``. Without it these tests skip, unless
``LMBATCH_REQUIRE_MOCK_SERVER=1`` (set by CI), where they fail (``openapi_mock``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from lmbatch_openai import OpenAIBatchOperations

from lmbatch import BatchStatus, LMInput, Message, ProviderRequestError
from lmbatch.provider import BatchInfo, empty_counts

from .conftest import SPECS

SPEC = SPECS / "openai-batch-files.subset.yaml"


@pytest.fixture(scope="module")
def prism_url(openapi_mock: Callable[[Path], str]) -> str:
    """Prism on 127.0.0.1 and a free port, serving the OpenAI batch/files subset spec
    (the ``openapi_mock`` fixture of lmbatch's pytest plugin)."""
    return openapi_mock(SPEC)


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
