"""Worker throughput: ``lmbatch worker`` processes draining detached jobs.

Several OpenAI jobs are recorded with ``detach=True`` (not timed), then real
``lmbatch worker --once`` processes drive them against the emulator (in its own process,
``polls`` mode: no clock waits) until the queue is empty; the time from starting the
workers to the last one exiting is what is measured (process start-up included, on both
sides). Two ratios, each side alternated round by round in the same run:

* 3 workers against 1 worker, both on PostgreSQL: how the work spreads (jobs are the
  unit of work; the machine's cores bound it);
* 1 worker on PostgreSQL against 1 worker on SQLite: what the shared store costs.

PostgreSQL is ``$LMBATCH_BENCH_POSTGRES`` (a URL of a server where databases may be
created), else a throwaway cluster from this machine's server binaries (as the tests
start it); without either, only the SQLite side is timed and the ratios are skipped.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks._harness import Result
from benchmarks.bench_end_to_end import emulator_process

_MODEL = "gpt-4.1-mini"
_WORKER_ARGS = (
    "--once", "--poll-interval", "0.02", "--lease", "30", "--concurrency", "2",
    "--trust-store-endpoints",  # the jobs' recorded server is the local emulator
)  # fmt: skip


@contextmanager
def _postgres() -> Iterator[Callable[[], str] | None]:
    """A function making a fresh database URL per call, or None without PostgreSQL."""
    counter = iter(range(1_000_000))
    given = os.environ.get("LMBATCH_BENCH_POSTGRES")
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))
    from tests.postgres_server import PostgresServer, find_bin_dir

    if given:
        import psycopg

        def fresh_given() -> str:
            name = f"lmbatch_bench_{os.getpid()}_{next(counter)}"
            with psycopg.connect(given, autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {name}".encode())
            return given.rsplit("/", 1)[0] + "/" + name

        yield fresh_given
        return
    bin_dir = find_bin_dir()
    try:
        import psycopg
    except ImportError:
        bin_dir = None
    if bin_dir is None:
        yield None
        return
    server = PostgresServer(bin_dir)
    server.start()
    try:

        def fresh() -> str:
            name = f"lmbatch_bench_{next(counter)}"
            server.admin(f"CREATE DATABASE {name}")
            return server.url(name)

        yield fresh
    finally:
        server.stop()


def _detach(base_url: str, store: str, jobs: int, per_job: int) -> None:
    import lmbatch

    async def record() -> None:
        ops = lmbatch.get_batch_operations(
            "openai", model=_MODEL, base_url=base_url, api_key="bench", store=store
        )
        async with ops:
            for job in range(jobs):
                requests = {f"j{job}-r{i}": f"Job {job}, question {i}?" for i in range(per_job)}
                await ops.create(requests, {"max_tokens": 64}, detach=True)

    asyncio.run(record())


def _drain(store: str, workers: int, scratch: Path) -> float:
    """Seconds for ``workers`` worker processes (each its own folders) to empty the queue."""
    processes = []
    started = time.perf_counter()
    for n in range(workers):
        machine = scratch / f"machine-{n}-{time.monotonic_ns()}"
        machine.mkdir(parents=True)
        env = {
            **os.environ,
            "OPENAI_API_KEY": "bench",
            "HOME": str(machine),
            "TMPDIR": str(machine),
            "XDG_DATA_HOME": str(machine / "data"),
        }
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "lmbatch", "worker", "--store", store, *_WORKER_ARGS],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=env,
            )
        )
    for process in processes:
        _, err = process.communicate(timeout=1800)
        if process.returncode != 0:
            raise RuntimeError(f"a worker failed: {err.decode()[-2000:]}")
    return time.perf_counter() - started


def _check_done(store: str, jobs: int) -> None:
    import lmbatch

    opened = lmbatch.open_store(store)
    try:
        states = [q.state for q in opened.queued_jobs(open_only=False)]
    finally:
        opened.close()
    if states != ["done"] * jobs:
        raise AssertionError(f"workers left jobs unfinished: {states}")


def run(jobs: int, per_job: int, rounds: int) -> list[Result]:
    """Time ``jobs`` detached jobs of ``per_job`` requests drained by workers."""
    scratch = Path(tempfile.mkdtemp(prefix="lmbatch-bench-workers-"))
    sqlite_runs = iter(range(1_000_000))
    times: dict[str, list[float]] = {"sqlite-1": [], "pg-1": [], "pg-3": []}
    with emulator_process() as base_url, _postgres() as fresh_database:

        def one(kind: str) -> float:
            if kind == "sqlite-1":
                store = str(scratch / f"store-{next(sqlite_runs)}.sqlite3")
            else:
                assert fresh_database is not None
                store = fresh_database()
            _detach(base_url, store, jobs, per_job)
            seconds = _drain(store, 3 if kind == "pg-3" else 1, scratch)
            _check_done(store, jobs)
            return seconds

        kinds = ["sqlite-1"] if fresh_database is None else ["sqlite-1", "pg-1", "pg-3"]
        for kind in kinds:
            one(kind)  # warm-up (imports, the server's caches)
        for _ in range(rounds):
            for kind in kinds:
                times[kind].append(one(kind))
    medians = {kind: statistics.median(values) for kind, values in times.items() if values}
    total = jobs * per_job
    rates = {kind: f"{total / seconds:,.0f} requests/s" for kind, seconds in medians.items()}
    extra: dict[str, Any] = {"jobs": jobs, "requests_per_job": per_job, "medians_s": medians}
    if "pg-1" not in medians:
        return [
            Result(
                name="worker, 1 on SQLite (no PostgreSQL here)",
                unit="request",
                items=total,
                ours=medians["sqlite-1"],
                baseline=medians["sqlite-1"],
                notes=[f"{rates['sqlite-1']}; PostgreSQL rows skipped (no server)"],
                extra=extra,
            )
        ]
    return [
        Result(
            name="workers, 3 vs 1 on PostgreSQL",
            unit="request",
            items=total,
            ours=medians["pg-3"],
            baseline=medians["pg-1"],
            notes=[
                f"{jobs} jobs of {per_job} requests: 3 workers {rates['pg-3']}, "
                f"1 worker {rates['pg-1']}"
            ],
            extra=extra,
        ),
        Result(
            name="worker, PostgreSQL vs SQLite (1 worker)",
            unit="request",
            items=total,
            ours=medians["pg-1"],
            baseline=medians["sqlite-1"],
            notes=[f"1 worker: PostgreSQL {rates['pg-1']}, SQLite {rates['sqlite-1']}"],
            extra=extra,
        ),
    ]
