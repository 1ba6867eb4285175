"""Vendor batch queue limits (issue 18 part 4), with the fake provider, on both stores.

A provider declares what its vendor lets wait in the batch queue (``queue_limits``), the
user overrides it (``queue_limit_tokens`` / ``queue_limit_requests``); chunks are planned
within it, reserve room in the job store before they are sent, wait unsent when there is
none, and a batch the vendor fails for a full queue is queued again instead of costing a
resubmission round.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

import lmbatch
from lmbatch import BatchTimeoutError, ConfigError, ValidationError
from lmbatch._enqueued import line_tokens
from lmbatch._jobs._queue import MAX_QUEUE_REFUSALS, jobs_queue, queue_for
from lmbatch._store_contract import Store, open_store
from lmbatch.provider import BatchError, QueueLimit
from lmbatch.testing import FakeBackend, FakeBatchOperations

REQUESTS = {f"key {i}": f"prompt number {i}" for i in range(12)}
QUEUE_FULL: BatchError = {
    "code": "token_limit_exceeded",
    "message": "Enqueued token limit reached for fake-model in organization org-x. "
    "Limit: 1,000,000 enqueued tokens. Please try again once some in_progress batches "
    "have been completed.",
    "line": None,
    "param": None,
    "transient": True,
}


class QueueingFake(FakeBatchOperations):
    """The fake vendor, failing batches over its queue with ``token_limit_exceeded``."""

    queue_full_codes: ClassVar[frozenset[str]] = frozenset({"token_limit_exceeded"})


class DeclaringFake(FakeBatchOperations):
    """A fake vendor that declares queue limits by model."""

    queue_limits: ClassVar[dict[str, QueueLimit]] = {
        "gpt-*": QueueLimit(tokens=1_000),
        "gpt-4o*": QueueLimit(tokens=500),
        "claude-*": QueueLimit(requests=100, per_model=False),
    }


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A new job store, once per backend (SQLite, PostgreSQL)."""
    opened = open_store(store_url)
    yield opened
    opened.close()


def running_requests(backend: FakeBackend) -> int:
    """Requests in the fake vendor's batches that have not ended."""
    return sum(len(b.records) for b in backend.batches.values() if b.state != "ended")


def spy_on_submissions(ops: FakeBatchOperations, seen: list[tuple[int, int]]) -> None:
    """Record (requests already running, requests of the new batch) at every create."""
    original = ops.submit_batch

    async def spy(batch: Any) -> str:
        seen.append((running_requests(ops.backend), batch.request_count))
        return await original(batch)

    ops.submit_batch = spy  # type: ignore[method-assign]


# -- declarations and settings ------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"queue_limit_tokens": -1}, "queue_limit_tokens"),
        ({"queue_limit_tokens": "lots"}, "queue_limit_tokens"),
        ({"queue_limit_requests": {"fake-model": -5}}, "queue_limit_requests"),
        ({"queue_limit_requests": 1.5}, "queue_limit_requests"),
    ],
)
def test_a_bad_queue_limit_is_a_config_error_naming_the_option(
    options: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        lmbatch.get_batch_operations("fake", store=":memory:", **options)


def test_lmbatch_toml_sets_queue_limits_per_provider_and_per_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("LMBATCH_PROVIDER", "LMBATCH_MODEL", "LMBATCH_CONFIG", "LMBATCH_STORE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lmbatch.toml").write_text(
        'provider = "fake"\nstore = ":memory:"\n'
        "[providers.fake]\nqueue_limit_tokens = 2_000_000\n"
        '[providers.fake.queue_limit_requests]\n"fake-model" = 300\n"other-*" = 7\n'
    )
    ops = lmbatch.get_batch_operations()
    queue = queue_for(ops, "fake-model")
    assert queue is not None
    assert (queue.limit.tokens, queue.limit.requests) == (2_000_000, 300)
    other = queue_for(ops, "other-model")
    assert other is not None
    assert (other.limit.tokens, other.limit.requests) == (2_000_000, 7)


def test_declared_limits_go_by_model_and_options_override_them() -> None:
    ops = DeclaringFake(store=":memory:")
    assert queue_for(ops, "gpt-4o-mini").limit.tokens == 500  # type: ignore[union-attr]
    assert queue_for(ops, "gpt-4.1").limit.tokens == 1_000  # type: ignore[union-attr]
    assert queue_for(ops, "mistral-large") is None  # nothing declared: unlimited
    shared = queue_for(ops, "claude-sonnet-4-5")
    other = queue_for(ops, "claude-haiku-4-5")
    assert shared is not None
    assert other is not None
    assert shared.name == other.name  # one queue for every model
    assert shared.limit.requests == 100
    assert queue_for(ops, "gpt-4o").name != queue_for(ops, "gpt-4.1").name  # type: ignore[union-attr]
    raised = DeclaringFake(store=":memory:", queue_limit_tokens={"gpt-4o*": 9_000})
    assert queue_for(raised, "gpt-4o-mini").limit.tokens == 9_000  # type: ignore[union-attr]
    assert queue_for(raised, "gpt-4.1").limit.tokens == 1_000  # type: ignore[union-attr]
    lifted = DeclaringFake(store=":memory:", queue_limit_tokens=0)  # 0: no limit
    assert queue_for(lifted, "gpt-4o-mini") is None


# -- planning ---------------------------------------------------------------------------


async def test_chunks_are_planned_within_the_queue_limit(
    backend: FakeBackend, store: Store
) -> None:
    one = line_tokens(b'{"custom_id":"x","messages":[{"role":"user","contents":["prompt"]}]}')
    cap = 4 * one
    # create() sends every chunk, waiting for room as batches end (checked at once here).
    wait = {"in_flight_check_interval": 0}
    ops = FakeBatchOperations(backend=backend, store=store, queue_limit_tokens=cap, **wait)
    job_id = await ops.create(REQUESTS)
    job = store.get_job(job_id)
    assert job is not None
    assert len(job.chunks) > 1
    for chunk in job.chunks:
        tokens = sum(
            line_tokens(line)
            for line in store.spool_fetch(job_id, chunk.index).read_bytes().splitlines()
        )
        assert tokens <= cap
    by_requests = FakeBatchOperations(backend=backend, store=store, queue_limit_requests=5, **wait)
    job = store.get_job(await by_requests.create({f"r{i}": "x" for i in range(12)}))
    assert job is not None
    assert [c.request_count for c in job.chunks] == [5, 5, 2]


async def test_a_request_larger_than_the_queue_is_refused_before_anything_is_sent(
    backend: FakeBackend, store: Store
) -> None:
    ops = FakeBatchOperations(backend=backend, store=store, queue_limit_tokens=50)
    with pytest.raises(ValidationError, match="queue_limit_tokens") as refused:
        await ops.invoke({"small": "hi", "huge": "word " * 200})
    assert refused.value.key == "huge"
    assert backend.calls["submit"] == 0
    assert store.list_jobs() == []


# -- scheduling -------------------------------------------------------------------------


async def test_chunks_wait_unsent_for_room_in_the_queue(backend: FakeBackend, store: Store) -> None:
    ops = FakeBatchOperations(
        backend=backend,
        store=store,
        queue_limit_requests=4,
        max_requests_per_batch=2,
        polls_until_done=3,
        in_flight_check_interval=0,
    )
    seen: list[tuple[int, int]] = []
    spy_on_submissions(ops, seen)
    rounds: list[Any] = []
    results = await ops.invoke(REQUESTS, status_check_interval=0, on_resubmit=rounds.append)
    assert all(output.ok for output in results.values())
    assert len(seen) == 6  # every chunk sent once
    assert all(running + new <= 4 for running, new in seen), seen
    assert max(running for running, _ in seen) == 2  # the queue was used, not serialised
    assert rounds == []
    assert store.queue_entries(queue_for(ops, "fake-model").name) == []  # type: ignore[union-attr]


async def test_two_operations_on_one_store_never_exceed_the_cap_together(
    backend: FakeBackend, store_url: str
) -> None:
    """Two callers (two connections to one store, as two processes have) share the cap."""
    stores = [open_store(store_url), open_store(store_url)]
    seen: list[tuple[int, int]] = []
    ops = []
    for opened in stores:
        made = FakeBatchOperations(
            backend=backend,
            store=opened,
            queue_limit_requests=3,
            max_requests_per_batch=3,
            polls_until_done=2,
            in_flight_check_interval=0,
        )
        spy_on_submissions(made, seen)
        ops.append(made)
    try:
        first, second = await asyncio.gather(
            ops[0].invoke({f"a{i}": f"first {i}" for i in range(9)}, status_check_interval=0),
            ops[1].invoke({f"b{i}": f"second {i}" for i in range(9)}, status_check_interval=0),
        )
    finally:
        for opened in stores:
            opened.close()
    assert all(o.ok for o in [*first.values(), *second.values()])
    assert len(seen) == 6
    assert all(running + new <= 3 for running, new in seen), seen


async def test_waiting_for_room_keeps_the_callers_timeout(
    backend: FakeBackend, store: Store
) -> None:
    ops = FakeBatchOperations(
        backend=backend,
        store=store,
        queue_limit_requests=2,
        max_requests_per_batch=2,
        polls_until_done=10_000,
        in_flight_check_interval=0.05,
    )
    with pytest.raises(BatchTimeoutError):
        await ops.invoke({f"k{i}": "x" for i in range(4)}, status_check_interval=0, timeout=0.5)
    assert backend.calls["submit"] == 1  # the second chunk was never sent
    job = store.list_jobs()[0]
    assert [c.state for c in job.chunks] == ["submitted", "planned"]


# -- a batch the vendor fails for its full queue ----------------------------------------------


async def test_a_batch_failed_for_a_full_queue_is_queued_again_not_resubmitted(
    backend: FakeBackend, store: Store
) -> None:
    """Before: the keys came back failed (``resubmit=0``) or cost a resubmission round."""
    backend.script_next_batch(fail_with=[QUEUE_FULL])
    ops = QueueingFake(backend=backend, store=store, in_flight_check_interval=0)
    rounds: list[Any] = []
    results = await ops.invoke(
        REQUESTS, status_check_interval=0, on_resubmit=rounds.append, resubmit=0
    )
    assert all(output.ok for output in results.values())
    assert all("lmbatch_round" not in output.finish_details for output in results.values())
    assert rounds == []
    assert backend.calls["submit"] == 2
    (job,) = store.list_jobs()
    refused = next(b for b in backend.batches.values() if b.script.fail_with)
    assert job.chunks[0].batch_id != refused.id
    # The refused batch is never taken for the chunk again (reconciliation skips it).
    assert store.is_foreign(job.job_id, 0, refused.id)
    # What the refusal said the limit is holds for this caller's next chunks.
    queue = queue_for(ops, "fake-model")
    assert queue is None  # (nothing declared: the learned limit is the caller's own)

    learned = jobs_queue(ops._jobs, "fake-model")
    assert learned is not None
    assert learned.limit.tokens == 1_000_000


async def test_a_chunk_refused_too_often_keeps_its_failure(
    backend: FakeBackend, store: Store
) -> None:
    for _ in range(MAX_QUEUE_REFUSALS + 1):
        backend.script_next_batch(fail_with=[QUEUE_FULL])
    ops = QueueingFake(backend=backend, store=store, in_flight_check_interval=0)
    results = await ops.invoke({"q": "hi"}, status_check_interval=0, resubmit=0)
    error = results["q"].error
    assert error is not None
    assert error.code == "token_limit_exceeded"
    assert backend.calls["submit"] == MAX_QUEUE_REFUSALS + 1


# -- the store contract -------------------------------------------------------------------


def test_reservations_hold_the_limit_across_connections(store_url: str) -> None:
    first, second = open_store(store_url), open_store(store_url)
    try:
        limits = {"max_tokens": 100, "max_requests": None}
        a = first.reserve_queue("q", "job-a", 0, tokens=60, requests=1, **limits)
        assert a is not None
        assert second.reserve_queue("q", "job-b", 0, tokens=50, requests=1, **limits) is None
        assert second.reserve_queue("other", "job-b", 0, tokens=50, requests=1, **limits)
        assert [e.job_id for e in second.queue_entries("q")] == ["job-a"]
        # A reservation of the same chunk replaces its earlier one.
        again = second.reserve_queue("q", "job-a", 0, tokens=90, requests=1, **limits)
        assert again is not None
        assert [e.tokens for e in first.queue_entries("q")] == [90]
        first.release_queue("job-a", 0, a.reserved_at)  # an older reservation: kept
        assert len(first.queue_entries("q")) == 1
        first.release_queue("job-a", 0)
        assert first.queue_entries("q") == []
        # Alone in its queue, a chunk larger than the limit still fits (never stuck).
        assert first.reserve_queue("q", "job-c", 0, tokens=500, requests=1, **limits)
        assert second.reserve_queue("q", "job-d", 0, tokens=1, requests=1, **limits) is None
        by_requests = {"max_tokens": None, "max_requests": 2}
        assert first.reserve_queue("r", "job-e", 0, tokens=9, requests=2, **by_requests)
        assert second.reserve_queue("r", "job-e", 1, tokens=9, requests=1, **by_requests) is None
    finally:
        first.close()
        second.close()


def test_concurrent_reservations_never_exceed_the_limit(store_url: str) -> None:
    """Eight threads, each with its own connection, race to fill one queue."""
    opened = [open_store(store_url) for _ in range(8)]
    start = threading.Barrier(len(opened))

    def fill(worker: int) -> None:
        start.wait()
        for chunk in range(10):
            opened[worker].reserve_queue(
                "race", f"job-{worker}", chunk, tokens=30, requests=1, max_tokens=100,
                max_requests=None,
            )  # fmt: skip

    threads = [threading.Thread(target=fill, args=(i,)) for i in range(len(opened))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        entries = opened[0].queue_entries("race")
        assert sum(e.tokens for e in entries) <= 100
        assert len(entries) == 3
    finally:
        for each in opened:
            each.close()


def test_enqueued_tokens_are_estimated_on_the_high_side() -> None:
    text = "the quick brown fox " * 50  # 1,000 characters: ~250 tokens by any tokenizer
    line = (
        b'{"custom_id":"k_lbabc","method":"POST","url":"/v1/responses","body":{"model":'
        b'"gpt-4.1-mini","input":[{"role":"user","content":"' + text.encode() + b'"}]}}'
    )
    estimate = line_tokens(line)
    assert 250 < estimate < 400  # one token per 3 bytes of text, ids and model left out
    image = b"data:image/png;base64," + b"A" * 400_000
    part = b'"},{"type":"input_image","image_url":"' + image + b'"}]}}'
    added = line_tokens(line.replace(b'"}]}}', part)) - estimate
    assert 1_600 <= added < 1_610  # an image as the estimator counts one, not by its bytes
    pdf = '{"body":{"source":{"media_type":"application/pdf","data":"%s"}}}' % ("A" * 40_960)
    # framing, the media type as text, and 30 KB of PDF at 60 tokens a KB
    assert line_tokens(pdf.encode()) == 3 + 5 + 60 * 30
