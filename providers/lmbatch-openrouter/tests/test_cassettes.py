"""Recorded traffic: every operation replays from ``cassettes/`` here with no network.

Replay is the default. ``--record-mode=once`` (after deleting a cassette) re-records against
the OpenRouter emulator, stored with OpenRouter's host; with ``LMBATCH_LIVE_OPENROUTER_KEY``
set it records the live API instead. See ``cassettes/README.md``.
"""

from __future__ import annotations

import pytest

from lmbatch import BatchStatus, Message, OperationUnsupportedError
from lmbatch.testing.cassettes import CassetteTarget

from .conftest import PAGED_RESULTS

pytestmark = [pytest.mark.vcr, pytest.mark.timeout(120)]


async def test_create(cassette_target: CassetteTarget) -> None:
    """One JSON body, ``endpoint`` and ``model`` before ``requests``; answered 202."""
    async with cassette_target.operations(providers=["openai"], allow_fallbacks=False) as ops:
        batch_id = await ops.create(
            {"greeting": "Say hello", "chat": [Message.system("Be brief."), Message.user("Hi")]},
            {"max_tokens": 20, "temperature": 0.2},
        )
        assert batch_id


async def test_status(cassette_target: CassetteTarget) -> None:
    async with cassette_target.operations() as ops:
        batch_id = await ops.create({"a": "Say hello"}, {"max_tokens": 20})
        info = await ops.info(batch_id)
        assert info["status"] is BatchStatus.IN_PROGRESS
        assert info["created_at"] is not None
        await cassette_target.wait(ops, batch_id)
        info = await ops.info(batch_id)
        assert (info["status"], info["provider_status"]) == (BatchStatus.FINISHED, "completed")
        assert info["request_counts"]["succeeded"] == 1
        assert info["ended_at"] is not None  # finalized_at


async def test_retrieve_outcomes(cassette_target: CassetteTarget) -> None:
    """Results inline in the terminal batch: an answer, an upstream failure (an ``error``
    item) and a request the expired batch never ran (``batch_expired``)."""
    cassette_target.skip_live()
    requests = {
        "good": "Say hello",
        "limited": "x [[lmbatch:error=429]]",
        "never": "x [[lmbatch:expire]]",
    }
    async with cassette_target.operations() as ops:
        batch_id = await ops.create(requests, {"max_tokens": 20})
        await cassette_target.wait(ops, batch_id)
        assert await ops.status(batch_id) is BatchStatus.EXPIRED
        results = await ops.retrieve(batch_id)
    assert set(results) == set(requests)
    assert results["good"].text == "echo: Say hello"
    limited = results["limited"].error  # an error item, canonical error_type
    assert limited is not None
    assert (limited.kind, limited.code, limited.transient) == (
        "errored",
        "rate_limit_exceeded",
        True,
    )
    never = results["never"].error
    assert never is not None
    assert (never.kind, never.code) == ("expired", "batch_expired")


async def test_retrieve_paged_results(record_mode: str) -> None:
    """Results from ``GET /batches/{id}/results``, following ``next_cursor``."""
    requests = {f"k{i}": f"Say {i}" for i in range(5)}
    with PAGED_RESULTS.target(record_mode) as target:
        async with target.operations() as ops:
            batch_id = await ops.create(requests, {"max_tokens": 20})
            await target.wait(ops, batch_id)
            results = await ops.retrieve(batch_id)
    assert {key: out.text for key, out in results.items()} == {
        key: f"echo: {prompt}" for key, prompt in requests.items()
    }


async def test_cancel_is_unsupported(cassette_target: CassetteTarget) -> None:
    """OpenRouter has no cancel: refused with no HTTP call (the cassette holds the create
    only, and replay fails on any call it does not hold)."""
    async with cassette_target.operations() as ops:
        batch_id = await ops.create({"a": "Say hello"}, {"max_tokens": 20})
        calls = len(cassette_target.emulator.calls) if cassette_target.emulator else 0
        assert "cancel" not in ops.supported_methods
        with pytest.raises(OperationUnsupportedError):
            await ops.cancel(batch_id)
        if cassette_target.emulator is not None:
            assert len(cassette_target.emulator.calls) == calls


async def test_list_across_pages(cassette_target: CassetteTarget) -> None:
    """``limit`` pages, ``after`` the previous page's ``last_id`` while ``has_more``."""
    async with cassette_target.operations(list_page_size=2) as ops:
        created = [await ops.create({"a": f"List me {i}"}, {"max_tokens": 16}) for i in range(3)]
        listed = [info["id"] for info in await ops.list()]
    assert set(created) <= set(listed)
    if not cassette_target.live:
        assert listed == created[::-1]


async def test_invoke(cassette_target: CassetteTarget) -> None:
    async with cassette_target.operations() as ops:
        results = await ops.invoke(
            {"q1": "Hello", "q2": [Message.system("Answer in one word."), Message.user("Hi")]},
            {"max_tokens": 32},
            status_check_interval=cassette_target.poll_interval,
            max_iterations=500,
        )
    assert set(results) == {"q1", "q2"}
    assert all(output.ok and output.text for output in results.values())
