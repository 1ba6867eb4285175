"""Recorded traffic: every operation replays from ``cassettes/`` here with no network.

Replay is the default. ``--record-mode=once`` (after deleting a cassette) re-records against
the Mistral emulator, stored with Mistral's host; with ``LMBATCH_LIVE_MISTRAL_KEY`` set it
records the live API instead. See ``cassettes/README.md``.
"""

from __future__ import annotations

import pytest

from lmbatch import BatchStatus, Message
from lmbatch.testing.cassettes import CassetteTarget

pytestmark = [pytest.mark.vcr, pytest.mark.timeout(120)]


@pytest.mark.parametrize("mode", ["file", "inline"])
async def test_create(cassette_target: CassetteTarget, mode: str) -> None:
    async with cassette_target.operations(input=mode) as ops:
        batch_id = await ops.create(
            {"greeting": "Say hello", "chat": [Message.system("Be brief."), Message.user("Hi")]},
            {"max_tokens": 20, "temperature": 0.2, "seed": 7},
        )
        info = await ops.info(batch_id)
    assert info["provider_status"] in ("QUEUED", "RUNNING")
    assert info["request_counts"]["total"] == 2


async def test_status(cassette_target: CassetteTarget) -> None:
    async with cassette_target.operations() as ops:
        batch_id = await ops.create({"a": "Say hello"}, {"max_tokens": 20})
        info = await ops.info(batch_id)
        assert info["status"] is BatchStatus.IN_PROGRESS
        assert info["created_at"] is not None
        await cassette_target.wait(ops, batch_id)
        info = await ops.info(batch_id)
        assert (info["status"], info["provider_status"]) == (BatchStatus.FINISHED, "SUCCESS")
        assert info["request_counts"]["succeeded"] == 1
        assert info["ended_at"] is not None


async def test_retrieve_outcomes(cassette_target: CassetteTarget) -> None:
    """An answer, a per-line error (error file) and a job that ran out of time: Mistral
    writes no line for a request a ``TIMEOUT_EXCEEDED`` job never ran."""
    cassette_target.skip_live()
    requests = {
        "good": "Say hello",
        "limited": "x [[lmbatch:error=429]]",
        "never": "x [[lmbatch:expire]]",
    }
    async with cassette_target.operations() as ops:
        batch_id = await ops.create(requests, {"max_tokens": 20})
        await cassette_target.wait(ops, batch_id)
        info = await ops.info(batch_id)
        assert (info["status"], info["provider_status"]) == (
            BatchStatus.EXPIRED,
            "TIMEOUT_EXCEEDED",
        )
        results = await ops.retrieve(batch_id)
    assert set(results) == set(requests)
    assert results["good"].text == "echo: Say hello"
    limited = results["limited"].error
    assert limited is not None
    assert (limited.kind, limited.status_code, limited.transient) == ("errored", 429, True)
    never = results["never"].error
    assert never is not None
    assert never.kind == "expired"


async def test_cancel(cassette_target: CassetteTarget) -> None:
    requests = {f"c{i}": f"Count to {i}" for i in range(4)}
    async with cassette_target.operations() as ops:
        batch_id = await ops.create(requests, {"max_tokens": 20})
        await ops.cancel(batch_id)
        assert await ops.status(batch_id) in (BatchStatus.CANCELING, BatchStatus.CANCELLED)
        await cassette_target.wait(ops, batch_id)
        assert await ops.status(batch_id) is BatchStatus.CANCELLED
        results = await ops.retrieve(batch_id)
    assert set(results) == set(requests)
    assert all(out.error is not None and out.error.kind == "cancelled" for out in results.values())


async def test_list_across_pages(cassette_target: CassetteTarget) -> None:
    """``page``/``page_size`` pages, newest first, until ``total`` is reached."""
    async with cassette_target.operations(list_page_size=2) as ops:
        created = [await ops.create({"a": f"List me {i}"}, {"max_tokens": 16}) for i in range(3)]
        listed = [info["id"] for info in await ops.list()]
    assert set(created) <= set(listed)
    if not cassette_target.live:
        assert listed == created[::-1]


@pytest.mark.parametrize("mode", ["file", "inline"])
async def test_invoke(cassette_target: CassetteTarget, mode: str) -> None:
    async with cassette_target.operations(input=mode) as ops:
        results = await ops.invoke(
            {"q1": "Hello", "q2": [Message.system("Answer in one word."), Message.user("Hi")]},
            {"max_tokens": 32},
            status_check_interval=cassette_target.poll_interval,
            max_iterations=500,
        )
    assert set(results) == {"q1", "q2"}
    assert all(output.ok and output.text for output in results.values())
    usage = results["q1"].token_usage
    assert usage is not None
    assert usage.output_tokens > 0
