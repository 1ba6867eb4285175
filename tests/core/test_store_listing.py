"""Listing jobs reads them and their chunks in a constant number of queries (issue 18).

Run against both backends: on PostgreSQL each query is a network round trip, so a query
per listed job made ``lmbatch jobs`` and batchify's re-attachment slow with the number of
jobs in the store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lmbatch._store import JobStore
from lmbatch._store_contract import Store, open_store


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()


def _add_jobs(store: Store, count: int, *, start: int = 0, **fields: Any) -> None:
    for i in range(start, start + count):
        store.create_job(
            job_id=f"job-{i:04d}",
            provider=fields.get("provider", "fake"),
            model=fields.get("model", "m1"),
            fingerprint=f"fp-{i}",
            request_count=2,
            context={"n": i},
            chunk_sizes=[1, 1],
            keys=[(f"a{i}", f"A{i}", 0), (f"b{i}", f"B{i}", 1)],
            endpoint=fields.get("endpoint", ""),
            parent_job_id=fields.get("parent_job_id"),
            round=fields.get("round", 1),
            tag=fields.get("tag", ""),
        )


@pytest.fixture
def count_statements(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> Callable[[Callable[[], object]], int]:
    """How many SQL statements a call makes on ``store``, whichever backend it is."""
    counted: list[str] = []
    if isinstance(store, JobStore):
        conn: sqlite3.Connection = store._conn

        def measure(call: Callable[[], object]) -> int:
            counted.clear()
            conn.set_trace_callback(counted.append)
            try:
                call()
            finally:
                conn.set_trace_callback(None)
            return len(counted)

        return measure
    import psycopg

    original = psycopg.Cursor.execute

    def execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        counted.append(str(query))
        return original(self, query, *args, **kwargs)

    def measure_pg(call: Callable[[], object]) -> int:
        counted.clear()
        with monkeypatch.context() as patch:
            patch.setattr(psycopg.Cursor, "execute", execute)
            call()
        return len(counted)

    return measure_pg


def test_listing_jobs_takes_the_same_queries_for_5_jobs_as_for_50(
    store: Store, count_statements: Callable[[Callable[[], object]], int]
) -> None:
    _add_jobs(store, 5)
    few = count_statements(store.list_jobs)
    _add_jobs(store, 45, start=5)
    many = count_statements(store.list_jobs)
    assert many == few <= 3
    listed = store.list_jobs()
    assert len(listed) == 50
    assert all(len(job.chunks) == 2 for job in listed)
    assert count_statements(lambda: store.child_jobs("job-0000")) <= 3


def test_listed_jobs_are_the_jobs_get_job_reads(store: Store) -> None:
    _add_jobs(store, 2)
    _add_jobs(store, 1, start=2, tag="t2", endpoint="https://elsewhere.example/v1")
    assert store.list_jobs() == [store.get_job(job.job_id) for job in store.list_jobs()]
    assert [job.job_id for job in store.list_jobs()] == ["job-0002", "job-0001", "job-0000"]


def test_list_filters_are_applied_by_the_store(store: Store) -> None:
    _add_jobs(store, 3)  # fake, m1, default endpoint
    _add_jobs(store, 2, start=3, model="m2")
    _add_jobs(store, 2, start=5, endpoint="https://elsewhere.example/v1")
    _add_jobs(store, 1, start=7, parent_job_id="job-0000", round=2)
    _add_jobs(store, 2, start=8, provider="other")

    def ids(**filters: Any) -> list[str]:
        return sorted(job.job_id for job in store.list_jobs(**filters))

    assert len(ids()) == 10
    assert ids(provider="other") == ["job-0008", "job-0009"]
    assert "job-0007" not in ids(first_rounds=True)
    assert ids(provider="fake", model="m2") == ["job-0003", "job-0004"]
    assert ids(provider="fake", endpoint="https://elsewhere.example/v1") == [
        "job-0005",
        "job-0006",
    ]
    assert ids(provider="fake", first_rounds=True, endpoint="", model="m1") == [
        "job-0000",
        "job-0001",
        "job-0002",
    ]
    newest = store.list_jobs(limit=4)
    assert newest == store.list_jobs()[:4]
    assert ids(since=newest[-1].created_at) == sorted(
        job.job_id for job in store.list_jobs() if job.created_at >= newest[-1].created_at
    )
    assert ids(since=newest[0].created_at + 1) == []
