"""Job store operations per second: PostgreSQL against SQLite, in one run.

The store is what every submitter, poller and worker talks to between vendor calls, so
its operations bound how many jobs, chunks and keys a fleet can push through. Each
operation is run through the store contract (what orchestration calls) on a fresh
SQLite file and on a real PostgreSQL server started for the run (``initdb`` and
``pg_ctl`` into a temporary folder, as the tests do; see ``tests/postgres_server.py``),
alternating round by round. "lmbatch" in the table is PostgreSQL and "baseline" is the
embedded SQLite store, so the ratio is what the shared store costs per operation; the
notes give both as operations per second.

Operations measured (the steps of a job's life that touch the store):

* **record a job**: ``create_job`` with N keys (the key map of a 50,000-request chunk
  plan), per key;
* **claim and release a chunk**: ``claim_chunk`` then ``reset_chunk``, per pair;
* **record a batch**: ``claim_chunk`` then ``record_batch`` (a chunk submitted), per chunk;
* **record a batch's cost**: ``record_cost`` (the ledger row written once a batch's
  results are read), per batch;
* **read the key map by pages**: ``iter_keys`` of the whole job (the order results are
  matched back to keys), per key;
* **record outcomes**: ``save_results`` of N ``LMOutput`` rows (a worker keeping a job's
  results in the store), per outcome;
* **read outcomes by key pages**: ``iter_saved_results`` of the whole job (``lmbatch
  results JOB`` on any machine), per outcome;
* **look up a request id**: ``chunk_of`` (reconciling an adopted batch, batchify's
  re-attachment), per look-up;
* **read a job**: ``get_job`` of a job of 100 chunks (every status check), per read;
* **list jobs**: ``list_jobs`` of one provider's 1,000 jobs of 2 chunks (``lmbatch
  jobs``, batchify's re-attachment), per job listed.

PostgreSQL and SQLite each run in this process over one connection; PostgreSQL listens
on 127.0.0.1, so every statement is a local round trip. Skipped with a note when
PostgreSQL's server binaries or psycopg are missing.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks._harness import Result
from lmbatch._store import LedgerEntry
from lmbatch._store_contract import Store, open_store

if TYPE_CHECKING:
    from tests.postgres_server import PostgresServer

#: Chunks of the job the chunk-level operations run on (a large job's chunk count).
_CHUNKS = 100
#: Jobs in the store that listing reads (recorded once per store, under their own
#: provider name so the other operations' jobs are not listed).
_LISTED = 1000
_LISTED_PROVIDER = "bench-listing"
_OWNER = "bench:1"
_counter = itertools.count()
_PLURAL = {"batch": "batches"}
#: One outcome as a worker keeps it (an ``LMOutput`` as JSON, ~350 bytes).
_OUTCOME = (
    '{"key":"KEY","ok":true,"items":[{"type":"text","text":"echo: the answer to question '
    'KEY, a sentence or two long"}],"finish_reason":"stop","model":"gpt-4.1-mini",'
    '"usage":{"input_tokens":42,"output_tokens":17,"cached_input_tokens":0,'
    '"reasoning_tokens":0},"error":null,"finish_details":{}}'
)


@contextlib.contextmanager
def _postgres() -> Iterator[PostgresServer | None]:
    """A throwaway PostgreSQL server for the run, database ``lmbatch_bench`` (None: no
    server binaries or no psycopg here)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        yield None
        return
    from tests.postgres_server import PostgresServer, find_bin_dir

    bin_dir = find_bin_dir()
    if bin_dir is None:
        yield None
        return
    server = PostgresServer(bin_dir)
    try:
        server.start()
        server.admin("CREATE DATABASE lmbatch_bench")
        yield server
    finally:
        server.stop()


def _durable(server: PostgresServer, on: bool) -> None:
    """PostgreSQL's own defaults (every commit flushed to disk), or the tests' settings
    (``fsync``, ``synchronous_commit`` and ``full_page_writes`` off): all reloadable."""
    value = "on" if on else "off"
    for setting in ("fsync", "synchronous_commit", "full_page_writes"):
        server.admin(f"ALTER SYSTEM SET {setting} = {value}")
    server.admin("SELECT pg_reload_conf()")


def _record_job(store: Store, keys: int, chunks: int = 1) -> str:
    """A job of ``keys`` requests split evenly into ``chunks`` chunks; its id."""
    job_id = f"lmbjob_{uuid.uuid4().hex}"
    per_chunk = max(1, keys // chunks)
    sizes = [per_chunk] * chunks
    store.create_job(
        job_id=job_id,
        provider="openai",
        model="gpt-4.1-mini",
        fingerprint=uuid.uuid4().hex,
        request_count=sum(sizes),
        context={},
        chunk_sizes=sizes,
        keys=((f"k{i:08d}_lbbenchtag00", f"k{i:08d}", i // per_chunk) for i in range(sum(sizes))),
        endpoint="",
        tag="_lbbenchtag00",
    )
    return job_id


def _pair(
    prepare_ours: Callable[[], Callable[[], object]],
    prepare_baseline: Callable[[], Callable[[], object]],
    rounds: int,
) -> tuple[float, float]:
    """Median seconds of each side's work, interleaved; set-up (``prepare_*``) untimed."""
    times: tuple[list[float], list[float]] = ([], [])
    sides = ((prepare_ours, times[0]), (prepare_baseline, times[1]))
    for index in range(rounds + 1):  # the first round warms up and is not counted
        for prepare, kept in sides if index % 2 == 0 else reversed(sides):
            work = prepare()
            gc.collect()
            started = time.perf_counter()
            work()
            if index:
                kept.append(time.perf_counter() - started)
    return statistics.median(times[0]), statistics.median(times[1])


def _operations(keys: int) -> list[tuple[str, str, int, Callable[[Store], Callable[[], object]]]]:
    """``(name, unit, items per run, prepare)``: ``prepare(store)`` returns the timed work."""

    def record(store: Store) -> Callable[[], object]:
        return lambda: _record_job(store, keys)

    def claim_release(store: Store) -> Callable[[], object]:
        job_id = _record_job(store, _CHUNKS, _CHUNKS)

        def work() -> None:
            for index in range(_CHUNKS):
                assert store.claim_chunk(job_id, index, _OWNER)
                store.reset_chunk(job_id, index)

        return work

    def record_batches(store: Store) -> Callable[[], object]:
        job_id = _record_job(store, _CHUNKS, _CHUNKS)
        run = next(_counter)

        def work() -> None:
            for index in range(_CHUNKS):
                assert store.claim_chunk(job_id, index, _OWNER)
                store.record_batch(job_id, index, f"batch_{run}_{index}")

        return work

    def record_costs(store: Store) -> Callable[[], object]:
        job_id = _record_job(store, _CHUNKS, _CHUNKS)

        def work() -> None:
            for index in range(_CHUNKS):
                store.record_cost(
                    LedgerEntry(
                        job_id=job_id,
                        chunk_index=index,
                        batch_id=f"batch_{index}",
                        requests=1,
                        unpriced=0,
                        input="0.0001",
                        cached_input="0",
                        output="0.0004",
                        reasoning="0",
                    )
                )

        return work

    def read_keys(store: Store) -> Callable[[], object]:
        job_id = _record_job(store, keys)
        return lambda: sum(1 for _ in store.iter_keys(job_id))

    def record_outcomes(store: Store) -> Callable[[], object]:
        job_id = _record_job(store, keys)
        rows = [(f"k{i:08d}", _OUTCOME.replace("KEY", str(i))) for i in range(keys)]
        return lambda: store.save_results(job_id, rows)

    def read_outcomes(store: Store) -> Callable[[], object]:
        job_id = _record_job(store, keys)
        store.save_results(job_id, [(f"k{i:08d}", _OUTCOME) for i in range(keys)])
        return lambda: sum(1 for _ in store.iter_saved_results(job_id))

    def look_up(store: Store) -> Callable[[], object]:
        job_id = _record_job(store, keys)
        step = max(1, keys // 1000)
        ids = [f"k{i:08d}_lbbenchtag00" for i in range(0, keys, step)][:1000]

        def work() -> None:
            for custom_id in ids:
                assert store.chunk_of(job_id, custom_id) == 0

        return work

    def read_job(store: Store) -> Callable[[], object]:
        job_id = _record_job(store, _CHUNKS, _CHUNKS)

        def work() -> None:
            for _ in range(100):
                assert store.get_job(job_id) is not None

        return work

    def list_jobs(store: Store) -> Callable[[], object]:
        if not store.list_jobs(_LISTED_PROVIDER, limit=1):
            for index in range(_LISTED):
                store.create_job(
                    job_id=f"lmbjob_list{index:05d}",
                    provider=_LISTED_PROVIDER,
                    model="gpt-4.1-mini",
                    fingerprint=uuid.uuid4().hex,
                    request_count=2,
                    context={},
                    chunk_sizes=[1, 1],
                    keys=[("a", "a", 0), ("b", "b", 1)],
                )

        def work() -> None:
            assert len(store.list_jobs(_LISTED_PROVIDER)) == _LISTED

        return work

    lookups = len(range(0, keys, max(1, keys // 1000))[:1000])
    return [
        (f"store: record a job of {keys:,} keys", "key", keys, record),
        ("store: claim and release a chunk", "claim", _CHUNKS, claim_release),
        ("store: claim a chunk and record its batch", "batch", _CHUNKS, record_batches),
        ("store: record a batch's cost", "batch", _CHUNKS, record_costs),
        (f"store: read a {keys:,}-key map by pages", "key", keys, read_keys),
        (f"store: record {keys:,} outcomes", "outcome", keys, record_outcomes),
        (f"store: read {keys:,} outcomes by key pages", "outcome", keys, read_outcomes),
        ("store: look up a request id", "lookup", lookups, look_up),
        (f"store: read a job of {_CHUNKS} chunks", "read", 100, read_job),
        (f"store: list {_LISTED:,} jobs", "job", _LISTED, list_jobs),
    ]


def run(keys: int, rounds: int) -> list[Result]:
    """Each store operation on PostgreSQL (ours) against SQLite (baseline).

    PostgreSQL runs with its default durability (each commit flushed to disk; SQLite's
    store commits in WAL mode with ``synchronous = NORMAL``, which flushes only at
    checkpoints); each row's notes give the ratio with PostgreSQL's flushes off too.
    """
    with _postgres() as server:
        if server is None:
            print(
                "store: skipped (no PostgreSQL server binaries or psycopg here)",
                file=sys.stderr,
            )
            return []
        with tempfile.TemporaryDirectory(prefix="lmbatch-bench-store-") as folder:
            sqlite = open_store(Path(folder) / "jobs.sqlite3")
            postgres = open_store(server.url("lmbatch_bench"))
            operations = _operations(keys)

            def measure() -> list[tuple[float, float]]:
                return [
                    _pair(partial(prepare, postgres), partial(prepare, sqlite), rounds)
                    for _, _, _, prepare in operations
                ]

            try:
                _durable(server, True)
                durable = measure()
                _durable(server, False)
                unflushed = measure()
            finally:
                postgres.close()
                sqlite.close()
    return [
        _result(name, unit, items, pair, fast)
        for (name, unit, items, _), pair, fast in zip(operations, durable, unflushed, strict=True)
    ]


def _result(
    name: str, unit: str, items: int, pair: tuple[float, float], fast: tuple[float, float]
) -> Result:
    ours, baseline = pair
    units = _PLURAL.get(unit, unit + "s")
    return Result(
        name=name,
        unit=unit,
        items=items,
        ours=ours,
        baseline=baseline,
        notes=[
            f"PostgreSQL {items / ours:,.0f} {units}/s, SQLite {items / baseline:,.0f} "
            f"{units}/s; with PostgreSQL's flushes off {items / fast[0]:,.0f} {units}/s "
            f"({fast[0] / fast[1]:.2f}×)"
        ],
        extra={
            "postgres_per_second": items / ours,
            "sqlite_per_second": items / baseline,
            "postgres_unflushed_per_second": items / fast[0],
        },
    )
