"""The work queue in the job store, on both backends: leases, heartbeats, kept results."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from lmbatch import open_store
from lmbatch._jobs._claims import owner_alive
from lmbatch._store import ChunkRecord
from lmbatch._store_contract import Store


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()


def _record(store: Store, job_id: str, provider: str = "openai") -> None:
    store.create_job(
        job_id=job_id,
        provider=provider,
        model="m",
        fingerprint=f"fp-{job_id}",
        request_count=1,
        context={},
        chunk_sizes=[1],
        keys=[(f"{job_id}-c0", "k0", 0)],
    )


def test_a_queued_job_goes_to_one_worker_while_its_lease_runs(store: Store) -> None:
    _record(store, "j1")
    assert store.queue_job("j1", {"resubmit": 2})
    assert not store.queue_job("j1", {"resubmit": 0})  # queued once
    assert store.queued_job("j1").state == "pending"  # type: ignore[union-attr]
    assert store.claim_queued_job("w1", 60) == "j1"
    assert store.claim_queued_job("w2", 60) is None
    queued = store.queued_job("j1")
    assert queued is not None
    assert (queued.state, queued.owner, queued.claims) == ("running", "w1", 1)
    assert queued.settings == {"resubmit": 2}


def test_an_expired_lease_is_taken_over_and_the_old_owner_loses_it(store: Store) -> None:
    _record(store, "j1")
    store.queue_job("j1", {})
    assert store.claim_queued_job("w1", 0.2) == "j1"
    time.sleep(0.3)
    assert store.claim_queued_job("w2", 60) == "j1"
    assert store.renew_claims("w1", 60) == []  # w1 learns it lost the job
    assert store.renew_claims("w2", 60) == ["j1"]
    assert not store.finish_queued_job("j1", "w1", {"state": "done"})
    assert store.finish_queued_job("j1", "w2", {"state": "done", "outcomes": 1})
    assert store.claim_queued_job("w3", 60) is None  # finished: nobody takes it again
    assert store.queued_job("j1").state == "done"  # type: ignore[union-attr]
    assert store.queued_jobs() == []
    assert [q.job_id for q in store.queued_jobs(open_only=False)] == ["j1"]


def test_heartbeats_keep_a_lease(store: Store) -> None:
    _record(store, "j1")
    store.queue_job("j1", {})
    assert store.claim_queued_job("w1", 0.4) == "j1"
    for _ in range(3):
        time.sleep(0.2)
        assert store.renew_claims("w1", 0.4) == ["j1"]
    assert store.claim_queued_job("w2", 60) is None


def test_filters_release_and_retry_delay(store: Store) -> None:
    _record(store, "j1", provider="openai")
    _record(store, "j2", provider="anthropic")
    store.queue_job("j1", {})
    store.queue_job("j2", {})
    assert store.claim_queued_job("w1", 60, provider="anthropic") == "j2"
    assert store.claim_queued_job("w1", 60, job_ids=["j2"]) is None
    assert store.claim_queued_job("w1", 60, skip=["j1"]) is None
    assert store.claim_queued_job("w1", 60) == "j1"
    store.release_queued_job("j1", "w1")
    assert store.queued_job("j1").state == "pending"  # type: ignore[union-attr]
    assert store.claim_queued_job("w2", 60) == "j1"
    store.release_queued_job("j1", "w2", retry_after=60, error="boom")
    assert store.claim_queued_job("w3", 60) is None  # not before the retry delay
    queued = store.queued_job("j1")
    assert queued is not None
    assert (queued.failures, queued.last_error, queued.owner) == (1, "boom", None)
    assert [q.job_id for q in store.queued_jobs(provider="openai")] == ["j1"]


def test_a_retired_worker_releases_its_jobs(store: Store) -> None:
    _record(store, "j1")
    store.queue_job("j1", {})
    store.register_worker("w1", 60, {"host": "a"})
    assert store.worker_alive("w1") is True
    assert store.claim_queued_job("w1", 60) == "j1"
    store.retire_worker("w1")
    assert store.worker_alive("w1") is None
    assert store.claim_queued_job("w2", 60) == "j1"


def test_a_chunk_claimed_by_a_worker_on_another_machine_is_abandoned_when_its_heartbeat_lapses(
    store: Store,
) -> None:
    owner = "another-machine:4242"
    chunk = ChunkRecord(0, 1, "submitting", None, owner=owner, updated_at=time.time())
    # Another machine's process: trusted for OWNER_LEASE_SECONDS, unless it is a worker.
    assert owner_alive("j1", chunk, store)
    store.register_worker(owner, 0.2, {})
    assert owner_alive("j1", chunk, store)
    time.sleep(0.3)
    assert not owner_alive("j1", chunk, store)


def test_kept_results_are_replaced_key_by_key_and_read_in_pages(store: Store) -> None:
    rows = [(f"key-{i:05d}", f'{{"n": {i}}}') for i in range(2500)]
    assert store.save_results("j1", rows) == 2500
    assert store.save_results("j1", [("key-00001", '{"n": "again"}')]) == 1
    kept = list(store.iter_saved_results("j1"))
    assert len(kept) == 2500
    assert kept[1] == ("key-00001", '{"n": "again"}')
    assert [key for key, _ in kept] == sorted(key for key, _ in rows)
    assert list(store.iter_saved_results("other")) == []
