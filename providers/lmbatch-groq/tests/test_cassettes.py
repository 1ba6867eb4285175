"""Recorded traffic: every operation replays from ``cassettes/`` here with no network.

Replay is the default. ``--record-mode=once`` (after deleting a cassette) re-records against
the Groq emulator, stored with Groq's host; with ``LMBATCH_LIVE_GROQ_KEY`` set it records
the live API instead. See ``cassettes/README.md``.
"""

from __future__ import annotations

import pytest

from lmbatch import BatchStatus, Message
from lmbatch.testing.cassettes import CassetteTarget

pytestmark = [pytest.mark.vcr, pytest.mark.timeout(120)]


async def test_create(cassette_target: CassetteTarget) -> None:
    async with cassette_target.operations(completion_window="3d") as ops:
        batch_id = await ops.create(
            {"greeting": "Say hello", "chat": [Message.system("Be brief."), Message.user("Hi")]},
            {"max_tokens": 20, "temperature": 0.2},
        )
        assert batch_id.startswith("batch_")


async def test_status(cassette_target: CassetteTarget) -> None:
    async with cassette_target.operations(completion_window="7d") as ops:
        batch_id = await ops.create({"a": "Say hello"}, {"max_tokens": 20})
        info = await ops.info(batch_id)
        assert info["status"] is BatchStatus.IN_PROGRESS
        assert info["raw"]["project_id"]  # Groq's batch object: project_id, no usage
        assert info["raw"].get("usage") is None
        assert info["expires_at"] is not None
        assert info["created_at"] is not None
        assert (info["expires_at"] - info["created_at"]).days == 7
        await cassette_target.wait(ops, batch_id)
        info = await ops.info(batch_id)
        assert info["status"] is BatchStatus.FINISHED
        assert info["request_counts"]["succeeded"] == 1


async def test_retrieve_outcomes(cassette_target: CassetteTarget) -> None:
    """Answers with Groq's extras, a per-line error and an expired batch."""
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
    good = results["good"]
    assert good.text == "echo: Say hello"
    assert good.finish_details["groq_request_id"].startswith("req_01")
    assert set(good.finish_details["timings"]) == {
        "queue_time",
        "prompt_time",
        "completion_time",
        "total_time",
    }
    assert good.token_usage is not None
    assert good.token_usage.output_tokens > 0
    limited = results["limited"].error
    assert limited is not None
    assert (limited.kind, limited.status_code) == ("errored", 429)
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
    kinds = {"ok" if out.ok else out.error.kind for out in results.values()}  # type: ignore[union-attr]
    assert "cancelled" in kinds
    assert kinds <= {"ok", "cancelled"}


async def test_list_in_one_page(cassette_target: CassetteTarget) -> None:
    """Groq's list takes no ``limit``/``after``: one call, every batch, newest first."""
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
