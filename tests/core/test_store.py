"""The job store, on both backends (SQLite, PostgreSQL), including several processes at once."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import lmbatch
from lmbatch import Hyperparameters, JobStore, ProviderLimits
from lmbatch._planning import plan_batches
from lmbatch._store import default_store_path
from lmbatch._store_contract import open_store


def _write_jobs(path: str, prefix: str, count: int) -> None:
    store = open_store(path)
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


def test_records_jobs_chunks_and_keys(store_url: str) -> None:
    store = open_store(store_url)
    _write_jobs(store_url, "j", 1)
    job = store.get_job("j-0")
    assert job is not None
    assert job.batch_ids == ["batch-j-0"]
    assert store.find_batch("batch-j-0") == (job, 0)
    assert dict(store.iter_keys("j-0")) == {"a": "A", "b": "B"}
    assert store.get_job("nope") is None
    assert store.find_batch("nope") is None


def test_job_labels_keep_what_a_later_call_leaves_out(store_url: str) -> None:
    _write_jobs(store_url, "j", 2)
    store = open_store(store_url)
    assert store.job_labels() == {}
    store.set_job_label("j-0", label="nightly", source="/data/in.jsonl")
    store.set_job_label("j-0", label="rerun")  # the source stays
    store.set_job_label("j-1", source="/data/other.csv")
    assert store.job_labels() == {
        "j-0": ("rerun", "/data/in.jsonl"),
        "j-1": (None, "/data/other.csv"),
    }
    store.close()


def test_unknown_chunk_update_fails(store_url: str) -> None:
    store = open_store(store_url)
    with pytest.raises(KeyError):
        store.record_batch("nojob", 0, "b")


@pytest.mark.skipif(sys.platform == "win32", reason="fork start method")
def test_several_processes_write_at_once(store_url: str) -> None:
    path = store_url
    open_store(path).close()
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_write_jobs, args=(path, f"p{n}", 30)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
    assert len(open_store(path).list_jobs()) == 120


def test_default_path_is_in_the_user_data_dir() -> None:
    path = default_store_path()
    assert path.name == "jobs.sqlite3"
    assert "lmbatch" in str(path)


def test_one_batch_id_recorded_twice_is_a_clear_error(store_url: str) -> None:
    from lmbatch import LMBatchError

    path = store_url
    _write_jobs(path, "j", 1)
    store = open_store(path)
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


# -- a damaged or full store is a StoreError naming the file ---------------------------------


def test_a_file_that_is_not_a_database_is_a_store_error_naming_it(tmp_path: Path) -> None:
    from lmbatch import StoreError

    path = tmp_path / "jobs.sqlite3"
    path.write_bytes(b"this is no database, just some damaged bytes\n" * 200)
    with pytest.raises(StoreError) as caught:
        JobStore(path)
    assert caught.value.path == str(path)
    assert str(path) in str(caught.value)
    assert "file is not a database" in str(caught.value)
    assert "move it aside" in str(caught.value)


async def test_operations_on_a_damaged_store_raise_a_store_error(tmp_path: Path) -> None:
    from lmbatch import StoreError
    from lmbatch.testing import FakeBackend, FakeBatchOperations

    path = tmp_path / "jobs.sqlite3"
    path.write_bytes(b"\x00garbage" * 1000)
    backend = FakeBackend()
    ops = FakeBatchOperations(backend=backend, store=path)
    with pytest.raises(StoreError, match=r"jobs\.sqlite3"):
        await ops.create({"a": "hello"})
    assert backend.calls["submit"] == 0


def test_a_store_whose_folder_cannot_be_made_is_a_store_error(tmp_path: Path) -> None:
    from lmbatch import StoreError

    blocker = tmp_path / "file"
    blocker.write_text("a file where the store's folder should be")
    with pytest.raises(StoreError) as caught:
        JobStore(blocker / "jobs.sqlite3")
    assert str(blocker / "jobs.sqlite3") in str(caught.value)


class _FullDisk:
    """A sqlite3 connection whose writes fail as on a full disk."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        if sql.lstrip().upper().startswith(("INSERT", "UPDATE")):
            raise sqlite3.OperationalError("database or disk is full")
        return self._conn.execute(sql, *args)

    def executemany(self, sql: str, *args: object) -> sqlite3.Cursor:
        raise sqlite3.OperationalError("database or disk is full")

    def __getattr__(self, name: str) -> object:
        return getattr(self._conn, name)


def test_a_full_disk_while_recording_a_job_is_a_store_error_and_records_nothing(
    tmp_path: Path,
) -> None:
    from lmbatch import StoreError

    path = tmp_path / "jobs.sqlite3"
    store = JobStore(path)
    store._conn = _FullDisk(store._conn)  # type: ignore[assignment]
    with pytest.raises(StoreError) as caught:
        _write_jobs_into(store)
    assert str(path) in str(caught.value)
    assert "disk is full" in str(caught.value)
    store._conn = store._conn._conn  # type: ignore[attr-defined]
    assert store.list_jobs() == []


def _write_jobs_into(store: JobStore) -> None:
    store.create_job(
        job_id="j",
        provider="fake",
        model=None,
        fingerprint="fp",
        request_count=1,
        context={},
        chunk_sizes=[1],
        keys=[("a", "A", 0)],
    )


# -- private files: the store, the spool and plans are 0600 / 0700 -----------------------


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The common umask 022, under which plain open()/mkdir() give 0644/0755."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _loose(root: Path) -> list[str]:
    """Every path under ``root`` (itself included) that others may read."""
    paths = [root, *root.rglob("*")]
    return [f"{p} {_mode(p):o}" for p in paths if _mode(p) & 0o077]


posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


@posix_only
@pytest.mark.usefixtures("loose_umask")
async def test_store_spool_and_folders_lmbatch_creates_are_private(tmp_path: Path) -> None:
    root = tmp_path / "data"
    store = root / "lmbatch" / "jobs.sqlite3"
    ops = lmbatch.get_batch_operations("fake", store=str(store))
    await ops.create({f"k{i}": f"private prompt {i}" for i in range(3)})
    files = {path.name for path in root.rglob("*") if path.is_file()}
    assert {"jobs.sqlite3", "jobs.sqlite3-wal", "jobs.sqlite3-shm"} <= files
    assert any(name.startswith("chunk-") for name in files), files  # spooled input
    assert _loose(root) == []
    ops.store.close()


@posix_only
@pytest.mark.usefixtures("loose_umask")
def test_opening_an_existing_store_tightens_its_files_and_spool(tmp_path: Path) -> None:
    store_path = tmp_path / "jobs.sqlite3"
    _write_jobs(str(store_path), "j", 1)
    spool = tmp_path / "jobs.sqlite3.spool"
    spool.mkdir()
    for path in [store_path, *tmp_path.glob("jobs.sqlite3-*")]:
        path.chmod(0o644)
    spool.chmod(0o755)
    store = JobStore(store_path)
    store.get_job("j-0")
    assert _mode(store_path) == 0o600
    assert _mode(spool) == 0o700
    assert [p for p in tmp_path.glob("jobs.sqlite3-*") if _mode(p) & 0o077] == []
    store.close()


@posix_only
@pytest.mark.usefixtures("loose_umask")
def test_plan_folders_and_their_chunk_and_key_files_are_private(tmp_path: Path) -> None:
    spool_root = tmp_path / "new" / "spool"
    plan = plan_batches(
        {f"k{i}": f"prompt {i}" for i in range(5)},
        lambda key: key,
        Hyperparameters(),
        limits=ProviderLimits(max_requests_per_batch=2, max_bytes_per_batch=10**6),
        encode=lambda cid, messages, params: {"custom_id": cid, "text": messages[0].text},
        check=lambda key, messages, params: None,
        fingerprint_salt="t",
        spool_root=spool_root,
    )
    assert len(plan.chunk_paths) == 3
    assert plan.keys.path.exists()
    assert _loose(tmp_path / "new") == []
    plan.cleanup()


def test_spool_checksums_first_record_wins(store_url: str) -> None:
    store = open_store(store_url)
    assert store.spool_checksum("j", 0) is None
    assert store.record_spool_checksum("j", 0, "aa", 10) == ("aa", 10)
    assert store.record_spool_checksum("j", 0, "bb", 20) == ("aa", 10)
    assert store.spool_checksum("j", 0) == ("aa", 10)
    assert store.spool_checksum("j", 1) is None


def test_store_written_before_spool_checksums_gains_the_table(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    _write_jobs(str(path), "old", 1)
    old = sqlite3.connect(path)
    old.execute("DROP TABLE spool_checksums")
    old.commit()
    old.close()
    store = JobStore(path)
    assert store.get_job("old-0") is not None
    assert store.spool_checksum("old-0", 0) is None
    assert store.record_spool_checksum("old-0", 0, "cc", 3) == ("cc", 3)


# -- the contract, on both backends -----------------------------------------------------------


def _new_job(store: lmbatch.JobStore | object, job_id: str, **kwargs: object) -> tuple[str, bool]:
    arguments: dict[str, object] = {
        "job_id": job_id,
        "provider": "fake",
        "model": None,
        "fingerprint": "fp",
        "request_count": 2,
        "context": {"a": 1},
        "chunk_sizes": [1, 1],
        "keys": [("c0", "K0", 0), ("c1", "K1", 1)],
    }
    arguments.update(kwargs)
    return store.create_job(**arguments)  # type: ignore[attr-defined, no-any-return]


def test_one_chunk_claimed_by_many_threads_at_once_has_one_winner(store_url: str) -> None:
    import threading

    _new_job(open_store(store_url), "j")
    stores = [open_store(store_url) for _ in range(6)]
    wins: list[bool] = []
    barrier = threading.Barrier(len(stores))

    def claim(store: object, n: int) -> None:
        barrier.wait()
        wins.append(store.claim_chunk("j", 0, f"host:{n}"))  # type: ignore[attr-defined]

    threads = [threading.Thread(target=claim, args=(s, n)) for n, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(wins) == [False] * 5 + [True]
    job = stores[0].get_job("j")
    assert job is not None
    assert job.chunks[0].state == "submitting"
    for store in stores:
        store.close()


def test_processes_creating_one_job_with_reuse_at_once_agree_on_one(store_url: str) -> None:
    import threading
    import time

    stores = [open_store(store_url) for _ in range(5)]
    found: list[tuple[str, bool]] = []
    barrier = threading.Barrier(len(stores))

    def create(store: object, n: int) -> None:
        barrier.wait()
        found.append(_new_job(store, f"job-{n}", reuse_after=time.time() - 60))

    threads = [threading.Thread(target=create, args=(s, n)) for n, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len({job_id for job_id, _ in found}) == 1
    assert [created for _, created in found].count(True) == 1
    assert len(stores[0].list_jobs()) == 1
    for store in stores:
        store.close()


def test_spooled_input_round_trips_and_is_discarded(store_url: str, tmp_path: Path) -> None:
    store = open_store(store_url)
    _new_job(store, "j")
    data = os.urandom(3 * (1 << 20) + 123)  # several database blocks and a bit
    source = tmp_path / "chunk.jsonl"
    source.write_bytes(data)
    store.spool_put("j", 0, source)
    assert not source.exists()  # moved in
    assert store.spool_fetch("j", 0).read_bytes() == data
    # Another handle (another machine, with PostgreSQL) reads the same bytes.
    other = open_store(store_url)
    assert other.spool_fetch("j", 0).read_bytes() == data
    assert not other.spool_fetch("j", 1).exists()
    store.discard_spool("j")
    assert not other.spool_fetch("j", 0).exists()
    store.close()
    other.close()


def test_forgetting_an_unsubmitted_job_forgets_its_spool(store_url: str, tmp_path: Path) -> None:
    store = open_store(store_url)
    _new_job(store, "j")
    source = tmp_path / "chunk.jsonl"
    source.write_bytes(b'{"custom_id": "c0"}\n')
    store.spool_put("j", 0, source)
    assert store.claim_chunk("j", 1, "me:1")
    assert not store.forget_unsubmitted_job("j")  # a chunk is claimed: the job stays
    store.reset_chunk("j", 1)
    assert store.forget_unsubmitted_job("j")
    assert store.get_job("j") is None
    assert list(store.iter_keys("j")) == []
    store.close()


def test_cost_ledger_and_budget(store_url: str) -> None:
    from lmbatch._store import LedgerEntry

    store = open_store(store_url)
    entry = LedgerEntry("j", 0, "b", 2, 0, "0.1", "0", "0.2", "0", "USD")
    store.record_cost(entry)
    store.record_cost(entry)  # read again: replaced, not added
    assert store.cost_entries(["j", "other"]) == [entry]
    assert store.cost_entries([]) == []
    assert store.budget("j") is None
    store.set_budget("j", "5", 100, note="why")
    store.set_budget("j", "6", None)
    budget = store.budget("j")
    assert budget is not None
    assert (budget.max_cost, budget.note) == ("6", "why")
    store.close()


# -- what reconciliation keeps (lmbatch._jobs._reconcile), on both backends --------------


def test_a_jobs_tag_is_recorded_with_it_and_forgotten_with_it(store_url: str) -> None:
    store = open_store(store_url)
    _new_job(store, "tagged", tag="_lbabcdefghij")
    _new_job(store, "plain", fingerprint="other")
    assert store.job_tag("tagged") == "_lbabcdefghij"
    assert store.get_job("tagged").tag == "_lbabcdefghij"  # type: ignore[union-attr]
    assert store.job_tag("plain") == ""
    assert store.get_job("plain").tag == ""  # type: ignore[union-attr]
    assert store.chunk_of("tagged", "c1") == 1
    assert store.chunk_of("tagged", "nope") is None
    assert store.forget_unsubmitted_job("tagged")
    assert store.job_tag("tagged") == ""
    store.close()


def test_the_first_create_attempt_is_kept_and_its_heartbeat_only_moves_forward(
    store_url: str,
) -> None:
    store = open_store(store_url)
    _new_job(store, "j")
    assert store.create_attempt("j", 0) is None
    store.record_attempt("j", 0, 100.0, None)
    store.record_attempt("j", 0, 200.0, 5.0)  # a later attempt: fills the clock in only
    assert store.create_attempt("j", 0) == (100.0, 5.0, 200.0)
    store.record_attempt("j", 0, 300.0, -7.0)  # a known vendor offset is never replaced
    store.touch_attempt("j", 0, 250.0)  # older than last seen: ignored
    assert store.create_attempt("j", 0) == (100.0, 5.0, 300.0)
    store.touch_attempt("j", 0, 400.0)
    assert store.create_attempt("j", 0) == (100.0, 5.0, 400.0)
    assert store.create_attempt("j", 1) is None
    store.close()


def test_an_adopted_batch_is_verified_or_disowned_and_a_disowned_one_stays_foreign(
    store_url: str,
) -> None:
    store = open_store(store_url)
    _new_job(store, "j")
    assert store.claim_chunk("j", 0, "host:1")
    # Claimed, no batch id yet: its create may have happened (whether its owner is alive
    # is for reconciliation to judge).
    ((job_id, chunk),) = store.uncertain_chunks("fake")
    assert (job_id, chunk.index, chunk.state, chunk.batch_id) == ("j", 0, "submitting", None)
    assert store.uncertain_chunks("other-provider") == []

    store.adopt_batch("j", 0, "b-1")
    assert store.uncertain_chunks("fake") == []
    assert store.adoption("j", 0) == ("b-1", False)
    assert store.find_batch("b-1") is not None
    with pytest.raises(lmbatch.LMBatchError, match="already has a batch"):
        store.adopt_batch("j", 0, "b-2")
    assert store.adoption("j", 0) == ("b-1", False)  # the failed adoption changed nothing

    store.disown_batch("j", 0, "b-1", "holds other requests")
    record = store.get_job("j")
    assert record is not None
    assert (record.chunks[0].state, record.chunks[0].batch_id) == ("planned", None)
    assert record.chunks[0].owner is None
    assert store.adoption("j", 0) is None
    assert store.is_foreign("j", 0, "b-1")
    assert not store.is_foreign("j", 1, "b-1")
    assert store.disowned_record("b-1") == ("j", 0, "holds other requests")

    # Adopted again (say, by hand), then proven: verified, the chunk keeps it.
    store.adopt_batch("j", 0, "b-3")
    store.mark_verified("j", 0)
    assert store.adoption("j", 0) == ("b-3", True)
    store.close()


def test_a_batch_proven_foreign_is_recorded_once_and_is_not_a_disowned_one(
    store_url: str,
) -> None:
    store = open_store(store_url)
    _new_job(store, "j")
    store.record_foreign("j", 0, "b-9", "first reason")
    store.record_foreign("j", 0, "b-9", "second reason")  # first record wins
    assert store.is_foreign("j", 0, "b-9")
    assert store.disowned_record("b-9") is None  # never adopted
    store.adopt_batch("j", 0, "b-9")  # by hand (lmbatch resolve), then set aside again
    store.disown_batch("j", 0, "b-9", "set aside by resolve")
    assert store.disowned_record("b-9") == ("j", 0, "set aside by resolve")
    store.close()


def test_adopting_a_batch_another_chunk_holds_names_it_on_the_same_endpoint_only(
    store_url: str,
) -> None:
    store = open_store(store_url)
    _new_job(store, "elsewhere", fingerprint="e")  # the vendor's default endpoint
    _new_job(store, "holder", fingerprint="h", endpoint="https://proxy.example")
    _new_job(store, "j", fingerprint="j", endpoint="https://proxy.example")
    for job_id in ("elsewhere", "holder"):
        assert store.claim_chunk(job_id, 1, "host:1")
        store.record_batch(job_id, 1, "b-1")  # one id on two endpoints: two batches
    assert store.claim_chunk("j", 0, "host:1")
    with pytest.raises(lmbatch.LMBatchError, match="for job holder chunk 1"):
        store.adopt_batch("j", 0, "b-1")
    record = store.get_job("j")
    assert record is not None
    assert (record.chunks[0].state, record.chunks[0].batch_id) == ("submitting", None)
    assert store.adoption("j", 0) is None  # nothing half-recorded
    store.close()


def test_a_jobs_keys_are_streamed_a_page_at_a_time_each_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lmbatch._store

    monkeypatch.setattr(lmbatch._store, "_KEY_PAGE", 7)
    store = JobStore(str(tmp_path / "s.sqlite3"))
    keys = [(f"c{i:03d}", f"key {i}", i // 20) for i in range(50)]
    for job_id in ("one", "two"):
        store.create_job(
            job_id=job_id,
            provider="fake",
            model=None,
            fingerprint=job_id,
            request_count=50,
            context={},
            chunk_sizes=[20, 20, 10],
            keys=keys if job_id == "one" else keys[:3],
        )
    pages = []
    original = store._conn

    class Counting:
        def execute(self, *args: object) -> object:
            pages.append(args[0])
            return original.execute(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "_conn", Counting())
    pairs = list(store.iter_keys("one"))
    assert sorted(pairs) == sorted((cid, key) for cid, key, _ in keys)
    assert len(pages) == 8  # 50 keys, 7 a page: never the whole job in one query
    assert sorted(store.iter_keys("one", 2)) == [(cid, key) for cid, key, c in keys if c == 2]
    assert len(list(store.iter_keys("two"))) == 3


def test_a_jobs_keys_come_back_whole_across_pages_on_both_backends(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lmbatch._store
    import lmbatch._store_pg

    monkeypatch.setattr(lmbatch._store, "_KEY_PAGE", 4)
    monkeypatch.setattr(lmbatch._store_pg, "_KEY_PAGE", 4)
    store = lmbatch.open_store(store_url)
    # Ids of mixed case and digits: pages follow the store's own order, whatever it is.
    keys = [(f"{prefix}{i}", f"key {prefix}{i}", 0) for prefix in ("a", "B", "_") for i in range(5)]
    _new_job(store, "one", request_count=15, chunk_sizes=[15], keys=keys)
    pairs = list(store.iter_keys("one"))
    assert len(pairs) == 15
    assert sorted(pairs) == sorted((cid, key) for cid, key, _ in keys)
    assert sorted(store.iter_keys("one", 0)) == sorted(pairs)
    store.close()
