"""Recorded HTTP exchanges (``cassettes/`` here) replayed through the real SDK.

Replay is the default and needs no network. Re-record against the local emulator with
``pytest providers/lmbatch-openai/tests/test_cassettes.py --record-mode=rewrite``, or against the
live API with ``LMBATCH_LIVE_OPENAI_KEY`` set as well (see ``cassettes/README.md``).
Tests that need scripted faults (``[[lmbatch:...]]``) only make sense against the emulator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from lmbatch_openai import OpenAIBatchOperations

from lmbatch import BatchStatus, Message
from lmbatch.testing.cassettes import CassetteTarget

pytestmark = pytest.mark.vcr


@pytest.fixture
async def ops(cassette_target: CassetteTarget) -> AsyncIterator[OpenAIBatchOperations]:
    operations = OpenAIBatchOperations(
        model="gpt-4.1-mini",
        api_key=cassette_target.api_key,
        base_url=cassette_target.base_url,
        max_retries=0,
        store=":memory:",
    )
    yield operations
    await operations.aclose()


@pytest.fixture
def emulator_only(cassette_target: CassetteTarget) -> None:
    """Skip recording live: the test scripts vendor behaviour through the emulator."""
    if cassette_target.live:
        pytest.skip("needs the emulator's fault directives; cannot be recorded live")


async def _until_terminal(ops: OpenAIBatchOperations, batch_id: str) -> BatchStatus:
    for _ in range(30):
        status = await ops.status(batch_id)
        if status.is_terminal:
            return status
    raise AssertionError(f"{batch_id} did not end")


async def test_create(ops: OpenAIBatchOperations) -> None:
    batch_id = await ops.create(
        {"greeting": "Say hello", "chat": [Message.system("Be brief."), Message.user("Hi")]},
        {"max_tokens": 20},
    )
    assert batch_id.startswith("batch_")
    assert ops.store.find_batch(batch_id) is not None


async def test_status(ops: OpenAIBatchOperations) -> None:
    batch_id = await ops.create({"a": "one"})
    first = await ops.info(batch_id)
    assert first["status"] is BatchStatus.IN_PROGRESS
    assert first["provider_status"] in ("validating", "in_progress")
    assert await _until_terminal(ops, batch_id) is BatchStatus.FINISHED
    info = await ops.info(batch_id)
    assert info["request_counts"]["total"] == 1
    assert info["request_counts"]["succeeded"] == 1
    assert info["ended_at"] is not None


async def test_retrieve_success(ops: OpenAIBatchOperations) -> None:
    batch_id = await ops.create({"a": "one", "b": "two"})
    await _until_terminal(ops, batch_id)
    results = await ops.retrieve(batch_id)
    assert set(results) == {"a", "b"}
    assert all(output.ok and output.text for output in results.values())
    usage = results["a"].token_usage
    assert usage is not None
    assert usage.input_tokens > 0


@pytest.mark.usefixtures("emulator_only")
async def test_retrieve_mixed_errors(ops: OpenAIBatchOperations) -> None:
    requests = {
        "good": "fine",
        "limited": "x [[lmbatch:error=429]]",
        "broken": "x [[lmbatch:error=500]]",
        "garbled": "x [[lmbatch:malformed]]",
        "lost": "x [[lmbatch:omit]]",
    }
    batch_id = await ops.create(requests)
    assert await _until_terminal(ops, batch_id) is BatchStatus.FINISHED
    results = await ops.retrieve(batch_id)
    assert results["good"].ok
    limited = results["limited"].error
    assert limited is not None
    assert (limited.kind, limited.status_code, limited.code) == (
        "errored",
        429,
        "rate_limit_exceeded",
    )
    broken = results["broken"].error
    assert broken is not None
    assert (broken.kind, broken.status_code) == ("errored", 500)
    assert results["garbled"].error is not None
    assert results["garbled"].error.kind == "invalid_response"
    assert results["lost"].error is not None
    assert results["lost"].error.kind == "missing"


@pytest.mark.usefixtures("emulator_only")
async def test_retrieve_expired_with_partial_results(ops: OpenAIBatchOperations) -> None:
    batch_id = await ops.create({"ran": "first", "never": "second [[lmbatch:expire]]"})
    assert await _until_terminal(ops, batch_id) is BatchStatus.EXPIRED
    results = await ops.retrieve(batch_id)
    assert results["ran"].text == "echo: first"
    assert results["never"].error is not None
    assert results["never"].error.kind == "expired"
    assert results["never"].error.code == "batch_expired"


async def test_retrieve_cancelled(ops: OpenAIBatchOperations) -> None:
    requests = {f"k{i}": f"request {i}" for i in range(4)}
    batch_id = await ops.create(requests)
    await ops.status(batch_id)
    await ops.cancel(batch_id)
    assert await _until_terminal(ops, batch_id) is BatchStatus.CANCELLED
    results = await ops.retrieve(batch_id)
    assert set(results) == set(requests)
    kinds = {"ok" if o.ok else o.error.kind for o in results.values()}  # type: ignore[union-attr]
    assert kinds <= {"ok", "cancelled"}
    assert "cancelled" in kinds


async def test_list_across_pages(
    ops: OpenAIBatchOperations, monkeypatch: pytest.MonkeyPatch, cassette_target: CassetteTarget
) -> None:
    monkeypatch.setattr(OpenAIBatchOperations, "list_page_size", 2)
    created = [await ops.create({"a": f"list {i}"}) for i in range(3)]
    listed = await ops.list()
    ids = [item["id"] for item in listed]
    assert set(created) <= set(ids)
    if not cassette_target.live:
        assert ids == created[::-1]


async def test_cancel(ops: OpenAIBatchOperations) -> None:
    batch_id = await ops.create({"a": "one"})
    await ops.cancel(batch_id)
    assert await ops.status(batch_id) in (BatchStatus.CANCELING, BatchStatus.CANCELLED)


async def test_invoke(ops: OpenAIBatchOperations) -> None:
    results = await ops.invoke(
        {"q1": "Hello", "q2": [Message.system("Be brief"), Message.user("Hi")]},
        {"max_tokens": 50},
        status_check_interval=0,
        max_iterations=40,
    )
    assert set(results) == {"q1", "q2"}
    assert all(output.ok and output.text for output in results.values())
