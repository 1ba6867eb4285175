"""``lmbatch.retry``: the keys that failed in a finished job, sent again as a new round.

Against the emulator (OpenAI's API), on both job stores: a key scripted to fail fails
in the first run; once the fault is gone, a retry sends exactly the failed keys (the
emulator counts what is submitted), and the job then gives each key its latest outcome.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

import lmbatch
from lmbatch import (
    BatchNotFinishedError,
    BatchOperations,
    BudgetExceededError,
    ResubmissionRound,
    RetryInputMissingError,
    ValidationError,
)
from lmbatch._store_contract import Store, open_store
from lmbatch.testing.emulator import Emulator, EmulatorSettings

REQUESTS: dict[str, Any] = {f"req-{i}": f"Question number {i}?" for i in range(6)}
MODEL = "gpt-4.1-mini"


@pytest.fixture(scope="module")
def served() -> Iterator[Emulator]:
    with Emulator(EmulatorSettings(mode="polls")) as emulator:
        yield emulator


@pytest.fixture
def emulator(served: Emulator) -> Iterator[Emulator]:
    served.reset()
    yield served
    served.reset()


def _connection(emulator: Emulator) -> dict[str, Any]:
    return {"base_url": emulator.openai_base_url, "api_key": "test-key", "max_retries": 0}


def _ops(emulator: Emulator, store: str) -> BatchOperations:
    return lmbatch.get_batch_operations("openai", model=MODEL, store=store, **_connection(emulator))


def _root(store: Store) -> str:
    (root,) = [job for job in store.list_jobs() if job.parent_job_id is None]
    return root.job_id


def _kept(store: Store, job_id: str) -> bool:
    return store.spool_fetch(job_id, 0).exists()


async def _run_with_failures(emulator: Emulator, store_url: str, **faults: str) -> str:
    """Run REQUESTS with the given key faults; return the job id (faults then cleared)."""
    for key, spec in faults.items():
        emulator.faults.fail_key(key, spec)
    async with _ops(emulator, store_url) as ops:
        results = await ops.invoke(REQUESTS, status_check_interval=0)
    assert {key for key, output in results.items() if not output.ok} == set(faults)
    emulator.faults.clear()
    store = open_store(store_url)
    try:
        return _root(store)
    finally:
        store.close()


async def test_retry_sends_only_the_failed_keys_and_the_job_then_gives_latest_outcomes(
    emulator: Emulator, store_url: str
) -> None:
    # req-1 is refused for good (400: not resubmitted), req-2 fails transiently (503)
    # in round 1 and in both resubmission rounds: neither is in every round's key map.
    job_id = await _run_with_failures(
        emulator, store_url, **{"req-1": "error=400", "req-2": "error=503"}
    )
    assert emulator.submissions == Counter({**dict.fromkeys(REQUESTS, 1), "req-2": 3})
    store = open_store(store_url)
    assert _kept(store, job_id)  # keys failed: the input is kept to retry them
    before = Counter(emulator.submissions)
    rounds: list[ResubmissionRound] = []
    results = await lmbatch.retry(
        job_id,
        store=store_url,
        status_check_interval=0,
        on_resubmit=rounds.append,
        **_connection(emulator),
    )
    assert emulator.submissions - before == Counter({"req-1": 1, "req-2": 1})
    assert set(results) == set(REQUESTS)
    assert all(output.ok for output in results.values())
    assert results["req-1"].text == "echo: Question number 1?"
    assert results["req-1"].finish_details["lmbatch_round"] == 4
    (retry_round,) = rounds
    assert retry_round["round"] == 4
    assert retry_round["requests"] == 2
    assert sum(retry_round["reasons"].values()) == 2
    assert not _kept(store, job_id)  # no failed key left: the input is deleted
    # The job, read again by anyone: each key's latest outcome, once.
    async with _ops(emulator, store_url) as ops:
        read = {key: output async for key, output in ops.iter_results(job_id)}
        info = await ops.info(job_id)
        again = await ops.invoke(REQUESTS, status_check_interval=0)  # re-attaches
    assert set(read) == set(REQUESTS)
    assert all(output.ok for output in read.values())
    assert [entry["round"] for entry in info["rounds"]] == [1, 2, 3, 4]
    assert all(output.ok for output in again.values())
    assert set(again) == set(REQUESTS)
    # Nothing failed any more: a second retry sends nothing and changes nothing.
    submitted = Counter(emulator.submissions)
    rounds.clear()
    twice = await lmbatch.retry(
        job_id,
        store=store_url,
        status_check_interval=0,
        on_resubmit=rounds.append,
        **_connection(emulator),
    )
    assert emulator.submissions == submitted
    assert rounds == []
    assert {key: output.text for key, output in twice.items()} == {
        key: output.text for key, output in results.items()
    }
    store.close()


async def test_retry_only_some_kinds_leaves_the_other_failures_and_the_input(
    emulator: Emulator, tmp_path: Any
) -> None:
    store_url = str(tmp_path / "jobs.sqlite3")
    job_id = await _run_with_failures(
        emulator, store_url, **{"req-0": "error=400", "req-3": "expire"}
    )
    before = Counter(emulator.submissions)
    results = await lmbatch.retry(
        job_id,
        only="errored",
        store=store_url,
        status_check_interval=0,
        resubmit=0,
        **_connection(emulator),
    )
    assert emulator.submissions - before == Counter({"req-0": 1})
    assert results["req-0"].ok
    assert results["req-3"].error is not None
    assert results["req-3"].error.kind == "expired"
    store = open_store(store_url)
    assert _kept(store, job_id)  # req-3 still failed
    store.close()
    with pytest.raises(ValidationError, match="unknown kind"):
        await lmbatch.retry(job_id, only="late", store=store_url, **_connection(emulator))


async def test_retry_of_an_unfinished_job_is_refused_naming_its_state(
    emulator: Emulator, tmp_path: Any
) -> None:
    store_url = str(tmp_path / "jobs.sqlite3")
    async with _ops(emulator, store_url) as ops:
        batch_id = await ops.create(REQUESTS)
    before = Counter(emulator.submissions)
    with pytest.raises(BatchNotFinishedError) as caught:
        await lmbatch.retry(batch_id, store=store_url, **_connection(emulator))
    message = str(caught.value)
    store = open_store(store_url)
    assert _root(store) in message
    assert "is not finished" in message
    assert f"lmbatch wait {batch_id}" in message
    store.close()
    assert emulator.submissions == before


async def test_retry_of_a_job_whose_input_is_gone_needs_the_original_requests(
    emulator: Emulator, store_url: str
) -> None:
    job_id = await _run_with_failures(emulator, store_url, **{"req-5": "error=400"})
    store = open_store(store_url)
    store.discard_spool(job_id)  # as an lmbatch that deleted it when results were read
    before = Counter(emulator.submissions)
    with pytest.raises(RetryInputMissingError, match="--requests FILE") as caught:
        await lmbatch.retry(job_id, store=store_url, **_connection(emulator))
    assert caught.value.job_id == job_id
    other = {**REQUESTS, "req-5": "Another question?"}
    with pytest.raises(ValidationError, match="not those of job"):
        await lmbatch.retry(job_id, requests=other, store=store_url, **_connection(emulator))
    assert emulator.submissions == before
    results = await lmbatch.retry(
        job_id,
        requests=REQUESTS,
        store=store_url,
        status_check_interval=0,
        **_connection(emulator),
    )
    assert emulator.submissions - before == Counter({"req-5": 1})
    assert results["req-5"].text == "echo: Question number 5?"
    assert all(output.ok for output in results.values())
    store.close()


async def test_a_job_without_failures_keeps_no_input(emulator: Emulator, tmp_path: Any) -> None:
    store_url = str(tmp_path / "jobs.sqlite3")
    async with _ops(emulator, store_url) as ops:
        results = await ops.invoke(REQUESTS, status_check_interval=0)
    assert all(output.ok for output in results.values())
    store = open_store(store_url)
    assert not _kept(store, _root(store))
    store.close()


async def test_retry_keeps_within_what_the_budget_leaves(emulator: Emulator, tmp_path: Any) -> None:
    store_url = str(tmp_path / "jobs.sqlite3")
    emulator.faults.fail_key("req-2", "error=400")
    async with _ops(emulator, store_url) as ops:
        results = await ops.invoke(
            REQUESTS, {"max_tokens": 50}, status_check_interval=0, max_cost="1"
        )
    assert not results["req-2"].ok
    emulator.faults.clear()
    store = open_store(store_url)
    job_id = _root(store)
    recorded = store.budget(job_id)
    assert recorded is not None
    # Almost all of it spent (as by earlier rounds): the retry round no longer fits.
    store.set_budget(job_id, "0.0000001", recorded.max_output_tokens)
    before = Counter(emulator.submissions)
    with pytest.raises(BudgetExceededError, match="exceeds") as caught:
        await lmbatch.retry(job_id, store=store_url, **_connection(emulator))
    assert job_id in str(caught.value)
    assert emulator.submissions == before
    assert [job.job_id for job in store.list_jobs()] == [job_id]  # no round recorded
    assert _kept(store, job_id)
    store.close()
