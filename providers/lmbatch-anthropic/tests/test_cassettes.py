"""Recorded traffic: every operation replays from ``cassettes/`` here with no network.

Replay is the default. ``--record-mode=once`` (after deleting a cassette) re-records against
the local emulator, stored with the vendor host; with ``LMBATCH_LIVE_ANTHROPIC_KEY`` set it
records the live API instead. See ``cassettes/README.md``.
"""

from __future__ import annotations

import asyncio

import pytest
from lmbatch_anthropic import AnthropicBatchOperations

from lmbatch import BatchStatus, Message
from lmbatch.testing.cassettes import CassetteTarget

pytestmark = [pytest.mark.vcr, pytest.mark.timeout(120)]

#: Keys Anthropic refuses as custom ids: mapped on the way out, restored on the way back.
ODD_KEYS = {"doc/7 — ünïcode": "Say hello", "y" * 200: "Say goodbye"}


async def wait(ops: AnthropicBatchOperations, target: CassetteTarget, batch_id: str) -> None:
    """Poll until the batch ends (fast against the emulator and in replay)."""
    for _ in range(500):
        if (await ops.status(batch_id)).is_terminal:
            return
        if target.live:
            await asyncio.sleep(30)
    raise AssertionError("batch never ended")


async def test_create(cassette_target: CassetteTarget) -> None:
    async with cassette_target.operations() as ops:
        batch_id = await ops.create(
            {**ODD_KEYS, "conversation": [Message.system("Be brief."), Message.user("Hi")]},
            {"max_tokens": 64, "temperature": 0.2, "stop": ["END"]},
        )
        assert batch_id.startswith("msgbatch_")


async def test_status(cassette_target: CassetteTarget) -> None:
    async with cassette_target.operations() as ops:
        batch_id = await ops.create({"a": "Say hello"}, {"max_tokens": 32})
        info = await ops.info(batch_id)
        assert info["status"] is BatchStatus.IN_PROGRESS
        assert info["provider_status"] == "in_progress"
        assert info["request_counts"]["processing"] == 1
        assert info["created_at"] is not None
        assert info["created_at"].tzinfo is not None
        await wait(ops, cassette_target, batch_id)
        assert await ops.status(batch_id) is BatchStatus.FINISHED


async def test_retrieve_outcomes(cassette_target: CassetteTarget) -> None:
    """succeeded, errored, expired and missing (the fault directives need the emulator)."""
    requests = {
        **ODD_KEYS,
        "errored": "Fail [[lmbatch:error=400]]",
        "expired": "Run late [[lmbatch:expire]]",
        "missing": "Vanish [[lmbatch:omit]]",
    }
    async with cassette_target.operations() as ops:
        batch_id = await ops.create(requests, {"max_tokens": 32})
        await wait(ops, cassette_target, batch_id)
        assert await ops.status(batch_id) is BatchStatus.EXPIRED
        results = await ops.retrieve(batch_id)
    assert set(results) == set(requests)
    assert results["doc/7 — ünïcode"].ok
    assert results["doc/7 — ünïcode"].text
    assert results["y" * 200].ok
    kinds = {key: out.error.kind for key, out in results.items() if out.error is not None}
    assert kinds == {"errored": "errored", "expired": "expired", "missing": "missing"}
    errored = results["errored"].error
    assert errored is not None
    assert errored.code == "invalid_request_error"
    usage = results["doc/7 — ünïcode"].token_usage
    assert usage is not None
    assert usage.output_tokens > 0


async def test_retrieve_canceled(cassette_target: CassetteTarget) -> None:
    requests = {f"c{i}": f"Count to {i}" for i in range(4)}
    async with cassette_target.operations() as ops:
        batch_id = await ops.create(requests, {"max_tokens": 32})
        await ops.cancel(batch_id)
        await wait(ops, cassette_target, batch_id)
        assert await ops.status(batch_id) is BatchStatus.CANCELLED
        results = await ops.retrieve(batch_id)
    assert set(results) == set(requests)
    assert any(out.error is not None and out.error.kind == "cancelled" for out in results.values())


async def test_list_across_pages(cassette_target: CassetteTarget) -> None:
    async with cassette_target.operations(list_page_size=2) as ops:
        created = [await ops.create({"a": f"List me {i}"}, {"max_tokens": 16}) for i in range(3)]
        listed = [item["id"] for item in await ops.list()]
    assert set(created) <= set(listed)
    assert listed.index(created[2]) < listed.index(created[0])  # newest first


async def test_cancel(cassette_target: CassetteTarget) -> None:
    async with cassette_target.operations() as ops:
        batch_id = await ops.create({"a": "Write a long story"}, {"max_tokens": 32})
        await ops.cancel(batch_id)
        info = await ops.info(batch_id)
        assert info["status"] in (BatchStatus.CANCELING, BatchStatus.CANCELLED)
        assert info["raw"]["cancel_initiated_at"]


async def test_invoke(cassette_target: CassetteTarget) -> None:
    async with cassette_target.operations() as ops:
        results = await ops.invoke(
            {**ODD_KEYS, "q": [Message.system("Answer in one word."), Message.user("Capital?")]},
            {"max_tokens": 32},
            status_check_interval=30 if cassette_target.live else 0,
            max_iterations=500,
        )
    assert set(results) == {*ODD_KEYS, "q"}
    assert all(out.ok and out.text for out in results.values())
