"""Recorded traffic: every operation replays from ``cassettes/`` here with no network.

Replay is the default. ``--record-mode=once`` (after deleting a cassette) re-records against
the Gemini emulator, stored with Google's host; with ``LMBATCH_LIVE_GEMINI_KEY`` set it
records the live API instead. See ``cassettes/README.md``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from lmbatch_gemini import GeminiBatchOperations

from lmbatch import BatchStatus, Message

pytestmark = [pytest.mark.vcr, pytest.mark.timeout(120)]

#: Keys Gemini is not sent as they are: mapped on the way out, restored on the way back.
ODD_KEYS = {"doc/7 — ünïcode": "Say hello", "y" * 200: "Say goodbye"}


async def wait(ops: GeminiBatchOperations, target: Any, batch_id: str) -> None:
    """Poll until the batch ends (fast against the emulator and in replay)."""
    for _ in range(500):
        if (await ops.status(batch_id)).is_terminal:
            return
        if target.live:
            await asyncio.sleep(30)
    raise AssertionError("batch never ended")


async def test_create_inline(cassette_target: Any) -> None:
    async with cassette_target.operations() as ops:
        batch_id = await ops.create(
            {**ODD_KEYS, "conversation": [Message.system("Be brief."), Message.user("Hi")]},
            {"max_tokens": 64, "temperature": 0.2, "stop": ["END"]},
        )
        assert batch_id.startswith("batches/")


async def test_status(cassette_target: Any) -> None:
    async with cassette_target.operations() as ops:
        batch_id = await ops.create({"a": "Say hello"}, {"max_tokens": 32})
        info = await ops.info(batch_id)
        assert info["status"] is BatchStatus.IN_PROGRESS
        assert info["provider_status"] == "BATCH_STATE_PENDING"
        assert info["request_counts"]["processing"] == 1
        assert info["created_at"] is not None
        await wait(ops, cassette_target, batch_id)
        info = await ops.info(batch_id)
        assert info["status"] is BatchStatus.FINISHED
        assert info["request_counts"]["succeeded"] == 1


async def test_retrieve_outcomes_from_a_file(cassette_target: Any) -> None:
    """succeeded, errored and expired (the fault directives need the emulator).

    Gemini writes no result for a request an expired batch did not run, so a request it
    lost cannot be told apart: both come back ``expired`` (and are resubmitted).
    """
    requests = {
        **ODD_KEYS,
        "errored": "Fail [[lmbatch:error=429]]",
        "expired": "Run late [[lmbatch:expire]]",
        "missing": "Vanish [[lmbatch:omit]]",
    }
    async with cassette_target.operations(mode="file") as ops:
        batch_id = await ops.create(requests, {"max_tokens": 32})
        await wait(ops, cassette_target, batch_id)
        assert await ops.status(batch_id) is BatchStatus.EXPIRED
        results = await ops.retrieve(batch_id)
    assert set(results) == set(requests)
    assert results["doc/7 — ünïcode"].text == "echo: Say hello"
    kinds = {key: out.error.kind for key, out in results.items() if out.error is not None}
    assert kinds == {"errored": "errored", "expired": "expired", "missing": "expired"}
    errored = results["errored"].error
    assert errored is not None
    assert (errored.code, errored.status_code) == ("RESOURCE_EXHAUSTED", 429)


async def test_cancel(cassette_target: Any) -> None:
    requests = {f"c{i}": f"Count to {i}" for i in range(4)}
    async with cassette_target.operations() as ops:
        batch_id = await ops.create(requests, {"max_tokens": 32})
        await ops.cancel(batch_id)
        await wait(ops, cassette_target, batch_id)
        assert await ops.status(batch_id) is BatchStatus.CANCELLED
        results = await ops.retrieve(batch_id)
    assert set(results) == set(requests)
    assert all(out.error is not None and out.error.kind == "cancelled" for out in results.values())


async def test_list_across_pages(cassette_target: Any) -> None:
    async with cassette_target.operations(list_page_size=2) as ops:
        created = [await ops.create({"a": f"List me {i}"}, {"max_tokens": 16}) for i in range(3)]
        listed = [item["id"] for item in await ops.list()]
    assert set(created) <= set(listed)


@pytest.mark.parametrize("mode", ["inline", "file"])
async def test_invoke(cassette_target: Any, mode: str) -> None:
    async with cassette_target.operations(mode=mode) as ops:
        results = await ops.invoke(
            {**ODD_KEYS, "q": [Message.system("Answer in one word."), Message.user("Capital?")]},
            {"max_tokens": 32},
            status_check_interval=30 if cassette_target.live else 0,
            max_iterations=500,
        )
    assert set(results) == {*ODD_KEYS, "q"}
    assert all(output.ok for output in results.values())
    usage = results["q"].token_usage
    assert usage is not None
    assert usage.output_tokens > 0
