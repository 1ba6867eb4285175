"""The PostgreSQL job store: selected by URL, and bad input refused naming the store."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import lmbatch
from lmbatch import StoreError
from lmbatch._jobs._recording import prepare, record_job
from lmbatch._store_contract import open_store
from lmbatch._store_pg import PG_SCHEMA_VERSION, PostgresStore
from lmbatch.testing import FakeBackend, FakeBatchOperations
from tests.postgres_server import PostgresServer

REQUESTS = {f"key {i}": f"prompt {i}" for i in range(5)}


def _count_jobs(url: str) -> int:
    store = open_store(url)
    try:
        return len(store.list_jobs())
    finally:
        store.close()


def test_lmbatch_store_postgresql_url_opens_the_postgresql_store(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LMBATCH_STORE", postgres_url)
    monkeypatch.chdir(tmp_path)
    ops = lmbatch.get_batch_operations("fake")
    assert isinstance(ops.store, PostgresStore)
    assert ops.store.path == postgres_url
    assert not any(tmp_path.iterdir())  # no folder named after the URL


async def test_invoke_on_postgresql_records_the_job_for_every_machine(postgres_url: str) -> None:
    backend = FakeBackend()
    ops = FakeBatchOperations(backend=backend, store=postgres_url)
    results = await ops.invoke(REQUESTS, status_check_interval=0.01)
    assert set(results) == set(REQUESTS)
    other = open_store(postgres_url)
    (job,) = other.list_jobs()
    assert sorted(key for _, key in other.iter_keys(job.job_id)) == sorted(REQUESTS)
    # The results are in hand: the job's input left the shared spool.
    assert not other.spool_fetch(job.job_id, 0).exists()
    other.close()


async def test_an_unsubmitted_chunk_is_submitted_from_the_database_spool(
    postgres_url: str,
) -> None:
    backend = FakeBackend()
    first = FakeBatchOperations(backend=backend, store=postgres_url)
    params, plan = prepare(first._jobs, REQUESTS, None)
    job, _ = record_job(first._jobs, plan, params)
    plan.cleanup()
    local = first.store.spool_path(job.job_id, 0)
    assert local.exists()
    first.store.close()  # this machine's local copies are gone
    assert not local.exists()
    second = FakeBatchOperations(backend=backend, store=postgres_url)
    results = await lmbatch.resume(job.job_id, store=second.store, status_check_interval=0.01)
    assert set(results) == set(REQUESTS)
    after = second.store.get_job(job.job_id)
    assert after is not None
    assert [c.state for c in after.chunks] == ["submitted"]
    second.store.close()


def test_an_unreachable_database_is_a_store_error_naming_it(
    postgres_server: PostgresServer,
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    url = f"postgresql://ann:s3cret@127.0.0.1:{port}/jobs"
    with pytest.raises(StoreError) as caught:
        open_store(url)
    message = str(caught.value)
    assert f"postgresql://ann:***@127.0.0.1:{port}/jobs" in message
    assert caught.value.path == f"postgresql://ann:***@127.0.0.1:{port}/jobs"
    assert "s3cret" not in message
    assert "refused" in message.lower() or "connect" in message.lower()


def test_wrong_credentials_are_a_store_error_naming_the_store_and_hiding_the_password(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    postgres_server.admin("CREATE ROLE ann_wrong LOGIN PASSWORD 'right-one'")
    database = postgres_url.rsplit("/", 1)[1]
    url = postgres_server.url(database, user="ann_wrong", password="not-it")
    with pytest.raises(StoreError) as caught:
        open_store(url)
    message = str(caught.value)
    assert "password authentication failed" in message
    assert "postgresql://ann_wrong:***@" in message
    assert "not-it" not in message


def test_a_database_of_a_newer_lmbatch_is_refused_and_left_alone(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    open_store(postgres_url).close()
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE lmbatch_schema SET version = %s", (PG_SCHEMA_VERSION + 1,))
        conn.execute("CREATE TABLE from_the_future (x INTEGER)")
    with pytest.raises(StoreError, match="newer lmbatch") as caught:
        open_store(postgres_url)
    assert postgres_url in str(caught.value)
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute("SELECT version FROM lmbatch_schema").fetchone()
        assert row == (PG_SCHEMA_VERSION + 1,)


def test_a_database_of_schema_version_1_is_migrated_keeping_its_jobs(postgres_url: str) -> None:
    """A store written before reconciliation's tables (version 1) gains them in place."""
    import psycopg

    from lmbatch._store_pg import _MIGRATIONS

    with psycopg.connect(postgres_url) as conn:  # the database an older lmbatch left
        conn.execute("CREATE TABLE lmbatch_schema (id INTEGER PRIMARY KEY, version INTEGER)")
        conn.execute("INSERT INTO lmbatch_schema VALUES (1, 1)")
        for statement in _MIGRATIONS[1]:
            conn.execute(statement)  # type: ignore[arg-type]
        conn.execute("INSERT INTO jobs VALUES ('old', 'fake', NULL, 'fp', 1, 1.0, '{}', NULL, 1)")
        conn.execute("INSERT INTO job_connections VALUES ('old', '', NULL)")
        conn.execute(
            "INSERT INTO chunks VALUES ('old', 0, 1, 'submitting', NULL, 1.0, 'h:1', 'fake', '')"
        )
        conn.execute("INSERT INTO request_keys VALUES ('old', 'a', 'A', 0)")
    store = open_store(postgres_url)
    try:
        job = store.get_job("old")
        assert job is not None
        assert (job.tag, job.chunks[0].state) == ("", "submitting")
        assert [job_id for job_id, _ in store.uncertain_chunks("fake")] == ["old"]
        store.adopt_batch("old", 0, "b-1")
        assert store.adoption("old", 0) == ("b-1", False)
    finally:
        store.close()
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT version FROM lmbatch_schema").fetchone() == (PG_SCHEMA_VERSION,)
    assert PG_SCHEMA_VERSION >= 2


def test_many_processes_opening_one_new_database_create_the_schema_once(
    postgres_url: str,
) -> None:
    import threading

    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def open_it() -> None:
        barrier.wait()
        try:
            open_store(postgres_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []


async def test_a_read_only_user_is_refused_a_write_and_leaves_no_partial_job(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    open_store(postgres_url).close()  # the schema, made by a user who may
    database = postgres_url.rsplit("/", 1)[1]
    postgres_server.admin("CREATE ROLE reader LOGIN PASSWORD 'reads'")
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader")
    url = postgres_server.url(database, user="reader", password="reads")
    store = open_store(url)  # reading is allowed
    assert store.list_jobs() == []
    backend = FakeBackend()
    ops = FakeBatchOperations(backend=backend, store=store)
    with pytest.raises(StoreError) as caught:
        await ops.invoke(REQUESTS, status_check_interval=0.01)
    message = str(caught.value)
    assert "refused a write" in message
    assert "permission denied" in message
    assert "postgresql://reader:***@" in message
    assert "reads@" not in message
    assert backend.batches == {}
    assert _count_jobs(postgres_url) == 0
    store.close()


def test_a_read_only_user_on_a_new_database_cannot_create_the_schema(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    postgres_server.admin("CREATE ROLE newreader LOGIN PASSWORD 'reads'")
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    with pytest.raises(StoreError, match="permission denied") as caught:
        open_store(postgres_server.url(database, user="newreader", password="reads"))
    assert "postgresql://newreader:***@" in str(caught.value)


def test_without_psycopg_a_postgresql_store_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(lmbatch.ConfigError, match=r"lmbatch\[postgresql\]"):
        open_store("postgresql://ann@db.example/jobs")
