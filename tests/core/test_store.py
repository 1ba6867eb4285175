"""The SQLite job store, including several processes at once."""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path

import pytest

from lmbatch import JobStore
from lmbatch._store import default_store_path


def _write_jobs(path: str, prefix: str, count: int) -> None:
    store = JobStore(path)
    for i in range(count):
        store.create_job(
            job_id=f"{prefix}-{i}",
            provider="fake",
            model=None,
            fingerprint=f"fp-{i}",
            request_count=2,
            context={},
            chunk_sizes=[2],
            keys=[("a", "A", 0), ("b", "B", 0)],
        )
        assert store.claim_chunk(f"{prefix}-{i}", 0, "me:1")
        store.record_batch(f"{prefix}-{i}", 0, f"batch-{prefix}-{i}")
    store.close()


def test_records_jobs_chunks_and_keys(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "s.sqlite3")
    _write_jobs(str(tmp_path / "s.sqlite3"), "j", 1)
    job = store.get_job("j-0")
    assert job is not None
    assert job.batch_ids == ["batch-j-0"]
    assert store.find_batch("batch-j-0") == (job, 0)
    assert dict(store.iter_keys("j-0")) == {"a": "A", "b": "B"}
    assert store.get_job("nope") is None
    assert store.find_batch("nope") is None


def test_unknown_chunk_update_fails(tmp_path: Path) -> None:
    store = JobStore(":memory:")
    with pytest.raises(KeyError):
        store.record_batch("nojob", 0, "b")


@pytest.mark.skipif(sys.platform == "win32", reason="fork start method")
def test_several_processes_write_at_once(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite3")
    JobStore(path).close()
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_write_jobs, args=(path, f"p{n}", 30)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
    assert len(JobStore(path).list_jobs()) == 120


def test_default_path_is_in_the_user_data_dir() -> None:
    path = default_store_path()
    assert path.name == "jobs.sqlite3"
    assert "lmbatch" in str(path)


def test_one_batch_id_recorded_twice_is_a_clear_error(tmp_path: Path) -> None:
    from lmbatch import LMBatchError

    path = str(tmp_path / "s.sqlite3")
    _write_jobs(path, "j", 1)
    store = JobStore(path)
    store.create_job(
        job_id="other",
        provider="fake",
        model=None,
        fingerprint="x",
        request_count=1,
        context={},
        chunk_sizes=[1],
        keys=[("a", "A", 0)],
    )
    with pytest.raises(LMBatchError, match="already recorded"):
        store.record_batch("other", 0, "batch-j-0")


def _open_fresh(path: str, start: float) -> None:
    import time

    time.sleep(max(0.0, start - time.time()))  # everyone opens at the same moment
    JobStore(path).close()


@pytest.mark.skipif(sys.platform == "win32", reason="fork start method")
def test_many_processes_opening_one_new_store_at_once(tmp_path: Path) -> None:
    import time

    context = multiprocessing.get_context("fork")
    for attempt in range(5):  # several rounds: the race is in the first milliseconds
        path = str(tmp_path / f"fresh-{attempt}.sqlite3")
        start = time.time() + 0.3
        workers = [context.Process(target=_open_fresh, args=(path, start)) for _ in range(6)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert [worker.exitcode for worker in workers] == [0] * 6
