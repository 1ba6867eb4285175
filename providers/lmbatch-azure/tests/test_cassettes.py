"""Recorded traffic: every operation replays from ``cassettes/`` here with no network.

Replay is the default. ``--record-mode=once`` (after deleting a cassette) re-records against
the emulator's Azure resource (``/azure``), stored as the resource
``https://lmbatch-test.openai.azure.com``. See ``cassettes/README.md``.
"""

from __future__ import annotations

import pytest
from lmbatch_azure import AzureBatchOperations

from lmbatch import BatchStatus, Message
from lmbatch.testing.cassettes import CassetteTarget

from .conftest import API_VERSION

pytestmark = [pytest.mark.vcr, pytest.mark.timeout(120)]


async def test_create(cassette_target: CassetteTarget) -> None:
    """GA API: the deployment on every line, ``expires_after`` on the upload."""
    async with cassette_target.operations() as ops:
        batch_id = await ops.create(
            {"greeting": "Say hello", "chat": [Message.system("Be brief."), Message.user("Hi")]},
            {"max_tokens": 20, "temperature": 0.2},
        )
        assert batch_id.startswith("batch_")


async def test_status(cassette_target: CassetteTarget) -> None:
    async with cassette_target.operations() as ops:
        batch_id = await ops.create({"a": "Say hello"}, {"max_tokens": 20})
        info = await ops.info(batch_id)
        assert info["status"] is BatchStatus.IN_PROGRESS
        assert info["expires_at"] is None  # Azure does not expire late batches at 24 h
        await cassette_target.wait(ops, batch_id)
        info = await ops.info(batch_id)
        assert info["status"] is BatchStatus.FINISHED
        assert info["request_counts"]["succeeded"] == 1


async def test_retrieve_outcomes(cassette_target: CassetteTarget) -> None:
    """Answers, a per-line error and an expired batch (scripted in the emulator)."""
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
    kinds = {"ok" if out.ok else out.error.kind for out in results.values()}  # type: ignore[union-attr]
    assert "cancelled" in kinds
    assert kinds <= {"ok", "cancelled"}


async def test_list_across_pages(
    cassette_target: CassetteTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(AzureBatchOperations, "list_page_size", 2)
    async with cassette_target.operations() as ops:
        created = [await ops.create({"a": f"List me {i}"}, {"max_tokens": 16}) for i in range(3)]
        listed = [info["id"] for info in await ops.list()]
    assert listed == created[::-1]


@pytest.mark.parametrize("surface", ["ga", "classic"])
async def test_invoke(cassette_target: CassetteTarget, surface: str) -> None:
    """The GA ``/openai/v1/`` API (bearer key), and the classic one (``api-key`` header,
    ``?api-version=`` on every call, ``/chat/completions`` lines)."""
    options = {"api_version": API_VERSION} if surface == "classic" else {}
    async with cassette_target.operations(**options) as ops:
        results = await ops.invoke(
            {"q1": "Hello", "q2": [Message.system("Answer in one word."), Message.user("Hi")]},
            {"max_tokens": 32},
            status_check_interval=cassette_target.poll_interval,
            max_iterations=500,
        )
    assert set(results) == {"q1", "q2"}
    assert all(output.ok and output.text for output in results.values())
