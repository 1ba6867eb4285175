"""Durability with the fake provider: re-attach, resume, reconcile, resubmit."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import lmbatch
from lmbatch import (
    BatchNotFoundError,
    JobStore,
    ProviderRequestError,
    RateLimitError,
    StoreError,
    SubmissionUncertainError,
)
from lmbatch._jobs import _invocation, _recording
from lmbatch._jobs._poll_policy import PollPolicy, Waiting
from lmbatch._jobs._resubmission import child_job
from lmbatch._jobs._resubmit_policy import should_resubmit
from lmbatch._outputs import LMOutput
from lmbatch._store_contract import Store, open_store
from lmbatch.provider import BatchError
from lmbatch.testing import FakeBackend, FakeBatchOperations


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A new job store, once per backend (SQLite, PostgreSQL)."""
    opened = open_store(store_url)
    yield opened
    opened.close()


def ops_for(backend: FakeBackend, store: JobStore, **options: Any) -> FakeBatchOperations:
    return FakeBatchOperations(backend=backend, store=store, **options)


REQUESTS = {f"key {i}": f"prompt {i}" for i in range(7)}


async def test_same_invoke_twice_reattaches_instead_of_paying_twice(
    backend: FakeBackend, store: JobStore
) -> None:
    first = await ops_for(backend, store).invoke(REQUESTS, status_check_interval=0)
    second = await ops_for(backend, store).invoke(REQUESTS, status_check_interval=0)
    assert first == second
    assert backend.calls["submit"] == 1
    assert max(backend.submissions.values()) == 1


async def test_reuse_false_submits_again(backend: FakeBackend, store: JobStore) -> None:
    await ops_for(backend, store).invoke(REQUESTS, status_check_interval=0)
    await ops_for(backend, store).invoke(REQUESTS, status_check_interval=0, reuse=False)
    assert backend.calls["submit"] == 2


async def test_different_settings_are_a_different_job(
    backend: FakeBackend, store: JobStore
) -> None:
    await ops_for(backend, store).invoke(REQUESTS, status_check_interval=0)
    await ops_for(backend, store).invoke(REQUESTS, {"temperature": 0.1}, status_check_interval=0)
    assert backend.calls["submit"] == 2


async def test_rerun_after_partial_submission_submits_only_the_rest(
    backend: FakeBackend, store: JobStore
) -> None:
    ops = ops_for(backend, store, max_requests_per_batch=3, max_concurrent_submissions=1)
    backend.fail_next("submit", ProviderRequestError("quota", provider="fake", status_code=400))
    with pytest.raises(ProviderRequestError):
        await ops.invoke(REQUESTS, status_check_interval=0)
    assert backend.calls["submit"] == 3  # chunk 0 refused, chunks 1 and 2 created
    results = await ops_for(backend, store, max_requests_per_batch=3).invoke(
        REQUESTS, status_check_interval=0
    )
    assert set(results) == set(REQUESTS)
    assert all(output.ok for output in results.values())
    assert backend.calls["submit"] == 4
    assert sorted(backend.submissions.values()) == [1] * 7


async def test_uncertain_create_is_reconciled_not_repeated(
    backend: FakeBackend, store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The vendor made the batch but the client saw an error: a re-run finds it."""
    ops = ops_for(backend, store)
    original = ops.submit_batch

    async def created_then_failed(batch: Any) -> str:
        await original(batch)
        raise SubmissionUncertainError("500 after the batch was made", provider="fake")

    monkeypatch.setattr(ops, "submit_batch", created_then_failed)
    with pytest.raises(SubmissionUncertainError):
        await ops.invoke(REQUESTS, status_check_interval=0)
    assert backend.calls["submit"] == 1
    results = await ops_for(backend, store).invoke(REQUESTS, status_check_interval=0)
    assert all(output.ok for output in results.values())
    assert backend.calls["submit"] == 1
    assert max(backend.submissions.values()) == 1


async def test_uncertain_create_that_made_nothing_is_submitted_on_rerun(
    backend: FakeBackend, store: JobStore
) -> None:
    ops = ops_for(backend, store)
    backend.fail_next("submit", SubmissionUncertainError("timeout", provider="fake"))
    with pytest.raises(SubmissionUncertainError):
        await ops.invoke(REQUESTS, status_check_interval=0)
    results = await ops_for(backend, store).invoke(REQUESTS, status_check_interval=0)
    assert all(output.ok for output in results.values())
    assert sorted(backend.submissions.values()) == [1] * 7


async def test_resume_from_the_store_alone(
    backend: FakeBackend, store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops = ops_for(backend, store, max_requests_per_batch=4, max_concurrent_submissions=1)
    backend.fail_next("submit", RateLimitError("slow down", provider="fake", status_code=429))
    with pytest.raises(RateLimitError) as caught:
        await ops.create(REQUESTS)
    job_id = store.list_jobs()[0].job_id
    assert job_id in " ".join(caught.value.__notes__)
    # A new process knows only the job id and the store.
    monkeypatch.setattr("lmbatch.testing._fake.default_backend", backend)
    results = await lmbatch.resume(job_id, store=store, status_check_interval=0)
    assert set(results) == set(REQUESTS)
    assert all(output.ok for output in results.values())
    assert sorted(backend.submissions.values()) == [1] * 7
    assert not store.spool_dir(job_id).exists()


async def test_resume_announces_each_resubmission_round(
    backend: FakeBackend, store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops = ops_for(backend, store)
    requests = {"fine": "hello", "late": "x [[lmbatch:expire]]"}
    backend.fail_next("submit", RateLimitError("slow down", provider="fake", status_code=429))
    with pytest.raises(RateLimitError):
        await ops.create(requests)
    job_id = store.list_jobs()[0].job_id
    monkeypatch.setattr("lmbatch.testing._fake.default_backend", backend)
    rounds: list[lmbatch.ResubmissionRound] = []
    results = await lmbatch.resume(
        job_id, store=store, status_check_interval=0, resubmit=1, on_resubmit=rounds.append
    )
    assert results["late"].error is not None  # expired again in round 2
    (resubmitted,) = rounds
    assert resubmitted["round"] == 2
    assert resubmitted["parent_job_id"] == job_id
    assert resubmitted["requests"] == 1
    assert resubmitted["reasons"] == {"expired": 1}


async def test_resume_of_unknown_job(store: JobStore) -> None:
    with pytest.raises(BatchNotFoundError):
        await lmbatch.resume("lmbjob_nope", store=store)


async def test_expired_requests_are_resubmitted_and_rounds_reported(
    backend: FakeBackend, store: JobStore
) -> None:
    backend.script_next_batch(expire=True, finished_before_expiry=3)
    results = await ops_for(backend, store).invoke(REQUESTS, status_check_interval=0)
    assert all(output.ok for output in results.values())
    rounds = sorted(output.finish_details.get("lmbatch_round", 1) for output in results.values())
    assert rounds == [1, 1, 1, 2, 2, 2, 2]
    assert backend.calls["submit"] == 2
    job = store.list_jobs()[-1]
    assert [child.round for child in store.child_jobs(job.job_id)] == [2]


async def test_resubmission_is_bounded(backend: FakeBackend, store: JobStore) -> None:
    results = await ops_for(backend, store).invoke(
        {"stubborn": "x [[lmbatch:error=503]]", "fine": "y"}, status_check_interval=0
    )
    assert results["fine"].ok
    assert results["stubborn"].error is not None
    assert results["stubborn"].finish_details["lmbatch_round"] == 3
    assert backend.submissions["stubborn"] == 3
    assert backend.submissions["fine"] == 1


async def test_permanent_and_cancelled_errors_are_not_resubmitted(
    backend: FakeBackend, store: JobStore
) -> None:
    results = await ops_for(backend, store).invoke(
        {"bad": "x [[lmbatch:error=400]]"}, status_check_interval=0
    )
    assert results["bad"].error is not None
    assert backend.submissions["bad"] == 1


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (LMOutput.failure("expired"), True),
        (LMOutput.failure("missing"), True),
        (LMOutput.failure("errored", status_code=429), True),
        (LMOutput.failure("errored", status_code=503), True),
        (LMOutput.failure("errored", status_code=408), True),
        # A vendor's "try again later" codes: the provider's decoder flags them.
        (LMOutput.failure("errored", code="overloaded_error", transient=True), True),
        (LMOutput.failure("errored", code="token_limit_exceeded", transient=True), True),
        # Core knows no vendor code: an unflagged code without a status is permanent.
        (LMOutput.failure("errored", code="overloaded_error"), False),
        (LMOutput.failure("errored", status_code=503, transient=False), False),
        (LMOutput.failure("errored", status_code=400, code="invalid_request_error"), False),
        (LMOutput.failure("cancelled"), False),
        (LMOutput.failure("invalid_response"), False),
        (LMOutput(), False),
    ],
)
def test_which_outcomes_are_resubmitted(output: LMOutput, expected: bool) -> None:
    assert should_resubmit(output) is expected


async def test_token_limit_failure_is_resubmitted(backend: FakeBackend, store: JobStore) -> None:
    # The provider flags the batch error transient (OpenAI does for token_limit_exceeded).
    error: BatchError = {
        "code": "token_limit_exceeded",
        "message": "queue full",
        "line": None,
        "param": None,
        "transient": True,
    }
    backend.script_next_batch(fail_with=[error])
    results = await ops_for(backend, store).invoke(REQUESTS, status_check_interval=0)
    assert all(output.ok for output in results.values())
    assert backend.calls["submit"] == 2


async def test_two_runners_of_one_job_submit_it_once(backend: FakeBackend, tmp_path: Path) -> None:
    """Two invocations at once, each with its own connection to one store file."""
    import asyncio

    path = tmp_path / "shared.sqlite3"

    async def runner() -> dict[str, LMOutput]:
        ops = FakeBatchOperations(backend=backend, store=JobStore(path), max_requests_per_batch=2)
        return await ops.invoke(REQUESTS, status_check_interval=0)

    first, second = await asyncio.gather(runner(), runner())
    assert first.keys() == second.keys() == REQUESTS.keys()
    assert sorted(backend.submissions.values()) == [1] * 7
    assert backend.calls["submit"] == 4


async def test_batches_in_flight_are_capped(backend: FakeBackend, store: JobStore) -> None:
    ops = ops_for(
        backend,
        store,
        max_requests_per_batch=2,
        max_batches_in_flight=2,
        in_flight_check_interval=0,
        polls_until_done=3,
    )
    running_at_submit: list[int] = []
    original = ops.submit_batch

    async def spy(batch: Any) -> str:
        running_at_submit.append(sum(1 for b in backend.batches.values() if b.state != "ended"))
        return await original(batch)

    ops.submit_batch = spy  # type: ignore[method-assign]
    results = await ops.invoke(REQUESTS, status_check_interval=0)
    assert all(output.ok for output in results.values())
    assert len(running_at_submit) == 4
    assert max(running_at_submit) < 2


async def test_info_reports_the_rounds(backend: FakeBackend, store: JobStore) -> None:
    backend.script_next_batch(expire=True, finished_before_expiry=5)
    ops = ops_for(backend, store)
    await ops.invoke(REQUESTS, status_check_interval=0)
    first = store.list_jobs()[-1]
    info = await ops.info(first.job_id)
    assert [(r["round"], r["requests"]) for r in info["rounds"]] == [(1, 7), (2, 2)]


async def test_on_submitted_tells_created_or_reattached(
    backend: FakeBackend, store: JobStore
) -> None:
    seen: list[tuple[str, bool]] = []
    await ops_for(backend, store).invoke(
        REQUESTS, status_check_interval=0, on_submitted=lambda i, c: seen.append((i, c))
    )
    await ops_for(backend, store).invoke(
        REQUESTS, status_check_interval=0, on_submitted=lambda i, c: seen.append((i, c))
    )
    assert [created for _, created in seen] == [True, False]
    assert seen[0][0] == seen[1][0]


async def test_reuse_window_in_seconds(backend: FakeBackend, store: JobStore) -> None:
    await ops_for(backend, store).invoke(REQUESTS, status_check_interval=0)
    await ops_for(backend, store).invoke(REQUESTS, status_check_interval=0, reuse=3600)
    assert backend.calls["submit"] == 1
    # A window shorter than the job's age does not re-attach.
    await ops_for(backend, store).invoke(REQUESTS, status_check_interval=0, reuse=0)
    assert backend.calls["submit"] == 2
    with pytest.raises(lmbatch.ValidationError, match="reuse"):
        await ops_for(backend, store).invoke(REQUESTS, status_check_interval=0, reuse=-1)


# -- a full disk while planning or spooling leaves nothing behind ---------------------------


def _no_space(*args: Any, **kwargs: Any) -> Any:
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("where", ["writing-a-line", "closing-the-files"])
async def test_full_disk_while_planning_is_a_store_error_and_leaves_no_plan_folder(
    backend: FakeBackend, store: JobStore, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    from lmbatch._planning import _ChunkWriter

    if where == "writing-a-line":
        original_add = _ChunkWriter.add
        lines = iter(range(100))

        def add(self: _ChunkWriter, *args: Any) -> None:
            if next(lines) == 3:
                _no_space()
            original_add(self, *args)

        monkeypatch.setattr(_ChunkWriter, "add", add)
    else:
        monkeypatch.setattr(_ChunkWriter, "plan", _no_space)  # the buffered flush at close
    with pytest.raises(StoreError) as caught:
        await ops_for(backend, store).invoke(REQUESTS, status_check_interval=0)
    spool = store.spool_dir()
    assert caught.value.path == str(spool)
    assert str(spool) in str(caught.value)
    assert "No space left on device" in str(caught.value)
    assert list(spool.iterdir()) == []
    assert store.list_jobs() == []
    assert backend.calls["submit"] == 0


async def test_full_disk_while_spooling_a_job_records_no_half_written_job(
    backend: FakeBackend, store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_recording, "spool_plan", _no_space)
    with pytest.raises(StoreError, match="No space left on device"):
        await ops_for(backend, store).create(REQUESTS)
    assert store.list_jobs() == []
    assert list(store.spool_dir().iterdir()) == []
    assert backend.calls["submit"] == 0
    monkeypatch.undo()
    results = await ops_for(backend, store).invoke(REQUESTS, status_check_interval=0)
    assert all(output.ok for output in results.values())


def _leave_a_plan_folder_in_a_process_that_dies(root: Path) -> None:
    code = (
        "import os, sys\nfrom pathlib import Path\n"
        "from lmbatch._planning import _new_plan_directory\n"
        "_new_plan_directory(Path(sys.argv[1]))\nos._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(root)], check=True, timeout=60)


async def test_plan_folders_left_by_dead_processes_are_removed_by_a_later_run(
    backend: FakeBackend, store: JobStore
) -> None:
    from lmbatch._planning import _new_plan_directory

    root = store.spool_dir()
    planning_now = _new_plan_directory(root)  # a live process (this one) planning
    _leave_a_plan_folder_in_a_process_that_dies(root)
    two_days_ago = time.time() - 2 * 24 * 3600
    for name in ("plan-0ld5tale", "lmbjob_of_another_run"):
        (root / name).mkdir()
        os.utime(root / name, (two_days_ago, two_days_ago))
    (root / "plan-fr3sh000").mkdir()  # owner unknown, but recent: maybe still planning
    assert len([p for p in root.iterdir() if p.name.startswith("plan-")]) == 4

    await ops_for(backend, store).invoke(REQUESTS, status_check_interval=0)
    assert sorted(p.name for p in root.iterdir()) == sorted(
        ["lmbjob_of_another_run", "plan-fr3sh000", planning_now.name]
    )


# ------------------------------------------------------------ invoke_iter (streamed)

MIXED = {
    **REQUESTS,
    "stubborn": "x [[lmbatch:error=503]]",
    "bad": "y [[lmbatch:error=400]]",
}


def _outcomes(pairs: list[tuple[str, LMOutput]]) -> dict[str, tuple[str, Any]]:
    """``key → (ok or error kind, round)``; fails on a key given twice."""
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), "a key was yielded twice"
    return {
        key: (
            "ok" if output.error is None else output.error.kind,
            output.finish_details.get("lmbatch_round", 1),
        )
        for key, output in pairs
    }


async def _streamed(ops: FakeBatchOperations, **kwargs: Any) -> list[tuple[str, LMOutput]]:
    return [pair async for pair in ops.invoke_iter(MIXED, status_check_interval=0, **kwargs)]


async def test_invoke_iter_yields_each_final_outcome_once_like_invoke(
    backend: FakeBackend, store: JobStore, tmp_path: Path
) -> None:
    # Round 1: 3 of 9 finish, the rest expire; round 2 finishes the expired ones but
    # "stubborn" fails with a 503 again; round 3 is its last.
    backend.script_next_batch(expire=True, finished_before_expiry=3)
    streamed = _outcomes(await _streamed(ops_for(backend, store)))
    other = FakeBackend()
    other.script_next_batch(expire=True, finished_before_expiry=3)
    held = await ops_for(other, JobStore(tmp_path / "other.sqlite3")).invoke(
        MIXED, status_check_interval=0
    )
    assert streamed == _outcomes(list(held.items()))
    assert streamed["stubborn"] == ("errored", 3)
    assert streamed["bad"][0] == "errored"
    assert sorted(round for _, round in streamed.values()).count(2) >= 4
    assert backend.submissions["stubborn"] == 3
    # Keys failed: the first round's input is kept (lmbatch.retry sends them from it);
    # the rounds' own input is deleted.
    kept = [job.job_id for job in store.list_jobs() if store.spool_dir(job.job_id).exists()]
    assert kept == [job.job_id for job in store.list_jobs() if job.parent_job_id is None]


async def test_invoke_iter_reattaching_takes_each_key_from_its_last_round(
    backend: FakeBackend, store: JobStore
) -> None:
    backend.script_next_batch(expire=True, finished_before_expiry=3)
    first = await ops_for(backend, store).invoke(MIXED, status_check_interval=0)
    calls = backend.calls["submit"]
    again = _outcomes(await _streamed(ops_for(backend, store)))
    assert again == _outcomes(list(first.items()))
    assert backend.calls["submit"] == calls  # the rounds already made are read, not redone


async def test_invoke_iter_stopped_early_resumes_without_paying_twice(
    backend: FakeBackend, store: JobStore
) -> None:
    backend.script_next_batch(expire=True, finished_before_expiry=3)
    stream = ops_for(backend, store).invoke_iter(MIXED, status_check_interval=0)
    async for _ in stream:
        break
    await stream.aclose()
    outcomes = _outcomes(await _streamed(ops_for(backend, store)))
    assert set(outcomes) == set(MIXED)
    assert backend.submissions["key 0"] == 1
    assert backend.submissions["stubborn"] == 3


async def test_invoke_iter_yields_held_outcomes_when_no_next_round_can_be_made(
    backend: FakeBackend, store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops = ops_for(backend, store)
    monkeypatch.setattr(_invocation, "child_job", lambda jobs, parent, keys: None)  # not spooled
    backend.script_next_batch(expire=True, finished_before_expiry=3)
    outcomes = _outcomes(await _streamed(ops))
    assert set(outcomes) == set(MIXED)
    assert sorted(kind for kind, _ in outcomes.values()).count("expired") == 6
    assert backend.calls["submit"] == 1


async def test_invoke_iter_with_a_next_round_made_elsewhere_meanwhile(
    backend: FakeBackend, store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another process made round 2 (from its own reading) between our look for it and
    # our reading of round 1: it carries a key we already yielded as final and lacks one
    # we held. Still one outcome per key: ours for the first, round 1's for the second.
    ops = ops_for(backend, store)
    backend.script_next_batch(expire=True, finished_before_expiry=3)
    job_id = await ops.create(MIXED)
    await lmbatch.wait(ops, job_id, status_check_interval=0)
    job = store.get_job(job_id) or store.find_batch(job_id)[0]  # type: ignore[index]
    first = {key: output async for key, output in ops.iter_results(job_id)}
    expired = sorted(key for key, output in first.items() if should_resubmit(output))
    finished = sorted(key for key, output in first.items() if output.ok)
    elsewhere = child_job(ops._jobs, job, {finished[0], *expired[1:]})
    assert elsewhere is not None
    # The other process's round stays out of sight until ours would be made.
    real_children = store.child_jobs
    visible: list[bool] = []

    def children(parent_id: str) -> Any:
        return real_children(parent_id) if visible or parent_id != job.job_id else []

    def next_round(jobs: Any, parent: Any, keys: set[str]) -> Any:
        visible.append(True)
        return child_job(jobs, parent, keys)

    monkeypatch.setattr(store, "child_jobs", children)
    monkeypatch.setattr(_invocation, "child_job", next_round)
    waiting = Waiting(PollPolicy(interval=0))
    pairs = [pair async for pair in _invocation.iter_complete_job(ops._jobs, job, waiting, 2)]
    outcomes = _outcomes(pairs)
    assert set(outcomes) == set(MIXED)
    assert outcomes[finished[0]] == ("ok", 1)
    assert outcomes[expired[0]] == ("expired", 1)
    assert all(outcomes[key][1] >= 2 for key in expired[1:])
    assert backend.submissions[finished[0]] == 2  # sent by the other process's round


# -- create(reuse=...): submitting the same requests again (issue 15 item 2) ----------------


async def test_create_submits_again_by_default(backend: FakeBackend, store: JobStore) -> None:
    first = await ops_for(backend, store).create(REQUESTS)
    second = await ops_for(backend, store).create(REQUESTS)
    assert first != second
    assert backend.calls["submit"] == 2


async def test_create_with_reuse_reattaches_to_an_unfinished_identical_job(
    backend: FakeBackend, store: JobStore
) -> None:
    seen: list[tuple[str, bool]] = []
    first = await ops_for(backend, store).create(
        REQUESTS, reuse=True, on_submitted=lambda i, c: seen.append((i, c))
    )
    second = await ops_for(backend, store).create(
        REQUESTS, reuse=True, on_submitted=lambda i, c: seen.append((i, c))
    )
    assert second == first
    assert seen == [(first, True), (first, False)]
    assert backend.calls["submit"] == 1
    # Other settings are another job.
    third = await ops_for(backend, store).create(REQUESTS, {"temperature": 0.1}, reuse=True)
    assert third != first
    assert backend.calls["submit"] == 2


async def test_create_with_reuse_submits_again_once_the_identical_job_ended(
    backend: FakeBackend, store: JobStore
) -> None:
    ops = ops_for(backend, store)
    first = await ops.create(REQUESTS, reuse=True)
    while not (await ops.status(first)).is_terminal:
        pass
    second = await ops.create(REQUESTS, reuse=True)
    assert second != first
    assert backend.calls["submit"] == 2
    # The new one is unfinished: a third submission re-attaches to it.
    assert await ops.create(REQUESTS, reuse=True) == second
    assert backend.calls["submit"] == 2


async def test_create_with_reuse_submits_the_rest_of_an_interrupted_job(
    backend: FakeBackend, store: JobStore
) -> None:
    options = {"max_requests_per_batch": 3, "max_concurrent_submissions": 1}
    backend.fail_next("submit", ProviderRequestError("quota", provider="fake", status_code=400))
    with pytest.raises(ProviderRequestError):
        await ops_for(backend, store, **options).create(REQUESTS, reuse=True)
    (job,) = store.list_jobs()
    job_id = await ops_for(backend, store, **options).create(REQUESTS, reuse=True)
    assert job_id == job.job_id
    assert len(backend.submissions) == len(REQUESTS)
    assert set(backend.submissions.values()) == {1}  # nothing sent twice


async def test_create_with_reuse_says_how_to_submit_anyway_when_the_check_fails(
    backend: FakeBackend, store: JobStore
) -> None:
    await ops_for(backend, store).create(REQUESTS, reuse=True)
    backend.fail_next("fetch", ProviderRequestError("nope", provider="fake", status_code=400))
    with pytest.raises(ProviderRequestError) as caught:
        await ops_for(backend, store).create(REQUESTS, reuse=True)
    assert any("reuse=False" in note for note in caught.value.__notes__)
    assert backend.calls["submit"] == 1
