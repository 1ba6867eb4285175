"""Spool checksums: a damaged chunk file is rebuilt from the caller's requests or refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import lmbatch
from lmbatch import BatchInfo, JobStore, RateLimitError
from lmbatch._jobs import _recording
from lmbatch._jobs._spool import Checksum, file_checksum
from lmbatch._planning import chunk_file_name
from lmbatch.testing import FakeBackend, FakeBatchOperations

REQUESTS = {f"key {i}": f"prompt number {i}" for i in range(7)}


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path / "jobs.sqlite3")


def ops_for(backend: FakeBackend, store: JobStore, **options: Any) -> FakeBatchOperations:
    options.setdefault("max_requests_per_batch", 3)
    return FakeBatchOperations(backend=backend, store=store, **options)


def damage(path: Path, how: str) -> None:
    """Truncate, flip one letter of, or delete a spool file."""
    if how == "delete":
        path.unlink()
        return
    data = bytearray(path.read_bytes())
    if how == "truncate":
        path.write_bytes(bytes(data[: len(data) // 2]))
        return
    # Swap the case of a letter in the last prompt: still valid JSON, silently another
    # request, which only the checksum can tell.
    data[data.rindex(b"number")] ^= 0x20
    path.write_bytes(bytes(data))


def damage_after_recording(
    ops: FakeBatchOperations, how: str, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Damage a spooled chunk between the job's intent being recorded and its upload."""
    record = _recording.record_job

    def record_then_damage(*args: Any, **kwargs: Any) -> Any:
        job, created = record(*args, **kwargs)
        damage(ops.store.spool_dir(job.job_id) / chunk_file_name(chunk), how)
        return job, created

    monkeypatch.setattr(_recording, "record_job", record_then_damage)


def assert_answered_once(backend: FakeBackend, results: dict[str, lmbatch.LMOutput]) -> None:
    assert set(results) == set(REQUESTS)
    for key, output in results.items():
        assert output.text == f"echo: {REQUESTS[key]}", (key, output)
    assert sorted(backend.submissions.values()) == [1] * len(REQUESTS)


HOW = ["truncate", "flip", "delete"]


@pytest.mark.parametrize("how", HOW)
async def test_chunk_damaged_before_upload_is_rebuilt_from_the_callers_requests(
    backend: FakeBackend, store: JobStore, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops = ops_for(backend, store)
    damage_after_recording(ops, how, 1, monkeypatch)
    results = await ops.invoke(REQUESTS, status_check_interval=0)
    assert_answered_once(backend, results)
    assert backend.calls["submit"] == 3


@pytest.mark.parametrize("how", HOW)
async def test_chunk_damaged_before_create_uploads_it_is_rebuilt(
    backend: FakeBackend, store: JobStore, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops = ops_for(backend, store)
    damage_after_recording(ops, how, 2, monkeypatch)
    job_id = await ops.create(REQUESTS)
    await lmbatch.wait(ops, job_id, status_check_interval=0)
    assert_answered_once(backend, await ops.retrieve(job_id))


@pytest.mark.parametrize("how", HOW)
async def test_chunk_damaged_before_a_rerun_is_rebuilt_from_the_rerun_requests(
    backend: FakeBackend, store: JobStore, how: str
) -> None:
    backend.fail_next("submit", RateLimitError("slow down", provider="fake", status_code=429))
    with pytest.raises(RateLimitError):
        await ops_for(backend, store, max_concurrent_submissions=1).invoke(
            REQUESTS, status_check_interval=0
        )
    (job,) = store.list_jobs()
    damage(store.spool_dir(job.job_id) / chunk_file_name(0), how)
    results = await ops_for(backend, store).invoke(REQUESTS, status_check_interval=0)
    assert_answered_once(backend, results)


@pytest.mark.parametrize("how", ["truncate", "flip"])
async def test_resume_refuses_a_damaged_chunk_and_sends_nothing(
    backend: FakeBackend, store: JobStore, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend.fail_next("submit", RateLimitError("slow down", provider="fake", status_code=429))
    with pytest.raises(RateLimitError):
        await ops_for(backend, store, max_concurrent_submissions=1).create(REQUESTS)
    (job,) = store.list_jobs()
    path = store.spool_dir(job.job_id) / chunk_file_name(0)
    damage(path, how)
    monkeypatch.setattr("lmbatch.testing._fake.default_backend", backend)
    submitted = dict(backend.submissions)
    with pytest.raises(lmbatch.SpoolDamagedError) as caught:
        await lmbatch.resume(job.job_id, store=store, status_check_interval=0)
    error = caught.value
    assert (error.job_id, error.chunk_index, error.path) == (job.job_id, 0, str(path))
    message = str(error)
    for part in (job.job_id, "chunk 0", str(path), "nothing was sent", "invoke"):
        assert part in message
    assert backend.submissions == submitted  # nothing of the damaged chunk went out
    assert len(submitted) == len(REQUESTS) - 3
    # The caller's original requests rebuild it.
    results = await ops_for(backend, store).invoke(REQUESTS, status_check_interval=0)
    assert_answered_once(backend, results)


@pytest.mark.parametrize("how", HOW)
async def test_spool_damaged_before_resubmission_is_rebuilt_from_the_callers_requests(
    backend: FakeBackend, store: JobStore, how: str
) -> None:
    backend.script_next_batch(expire=True, finished_before_expiry=1)
    ops = ops_for(backend, store, max_requests_per_batch=100)
    damaged: list[str] = []

    def damage_while_waiting(info: BatchInfo) -> None:
        if not damaged:
            damaged.append(info["id"])
            (job,) = store.list_jobs()
            damage(store.spool_dir(job.job_id) / chunk_file_name(0), how)

    results = await ops.invoke(REQUESTS, status_check_interval=0, on_progress=damage_while_waiting)
    assert set(results) == set(REQUESTS)
    for key, output in results.items():
        assert output.text == f"echo: {REQUESTS[key]}", (key, output)
    assert sorted(backend.submissions.values()) == [1] + [2] * (len(REQUESTS) - 1)


async def test_resubmission_from_a_damaged_spool_without_the_requests_is_refused(
    backend: FakeBackend, store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend.script_next_batch(expire=True, finished_before_expiry=1)
    ops = ops_for(backend, store, max_requests_per_batch=100)
    job_id = await ops.create(REQUESTS)
    (job,) = store.list_jobs()
    damage(store.spool_dir(job.job_id) / chunk_file_name(0), "flip")
    monkeypatch.setattr("lmbatch.testing._fake.default_backend", backend)
    with pytest.raises(lmbatch.SpoolDamagedError) as caught:
        await lmbatch.resume(job_id, store=store, status_check_interval=0)
    assert (caught.value.job_id, caught.value.chunk_index) == (job.job_id, 0)
    assert backend.calls["submit"] == 1
    results = await ops_for(backend, store, max_requests_per_batch=100).invoke(
        REQUESTS, status_check_interval=0
    )
    for key, output in results.items():
        assert output.text == f"echo: {REQUESTS[key]}", (key, output)
    assert sorted(backend.submissions.values()) == [1] + [2] * (len(REQUESTS) - 1)


async def test_chunk_spooled_without_a_checksum_is_sent_as_before(
    backend: FakeBackend, store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jobs spooled by an lmbatch that recorded no checksums still complete."""
    backend.fail_next("submit", RateLimitError("slow down", provider="fake", status_code=429))
    with pytest.raises(RateLimitError):
        await ops_for(backend, store, max_requests_per_batch=100).create(REQUESTS)
    (job,) = store.list_jobs()
    store._conn.execute("DELETE FROM spool_checksums")
    monkeypatch.setattr("lmbatch.testing._fake.default_backend", backend)
    results = await lmbatch.resume(job.job_id, store=store, status_check_interval=0)
    assert_answered_once(backend, results)


def test_checksum_of_a_missing_file_is_none(tmp_path: Path) -> None:
    assert file_checksum(tmp_path / "nope") is None
    (tmp_path / "f").write_bytes(b"abc")
    assert file_checksum(tmp_path / "f") == Checksum(
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", 3
    )
