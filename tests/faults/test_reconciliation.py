"""Finding the batch of an interrupted create: never someone else's, never a guess.

A create call that may or may not have reached the vendor leaves its chunk "submitting";
the next run looks for the batch. These cases broke that search on Anthropic (which keeps
no metadata on batches): a same-size batch of another store taken for ours, the batches of
a multi-chunk job crossed, and a job stuck on "N batches could be chunk 0".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lmbatch import BatchOperations, LMOutput, ProviderLimits, SubmissionUncertainError
from lmbatch.testing.emulator import Emulator, EmulatorSettings
from tests.faults._harness import (
    ANTHROPIC,
    LEDGER,
    REQUESTS,
    VENDORS,
    Vendor,
    check_outcomes,
    make_operations,
)

#: Three requests a chunk: REQUESTS (six) become a job of two batches.
SMALL_CHUNKS = 3


def _ops(vendor: Vendor, emulator: Emulator, store: Path | str, **options: Any) -> BatchOperations:
    ops = make_operations(vendor, vendor.base_url(emulator), store, **options)
    limits = ops.limits
    ops.limits = ProviderLimits(
        max_requests_per_batch=SMALL_CHUNKS,
        max_bytes_per_batch=limits.max_bytes_per_batch,
        custom_id_pattern=limits.custom_id_pattern,
        custom_id_max_length=limits.custom_id_max_length,
    )
    return ops


def _crash_during_creation(ops: BatchOperations, made: dict[int, bool]) -> None:
    """Each create dies: after the vendor made the batch (True) or before sending (False)."""
    original = ops.submit_batch

    async def submit(batch: Any) -> str:
        if made[batch.chunk_index]:
            await original(batch)
        raise SubmissionUncertainError(
            f"(test) process died while creating chunk {batch.chunk_index}", provider="test"
        )

    ops.submit_batch = submit  # type: ignore[method-assign]


async def _invoke(ops: BatchOperations, **kwargs: Any) -> dict[str, LMOutput]:
    async with ops:
        return await ops.invoke(REQUESTS, status_check_interval=0, max_iterations=200, **kwargs)


def _answers_are_ours(results: dict[str, LMOutput]) -> None:
    assert set(results) == set(REQUESTS)
    texts = {key: output.text for key, output in results.items()}
    assert texts == {key: f"echo: {prompt}" for key, prompt in REQUESTS.items()}


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
async def test_batch_of_another_store_is_never_taken_for_a_create_that_failed(
    vendor: Vendor, tmp_path: Path, store_url: str
) -> None:
    """A plain 500 made nothing; a same-size batch sent by someone else is not ours."""
    async with Emulator(EmulatorSettings(mode="polls")) as emulator:
        emulator.faults.fail("create", 500, nth=1, provider=vendor.name)  # type: ignore[arg-type]
        mine = store_url
        with pytest.raises(SubmissionUncertainError):
            await _invoke(make_operations(vendor, vendor.base_url(emulator), mine))
        # Another process with its own store: the same keys, other prompts, same size.
        theirs = make_operations(vendor, vendor.base_url(emulator), tmp_path / "theirs.sqlite3")
        async with theirs:
            await theirs.create({key: f"Something else {key}" for key in REQUESTS})
        results = await _invoke(make_operations(vendor, vendor.base_url(emulator), mine))
        _answers_are_ours(results)
        # Ours were sent once (after the failed call), theirs once: nothing of ours twice.
        assert sorted(emulator.submissions.values()) == [2] * len(REQUESTS)
        LEDGER.faults_injected += 1
        LEDGER.keys_checked += len(results)


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
async def test_crash_during_multi_chunk_creation_keeps_each_batch_on_its_chunk(
    vendor: Vendor, store_url: str
) -> None:
    """Chunk 0's create never left, chunk 1's made a batch: it is chunk 1's, not chunk 0's."""
    store = store_url  # once per backend (SQLite, PostgreSQL)
    async with Emulator(EmulatorSettings(mode="polls")) as emulator:
        crashing = _ops(vendor, emulator, store, max_concurrent_submissions=1)
        _crash_during_creation(crashing, {0: False, 1: True})
        with pytest.raises(SubmissionUncertainError):
            await _invoke(crashing)
        assert emulator.create_calls == 1
        results = await _invoke(_ops(vendor, emulator, store), resubmit=0)
        _answers_are_ours(results)
        check_outcomes(results, emulator, faults=2)
        assert emulator.create_calls == 2  # chunk 1 found, chunk 0 sent


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
async def test_crash_after_every_chunk_was_created_completes_without_sending_again(
    vendor: Vendor, store_url: str
) -> None:
    """Two same-size batches, either could be chunk 0: told apart by their results."""
    store = store_url  # once per backend (SQLite, PostgreSQL)
    async with Emulator(EmulatorSettings(mode="polls")) as emulator:
        crashing = _ops(vendor, emulator, store, max_concurrent_submissions=2)
        _crash_during_creation(crashing, {0: True, 1: True})
        with pytest.raises(SubmissionUncertainError):
            await _invoke(crashing)
        results = await _invoke(_ops(vendor, emulator, store), resubmit=0)
        _answers_are_ours(results)
        check_outcomes(results, emulator, faults=2)
        assert emulator.create_calls == 2


async def test_batch_of_another_store_in_the_window_is_told_apart_by_its_results(
    tmp_path: Path, store_url: str
) -> None:
    """Ours and a stranger's same-size batch were both made: ours is found, theirs left."""
    store = store_url  # once per backend (SQLite, PostgreSQL)
    async with Emulator(EmulatorSettings(mode="polls")) as emulator:
        crashing = _ops(ANTHROPIC, emulator, store)
        _crash_during_creation(crashing, {0: True, 1: True})
        with pytest.raises(SubmissionUncertainError):
            await _invoke(crashing)
        stranger = _ops(ANTHROPIC, emulator, tmp_path / "theirs.sqlite3")
        async with stranger:
            await stranger.create({f"x{i}": f"Unrelated {i}" for i in range(SMALL_CHUNKS)})
        results = await _invoke(_ops(ANTHROPIC, emulator, store), resubmit=0)
        _answers_are_ours(results)
        assert emulator.create_calls == 3
        assert {key: emulator.submissions[key] for key in REQUESTS} == dict.fromkeys(REQUESTS, 1)
