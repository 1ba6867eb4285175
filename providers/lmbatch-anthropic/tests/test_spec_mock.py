"""Spec conformance: create, status, list, cancel and delete against a spec-driven mock.

Prism serves the official Anthropic Message Batches subset spec and answers any request
that violates it with 422 (PROVIDER_APIS.md §5.2), which fails these tests. Prism is
installed by ``scripts/install-mock-server.sh`` into ``.tools/``; without it the tests skip,
unless ``LMBATCH_REQUIRE_MOCK_SERVER=1``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from lmbatch_anthropic import AnthropicBatchOperations

from lmbatch import BatchStatus, ProviderRequestError

from .conftest import MODEL, SPEC_FILE
from .test_encoding import CASES

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def prism_url(openapi_mock: Callable[[Path], str]) -> str:
    """A Prism mock of the Anthropic subset spec on 127.0.0.1 and a free port (the
    ``openapi_mock`` fixture of lmbatch's pytest plugin)."""
    return openapi_mock(SPEC_FILE)


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
