"""Job tags on request ids, re-attaching with another tag, and batches proven before use."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import lmbatch
from lmbatch import (
    BatchNotFinishedError,
    BatchNotFoundError,
    JobStore,
    RateLimitError,
    SubmissionAmbiguousError,
    SubmissionUncertainError,
)
from lmbatch._jobs._reconcile import parse_http_date, reconcile_chunks, vendor_offset
from lmbatch._jobs._recording import prepare, record_job
from lmbatch._keys import TAG_LENGTH, strip_job_tag
from lmbatch._store_contract import Store, open_store
from lmbatch.testing import FakeBackend, FakeBatchOperations

REQUESTS = {f"key-{i}": f"prompt {i}" for i in range(5)}


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> FakeBackend:
    """One fake vendor account, also the one lmbatch.resume() reaches."""
    fake = FakeBackend()
    monkeypatch.setattr("lmbatch.testing._fake.default_backend", fake)
    return fake


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A new job store, once per backend (SQLite, PostgreSQL)."""
    opened = open_store(store_url)
    yield opened
    opened.close()


def ops_for(backend: FakeBackend, store: Store, **options: Any) -> FakeBatchOperations:
    return FakeBatchOperations(backend=backend, store=store, **options)


def _sent_ids(backend: FakeBackend) -> list[str]:
    return [record["custom_id"] for batch in backend.batches.values() for record in batch.records]


async def test_every_job_tags_its_request_ids_and_the_fingerprint_ignores_the_tag(
    backend: FakeBackend, store: Store
) -> None:
    ops = ops_for(backend, store)
    _, first = prepare(ops._jobs, REQUESTS, None)
    _, second = prepare(ops._jobs, REQUESTS, None)
    try:
        assert first.tag != second.tag
        assert len(first.tag) == TAG_LENGTH
        assert first.fingerprint == second.fingerprint
        ids = [custom_id for custom_id, _, _ in first.keys]
        assert ids == [key + first.tag for key in REQUESTS]
        assert first.chunk_paths[0].read_bytes().count(first.tag.encode()) == len(REQUESTS)
    finally:
        first.cleanup()
        second.cleanup()


async def test_keys_come_back_unchanged_and_the_vendor_sees_tagged_ids(
    backend: FakeBackend, store: Store
) -> None:
    results = await ops_for(backend, store).invoke(REQUESTS, status_check_interval=0)
    assert set(results) == set(REQUESTS)
    (job,) = store.list_jobs()
    tag = store.job_tag(job.job_id)
    assert sorted(_sent_ids(backend)) == sorted(key + tag for key in REQUESTS)


async def test_rerun_after_the_spool_was_lost_sends_the_jobs_own_ids(
    backend: FakeBackend, store: Store
) -> None:
    """A re-run's plan has a fresh tag: it is given the recorded job's before it is sent."""
    backend.fail_next("submit", RateLimitError("slow down", provider="fake", status_code=429))
    with pytest.raises(RateLimitError):
        await ops_for(backend, store).invoke(REQUESTS, status_check_interval=0)
    (job,) = store.list_jobs()
    store.discard_spool(job.job_id)  # as if the process died before spooling
    results = await ops_for(backend, store).invoke(REQUESTS, status_check_interval=0)
    assert [j.job_id for j in store.list_jobs()] == [job.job_id]  # re-attached
    assert all(output.ok for output in results.values()), results
    tag = store.job_tag(job.job_id)
    assert sorted(_sent_ids(backend)) == sorted(key + tag for key in REQUESTS)


async def test_a_resubmission_carries_its_own_tag(backend: FakeBackend, store: Store) -> None:
    requests = {**REQUESTS, "late": "run late [[lmbatch:expire]]"}
    results = await ops_for(backend, store).invoke(requests, status_check_interval=0, resubmit=1)
    assert results["late"].finish_details["lmbatch_round"] == 2
    parent, child = sorted(store.list_jobs(), key=lambda job: job.round)
    parent_tag, child_tag = store.job_tag(parent.job_id), store.job_tag(child.job_id)
    assert parent_tag
    assert child_tag not in ("", parent_tag)
    assert [cid for cid, _ in store.iter_keys(child.job_id)] == ["late" + child_tag]
    assert sorted(_sent_ids(backend)).count("late" + child_tag) == 1


async def test_an_adopted_batch_that_is_not_the_chunks_is_never_read(
    backend: FakeBackend, store: Store, tmp_path: Path
) -> None:
    """Results are only used once the batch's ids prove it the chunk's own."""
    other_store = JobStore(tmp_path / "other.sqlite3")  # another machine's store
    stranger = await ops_for(backend, other_store).create({k: f"not ours {k}" for k in REQUESTS})
    backend.fail_next("submit", SubmissionUncertainError("lost", provider="fake"))
    ops = ops_for(backend, store)
    with pytest.raises(SubmissionUncertainError):
        await ops.create(REQUESTS)
    (job,) = store.list_jobs()
    lmbatch.resolve(job.job_id, chunk=0, adopt=stranger, store=store)
    while not (await ops.status(job.job_id)).is_terminal:
        pass
    seen: list[str] = []

    async def read_all() -> None:
        async for key, _ in ops.iter_results(job.job_id):
            seen.append(key)

    with pytest.raises(BatchNotFinishedError, match="hold other requests"):
        await read_all()
    assert seen == []
    assert store.get_job(job.job_id).chunks[0].state == "planned"  # type: ignore[union-attr]
    with pytest.raises(BatchNotFoundError, match=job.job_id):
        await ops.retrieve(stranger)
    results = await lmbatch.resume(job.job_id, store=store, status_check_interval=0)
    assert {key: output.text for key, output in results.items()} == {
        key: f"echo: {prompt}" for key, prompt in REQUESTS.items()
    }


async def test_an_adopted_batch_that_is_the_chunks_is_verified_once(
    backend: FakeBackend, store: Store
) -> None:
    ops = ops_for(backend, store)
    original = ops.submit_batch

    async def made_then_lost(batch: Any) -> str:
        await original(batch)
        raise SubmissionUncertainError("lost", provider="fake")

    ops.submit_batch = made_then_lost  # type: ignore[method-assign]
    with pytest.raises(SubmissionUncertainError):
        await ops.create(REQUESTS)
    (job,) = store.list_jobs()
    results = await lmbatch.resume(job.job_id, store=store, status_check_interval=0)
    assert all(output.ok for output in results.values())
    assert backend.calls["submit"] == 1
    (batch_id,) = backend.batches
    assert store.adoption(job.job_id, 0) == (batch_id, True)


def test_vendor_date_headers_are_read_as_unix_time() -> None:
    assert parse_http_date("Mon, 30 Nov 2026 05:01:55 GMT") == 1796014915.0
    assert parse_http_date(None) is None
    assert parse_http_date("yesterday") is None


async def test_vendor_clock_falls_back_to_ours_when_it_cannot_be_read(
    backend: FakeBackend, store: Store
) -> None:
    ops = ops_for(backend, store)
    assert await vendor_offset(ops._jobs) is None  # the fake has no Date header

    async def broken() -> str:
        raise RateLimitError("busy", provider="fake", status_code=429)

    ops.vendor_date = broken  # type: ignore[method-assign]
    assert await vendor_offset(ops._jobs) is None

    async def skewed() -> str:
        return "Mon, 30 Nov 2026 05:01:55 GMT"

    ops.vendor_date = skewed  # type: ignore[method-assign]
    offset = await vendor_offset(ops._jobs)
    assert offset is not None
    assert ops._jobs.vendor_clock is not None
    assert ops._jobs.vendor_clock[0] == offset


def test_strip_job_tag_only_strips_a_tag() -> None:
    assert strip_job_tag("doc-1_lbabcdefghij") == "doc-1"
    assert strip_job_tag("doc-1") == "doc-1"
    assert strip_job_tag("doc-1_lbABCDEFGHIJ") == "doc-1_lbABCDEFGHIJ"


def test_spooled_chunks_hold_the_ids_of_the_key_map(backend: FakeBackend, store: Store) -> None:
    ops = ops_for(backend, store)
    _, plan = prepare(ops._jobs, REQUESTS, None)
    try:
        job, _ = record_job(ops._jobs, plan, lmbatch.Hyperparameters())
    finally:
        plan.cleanup()
    spooled = store.spool_fetch(job.job_id, 0)
    ids = [json.loads(line)["custom_id"] for line in spooled.read_bytes().splitlines()]
    assert ids == [custom_id for custom_id, _ in store.iter_keys(job.job_id)]


class _SelfFinding(FakeBatchOperations):
    """A provider that finds its own batches (a plugin overriding find_submitted_batch)."""

    answer: str | None = None

    async def find_submitted_batch(self, batch: Any) -> str | None:
        return self.answer


async def test_a_providers_own_search_is_held_to_the_same_rules(
    backend: FakeBackend, store: Store
) -> None:
    ops = _SelfFinding(backend=backend, store=store)
    held = await ops.create({"other": "job"})
    backend.fail_next("submit", SubmissionUncertainError("lost", provider="fake"))
    with pytest.raises(SubmissionUncertainError):
        await ops.create(REQUESTS)
    job = next(j for j in store.list_jobs() if j.chunks[0].batch_id is None)
    ops.answer = held  # a batch the store holds for another job: refused, not guessed
    with pytest.raises(SubmissionAmbiguousError, match="--chunk 0 --not-created"):
        await reconcile_chunks(ops._jobs, job, [0])
    ops.answer = None
    await reconcile_chunks(ops._jobs, job, [0])
    assert store.get_job(job.job_id).chunks[0].state == "planned"  # type: ignore[union-attr]
