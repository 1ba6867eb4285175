"""Batch ids are unique per (provider, endpoint), and jobs remember their connection options.

Issue 16: two servers numbering their batches alike must not collide in one job store;
issue 15 item 5: later commands on a job use the options it was created with.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import lmbatch
from lmbatch import (
    AmbiguousBatchError,
    EndpointMismatchError,
    JobStore,
    StoreError,
    SubmissionUncertainError,
)
from lmbatch._store import CHUNK_SUBMITTING, SCHEMA_VERSION
from lmbatch.testing import FakeBackend
from lmbatch.testing.emulator import Emulator, EmulatorSettings
from tests.faults._harness import OPENAI, make_operations

REQUESTS = {"a": "Say a", "b": "Say b"}


def _emulator() -> Emulator:
    return Emulator(EmulatorSettings(mode="polls", sequential_ids=True))


def _invoke(base_url: str, store: Path, requests: dict[str, Any] = REQUESTS) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        async with make_operations(OPENAI, base_url, store) as ops:
            return dict(await ops.invoke(requests, status_check_interval=0, max_iterations=50))

    import asyncio

    return asyncio.run(run())


def test_two_endpoints_handing_out_the_same_batch_id_both_complete(tmp_path: Path) -> None:
    """The issue's repro: one store, two emulators with sequential ids, one job each."""
    store = tmp_path / "jobs.sqlite3"
    with _emulator() as first, _emulator() as second:
        results_1 = _invoke(first.openai_base_url, store)
        results_2 = _invoke(second.openai_base_url, store)
        assert set(results_1) == set(results_2) == set(REQUESTS)
        assert all(output.error is None for output in [*results_1.values(), *results_2.values()])
        assert list(first.state.openai_batches) == ["batch_000001"]
        assert list(second.state.openai_batches) == ["batch_000001"]
        urls = {first.openai_base_url, second.openai_base_url}
    job_store = JobStore(store)
    try:
        found = job_store.find_batches("batch_000001")
        assert len(found) == 2
        assert {job.endpoint for job, _ in found} == {f"base_url={url}" for url in urls}
    finally:
        job_store.close()


async def test_the_same_batch_id_on_two_providers_never_collides(tmp_path: Path) -> None:
    """Two providers (here: two fake vendors, renamed) may hand out one id."""
    from lmbatch.testing import FakeBatchOperations

    class Other(FakeBatchOperations):
        name = "other-fake"

    store = JobStore(tmp_path / "jobs.sqlite3")
    backends = FakeBackend(), FakeBackend()
    for backend in backends:
        backend._session = "same"  # both vendors number their batches alike
    fake = FakeBatchOperations(store=store, backend=backends[0], polls_until_done=1)
    other = Other(store=store, backend=backends[1], polls_until_done=1)
    first = await fake.create({"a": "x"})
    second = await other.create({"a": "y"})
    assert first == second  # both backends number from the start
    assert store.find_batch(first, provider="fake") is not None
    assert store.find_batch(first, provider="other-fake") is not None
    await lmbatch.wait(fake, first, status_check_interval=0)
    await lmbatch.wait(other, second, status_check_interval=0)
    assert set(await fake.retrieve(first)) == {"a"}
    assert set(await other.retrieve(second)) == {"a"}


def test_operations_on_another_endpoint_refuse_a_recorded_batch(tmp_path: Path) -> None:
    store = tmp_path / "jobs.sqlite3"
    with _emulator() as first, _emulator() as second:
        _invoke(first.openai_base_url, store)

        async def retrieve_elsewhere() -> None:
            async with make_operations(OPENAI, second.openai_base_url, store) as ops:
                await ops.retrieve("batch_000001")

        import asyncio

        with pytest.raises(EndpointMismatchError) as caught:
            asyncio.run(retrieve_elsewhere())
        message = str(caught.value)
        assert f"-O base_url={first.openai_base_url}" in message
        assert caught.value.current == f"base_url={second.openai_base_url}"


def test_a_bare_id_on_two_endpoints_is_ambiguous_not_a_guess(tmp_path: Path) -> None:
    from lmbatch._jobs._resume import find_recorded_job

    store = tmp_path / "jobs.sqlite3"
    with _emulator() as first, _emulator() as second:
        _invoke(first.openai_base_url, store)
        _invoke(second.openai_base_url, store, {"c": "Say c"})
        urls = (first.openai_base_url, second.openai_base_url)
    job_store = JobStore(store)
    try:
        with pytest.raises(AmbiguousBatchError) as caught:
            find_recorded_job(job_store, "batch_000001")
        assert len(caught.value.candidates) == 2
        assert f"-O base_url={urls[0]}" in str(caught.value)
        assert f"-O base_url={urls[1]}" in str(caught.value)
        # An explicit option picks one.
        picked = find_recorded_job(job_store, "batch_000001", options={"base_url": urls[1] + "/"})
        assert picked is not None
        assert {key for _, key in job_store.iter_keys(picked.job_id)} == {"c"}
    finally:
        job_store.close()


async def test_resume_uses_the_options_the_job_was_created_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    store = tmp_path / "jobs.sqlite3"
    async with _emulator() as emulator:
        async with make_operations(OPENAI, emulator.openai_base_url, store) as ops:
            batch_id = await ops.create(REQUESTS)
        # No base_url given: the recorded one is used, not the vendor's default.
        results = await lmbatch.resume(
            batch_id, store=str(store), status_check_interval=0, max_iterations=50
        )
        assert set(results) == set(REQUESTS)
        with pytest.raises(EndpointMismatchError):
            await lmbatch.resume(batch_id, store=str(store), base_url="http://127.0.0.1:9/v1")


def test_a_differing_non_endpoint_option_is_warned_about_and_wins(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from lmbatch_openai import OpenAISettings

    from lmbatch._connections import options_for_job
    from lmbatch._store import JobRecord

    job = JobRecord(
        job_id="lmbjob_x",
        provider="openai",
        model=None,
        fingerprint="f",
        request_count=1,
        created_at=0.0,
        context={},
        connection={"base_url": "http://h/v1", "project": "p1"},
    )
    with caplog.at_level(logging.WARNING, logger="lmbatch"):
        options = options_for_job(job, {"project": "p2"}, OpenAISettings)
    assert options == {"base_url": "http://h/v1", "project": "p2"}
    assert "project=p1" in caplog.text


def test_connection_options_never_record_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    from lmbatch_openai import OpenAISettings

    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("OPENAI_ORG_ID", "org-1")
    settings = OpenAISettings(api_key="sk-secret", base_url="HTTP://Example.COM:80/v1/")
    values = settings.connection_values()
    assert "api_key" not in values
    assert "sk-secret" not in repr(values)
    assert values["organization"] == "org-1"
    assert OpenAISettings.endpoint_identity(values) == "base_url=http://example.com/v1"
    # The vendor's default, named or not, is the default endpoint ("").
    default = OpenAISettings(base_url="https://api.openai.com/v1/").connection_values()
    assert OpenAISettings.endpoint_identity(default) == ""


async def test_a_failed_record_leaves_the_chunk_uncertain_and_a_rerun_adopts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lmbatch.testing import FakeBatchOperations

    store = JobStore(tmp_path / "jobs.sqlite3")
    backend = FakeBackend()
    ops = FakeBatchOperations(store=store, backend=backend)

    def broken(*args: object) -> None:
        raise StoreError("cannot write the job store: disk full", path=store.path)

    monkeypatch.setattr(store, "record_batch", broken)
    with pytest.raises(SubmissionUncertainError) as caught:
        await ops.create(REQUESTS)
    batch_id = caught.value.details["batch_id"]
    assert "stays uncertain" in str(caught.value)
    assert "lmbatch.resume(" in str(caught.value)
    (job,) = store.list_jobs()
    assert job.chunks[0].state == CHUNK_SUBMITTING
    monkeypatch.undo()
    results = await lmbatch.resume(job.job_id, store=store, status_check_interval=0)
    assert set(results) == set(REQUESTS)
    assert list(backend.batches) == [batch_id]  # adopted, never paid twice


# -- migration -------------------------------------------------------------------------

# The schema of lmbatch 0.1 (git show b5ae11c:lmbatch/_store.py), which had no version.
V01_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    model TEXT,
    fingerprint TEXT NOT NULL,
    request_count INTEGER NOT NULL,
    created_at REAL NOT NULL,
    context TEXT NOT NULL,
    parent_job_id TEXT,
    round INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS jobs_by_parent ON jobs (parent_job_id);
CREATE INDEX IF NOT EXISTS jobs_by_fingerprint ON jobs (provider, fingerprint);
CREATE TABLE IF NOT EXISTS chunks (
    job_id TEXT NOT NULL REFERENCES jobs (job_id),
    chunk_index INTEGER NOT NULL,
    request_count INTEGER NOT NULL,
    state TEXT NOT NULL,
    batch_id TEXT,
    updated_at REAL NOT NULL,
    owner TEXT,
    PRIMARY KEY (job_id, chunk_index)
);
CREATE UNIQUE INDEX IF NOT EXISTS chunks_by_batch ON chunks (batch_id);
CREATE TABLE IF NOT EXISTS request_keys (
    job_id TEXT NOT NULL,
    custom_id TEXT NOT NULL,
    key TEXT NOT NULL,
    chunk_index INTEGER NOT NULL,
    PRIMARY KEY (job_id, custom_id)
);
CREATE INDEX IF NOT EXISTS request_keys_by_chunk ON request_keys (job_id, chunk_index);
"""


def _v01_store(path: Path, jobs: list[tuple[str, str, dict[str, str]]]) -> None:
    """A store as lmbatch 0.1 wrote it: ``(job id, batch id, {custom_id: key})`` jobs."""
    conn = sqlite3.connect(path)
    conn.executescript(V01_SCHEMA)
    for job_id, batch_id, keys in jobs:
        conn.execute(
            "INSERT INTO jobs VALUES (?, 'fake', 'fake-model', ?, ?, 1.0, '{}', NULL, 1)",
            (job_id, "fp-" + job_id, len(keys)),
        )
        conn.execute(
            "INSERT INTO chunks VALUES (?, 0, ?, 'submitted', ?, 1.0, NULL)",
            (job_id, len(keys), batch_id),
        )
        conn.executemany(
            "INSERT INTO request_keys VALUES (?, ?, ?, 0)",
            [(job_id, custom_id, key) for custom_id, key in keys.items()],
        )
    conn.commit()
    conn.close()


async def test_a_v01_store_with_jobs_is_migrated_and_its_results_still_read(
    tmp_path: Path,
) -> None:
    from lmbatch.testing import FakeBatchOperations

    backend = FakeBackend()
    maker = FakeBatchOperations(store=JobStore(":memory:"), backend=backend)
    # Batches made at the (fake) vendor; their keys recorded in a v0.1 store under
    # custom ids the vendor echoes.
    first = await maker.create({"k1": "one", "k2": "two"})
    second = await maker.create({"k3": "three"})
    made = maker.store
    mapping = {
        batch_id: dict(made.iter_keys(found[0].job_id))
        for batch_id in (first, second)
        if (found := made.find_batch(batch_id)) is not None
    }
    path = tmp_path / "old.sqlite3"
    _v01_store(
        path, [("lmbjob_one", first, mapping[first]), ("lmbjob_two", second, mapping[second])]
    )

    store = JobStore(path)
    try:
        assert store._schema_version() == SCHEMA_VERSION
        ops = FakeBatchOperations(store=store, backend=backend)
        await lmbatch.wait(ops, first, status_check_interval=0)
        await lmbatch.wait(ops, second, status_check_interval=0)
        assert set(await ops.retrieve(first)) == {"k1", "k2"}
        assert set(await ops.retrieve("lmbjob_two")) == {"k3"}
        job = store.get_job("lmbjob_one")
        assert job is not None
        assert job.endpoint == ""
        assert job.connection is None
        # The old one-id-per-store index is gone: another endpoint may now reuse an id.
        indexes = {r[0] for r in store._conn.execute("SELECT name FROM sqlite_master")}
        assert "chunks_by_batch" not in indexes
    finally:
        store.close()
    # Opening again is a no-op (already migrated).
    JobStore(path).close()


def test_a_store_from_a_newer_lmbatch_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    JobStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer lmbatch"):
        JobStore(path)
