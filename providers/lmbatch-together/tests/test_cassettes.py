"""Recorded traffic: every operation replays from ``cassettes/`` here with no network.

Replay is the default. ``--record-mode=once`` (after deleting a cassette) re-records against
the Together emulator, stored with Together's host; with ``LMBATCH_LIVE_TOGETHER_KEY`` set
it records the live API instead. See ``cassettes/README.md``.
"""

from __future__ import annotations

import pytest

from lmbatch import BatchStatus, Message
from lmbatch.testing.cassettes import CassetteTarget

pytestmark = [pytest.mark.vcr, pytest.mark.timeout(120)]


async def test_create(cassette_target: CassetteTarget) -> None:
    """The signed-URL upload (302, PUT, preprocess), then ``{"job": ...}`` on create."""
    async with cassette_target.operations(priority=1) as ops:
        batch_id = await ops.create(
            {"greeting": "Say hello", "chat": [Message.system("Be brief."), Message.user("Hi")]},
            {"max_tokens": 20, "temperature": 0.2},
        )
        assert batch_id


async def test_status(cassette_target: CassetteTarget) -> None:
    """Upper-case statuses, ``progress`` instead of counts, ISO 8601 times."""
    async with cassette_target.operations() as ops:
        batch_id = await ops.create({"a": "Say hello"}, {"max_tokens": 20})
        info = await ops.info(batch_id)
        assert info["status"] is BatchStatus.IN_PROGRESS
        assert info["provider_status"] in ("VALIDATING", "IN_PROGRESS")
        assert info["created_at"] is not None
        assert info["expires_at"] is not None  # job_deadline
        await cassette_target.wait(ops, batch_id)
        info = await ops.info(batch_id)
        assert (info["status"], info["provider_status"]) == (BatchStatus.FINISHED, "COMPLETED")
        assert info["raw"]["progress"] == 100
        assert info["ended_at"] is not None


async def test_retrieve_outcomes(cassette_target: CassetteTarget) -> None:
    """Output and error files of an ``EXPIRED`` job: an answer, a per-line error and a
    request the deadline left unrun."""
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
    limited = results["limited"].error
    assert limited is not None
    assert (limited.kind, limited.status_code, limited.transient) == ("errored", 429, True)
    never = results["never"].error
    assert never is not None
    assert (never.kind, never.code) == ("expired", "batch_expired")


async def test_cancel(cassette_target: CassetteTarget) -> None:
    requests = {f"c{i}": f"Count to {i}" for i in range(4)}
    async with cassette_target.operations() as ops:
        batch_id = await ops.create(requests, {"max_tokens": 20})
        await ops.cancel(batch_id)
        await cassette_target.wait(ops, batch_id)
        assert await ops.status(batch_id) is BatchStatus.CANCELLED
        results = await ops.retrieve(batch_id)
    assert set(results) == set(requests)
    assert all(out.error is not None and out.error.kind == "cancelled" for out in results.values())


async def test_list_in_one_page(cassette_target: CassetteTarget) -> None:
    """Together's list is one unpaginated array: sorted newest first here."""
    async with cassette_target.operations() as ops:
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
