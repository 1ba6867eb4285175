"""The submission loop with the fake provider: unknown outcomes stay uncertain, no spinning."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from lmbatch import (
    JobStateError,
    JobStore,
    PreparedBatch,
    ProviderConnectionError,
    SubmissionUncertainError,
)
from lmbatch._store import CHUNK_PLANNED, CHUNK_SUBMITTING
from lmbatch.testing import FakeBackend, FakeBatchOperations

REQUESTS = {f"key {i}": f"prompt {i}" for i in range(5)}


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path / "jobs.sqlite3")


def ops_for(backend: FakeBackend, store: JobStore, **options: Any) -> FakeBatchOperations:
    return FakeBatchOperations(backend=backend, store=store, **options)


def _only_job_chunk_states(store: JobStore) -> list[tuple[str, str | None]]:
    (job,) = store.list_jobs()
    return [(chunk.state, chunk.batch_id) for chunk in job.chunks]


def _force_chunk(store: JobStore, state: str, batch_id: str | None) -> None:
    """Write a chunk state directly, as an older lmbatch (or a damaged store) left it."""
    (job,) = store.list_jobs()
    store._conn.execute(
        "UPDATE chunks SET state = ?, batch_id = ? WHERE job_id = ?",
        (state, batch_id, job.job_id),
    )


@pytest.mark.timeout(30)  # the defect spun without ever yielding
async def test_a_chunk_recorded_as_submitted_without_an_id_is_reconciled_not_spun(
    backend: FakeBackend, store: JobStore
) -> None:
    await ops_for(backend, store).create(REQUESTS)
    _force_chunk(store, "submitted", None)
    results = await ops_for(backend, store).invoke(REQUESTS, status_check_interval=0)
    assert all(output.ok for output in results.values())
    # The batch the lost create made was found again, not paid for twice.
    assert backend.calls["submit"] == 1
    assert sorted(backend.submissions.values()) == [1] * len(REQUESTS)


@pytest.mark.timeout(30)
async def test_a_chunk_in_a_state_nobody_writes_is_a_typed_error(
    backend: FakeBackend, store: JobStore
) -> None:
    await ops_for(backend, store).create(REQUESTS)
    _force_chunk(store, "half-sent", None)
    with pytest.raises(JobStateError, match="half-sent") as caught:
        await ops_for(backend, store).invoke(REQUESTS)
    assert caught.value.job_id == store.list_jobs()[0].job_id
    assert backend.calls["submit"] == 1


@pytest.mark.parametrize("returned", ["", None])
async def test_a_provider_returning_no_batch_id_leaves_the_chunk_uncertain(
    backend: FakeBackend, store: JobStore, returned: str | None
) -> None:
    class NoIdOperations(FakeBatchOperations):
        async def submit_batch(self, batch: PreparedBatch) -> str:
            await super().submit_batch(batch)
            return returned  # type: ignore[return-value]

    ops = NoIdOperations(backend=backend, store=store)
    with pytest.raises(SubmissionUncertainError, match="no batch id"):
        await ops.invoke(REQUESTS, status_check_interval=0)
    assert _only_job_chunk_states(store) == [(CHUNK_SUBMITTING, None)]
    results = await ops_for(backend, store).invoke(REQUESTS, status_check_interval=0)
    assert all(output.ok for output in results.values())
    assert backend.calls["submit"] == 1


async def test_cancel_while_the_create_call_is_open_leaves_the_chunk_uncertain(
    backend: FakeBackend, store: JobStore
) -> None:
    sent = asyncio.Event()

    class SlowCreate(FakeBatchOperations):
        async def submit_batch(self, batch: PreparedBatch) -> str:
            batch_id = await super().submit_batch(batch)  # the vendor made it...
            sent.set()
            await asyncio.sleep(3600)  # ...and the answer never arrives
            return batch_id

    task = asyncio.create_task(SlowCreate(backend=backend, store=store).invoke(REQUESTS))
    await sent.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _only_job_chunk_states(store) == [(CHUNK_SUBMITTING, None)]
    results = await ops_for(backend, store).invoke(REQUESTS, status_check_interval=0)
    assert all(output.ok for output in results.values())
    assert backend.calls["submit"] == 1


async def test_cancel_before_the_create_call_started_is_not_created(
    backend: FakeBackend, store: JobStore
) -> None:
    preparing = asyncio.Event()

    class SlowUpload(FakeBatchOperations):
        async def submit_batch(self, batch: PreparedBatch) -> str:
            preparing.set()
            await asyncio.sleep(3600)  # an upload that never finishes
            return await super().submit_batch(batch)

    task = asyncio.create_task(SlowUpload(backend=backend, store=store).invoke(REQUESTS))
    await preparing.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _only_job_chunk_states(store) == [(CHUNK_PLANNED, None)]


async def test_a_provider_that_does_not_say_when_it_creates_is_treated_pessimistically(
    backend: FakeBackend, store: JobStore
) -> None:
    class Unmarked(FakeBatchOperations):
        marks_create_start = False

        async def submit_batch(self, batch: PreparedBatch) -> str:
            raise ProviderConnectionError("connection reset", provider="fake")

    with pytest.raises(SubmissionUncertainError) as caught:
        await Unmarked(backend=backend, store=store).invoke(REQUESTS)
    assert isinstance(caught.value.__cause__, ProviderConnectionError)
    assert _only_job_chunk_states(store) == [(CHUNK_SUBMITTING, None)]
