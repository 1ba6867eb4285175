"""What workers keep in the job store: the work queue, its leases, workers, results.

``lmbatch submit --detach`` (``create(..., detach=True)``) records a job and hands it to
the workers by queueing it (``worker_queue``). A worker takes a job by a *lease*: an
atomic conditional update (``SELECT ... FOR UPDATE SKIP LOCKED`` in PostgreSQL, a single
``UPDATE ... WHERE`` under SQLite's write lock) that sets the job's owner and the time its
lease expires. The worker renews its leases with a heartbeat; a worker that dies (even by
SIGKILL) stops renewing, and once its lease expires another worker takes the job over.
Workers also keep a row in ``workers`` (their heartbeat), which tells a chunk claim made
by a dead worker from one made by a live one (:func:`lmbatch._jobs._claims.owner_alive`).

The outcomes a worker collects are kept in ``job_results`` (one row per key, the final
outcome across resubmission rounds, written again as it is read): ``lmbatch results JOB``
then reads them from the store, on any machine.

Times: SQLite is one machine's file and uses its clock; PostgreSQL leases are measured
by the database server's clock, so workers on machines whose clocks disagree still agree
on when a lease ends.

The mixins here hold the SQL of both backends; :class:`~lmbatch.JobStore` and
:class:`~lmbatch._store_pg.PostgresStore` inherit them (new tables, no change to the
tables of earlier versions).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import sqlite3
    import threading

__all__ = [
    "PG_WORK_TABLES",
    "SQLITE_WORK_TABLES",
    "PostgresWorkQueue",
    "QueuedJob",
    "SQLiteWorkQueue",
]

#: Rows of results written per statement (and per transaction in PostgreSQL).
RESULT_PAGE = 1000

SQLITE_WORK_TABLES = """
CREATE TABLE IF NOT EXISTS worker_queue (
    job_id TEXT PRIMARY KEY,
    queued_at REAL NOT NULL,
    settings TEXT NOT NULL,
    owner TEXT,
    lease_expires REAL,
    claims INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    finished_at REAL,
    summary TEXT
);
CREATE INDEX IF NOT EXISTS worker_queue_open ON worker_queue (finished_at, queued_at);
CREATE TABLE IF NOT EXISTS workers (
    owner TEXT PRIMARY KEY,
    started_at REAL NOT NULL,
    heartbeat_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    info TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS job_results (
    job_id TEXT NOT NULL,
    key TEXT NOT NULL,
    output TEXT NOT NULL,
    PRIMARY KEY (job_id, key)
);
"""

#: The PostgreSQL migration that adds the same tables.
PG_WORK_TABLES: tuple[str, ...] = (
    """CREATE TABLE worker_queue (
        job_id TEXT PRIMARY KEY,
        queued_at DOUBLE PRECISION NOT NULL,
        settings TEXT NOT NULL,
        owner TEXT,
        lease_expires DOUBLE PRECISION,
        claims INTEGER NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        finished_at DOUBLE PRECISION,
        summary TEXT)""",
    "CREATE INDEX worker_queue_open ON worker_queue (queued_at) WHERE finished_at IS NULL",
    """CREATE TABLE workers (
        owner TEXT PRIMARY KEY,
        started_at DOUBLE PRECISION NOT NULL,
        heartbeat_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL,
        info TEXT NOT NULL)""",
    """CREATE TABLE job_results (
        job_id TEXT NOT NULL,
        key TEXT NOT NULL,
        output TEXT NOT NULL,
        PRIMARY KEY (job_id, key))""",
)

_PG_NOW = "extract(epoch from clock_timestamp())"

_F = TypeVar("_F", bound=Callable[..., Any])


@dataclass(frozen=True)
class QueuedJob:
    """A job handed to the workers, as the queue holds it."""

    job_id: str
    queued_at: float
    #: How the workers run it: ``resubmit`` rounds, ``retry_on``, ``treat_as_error``.
    settings: dict[str, Any] = field(default_factory=dict)
    #: The worker holding its lease (``host:pid``), or None.
    owner: str | None = None
    lease_expires: float | None = None
    #: How many times a worker took it (more than one: taken over, or retried).
    claims: int = 0
    failures: int = 0
    last_error: str | None = None
    finished_at: float | None = None
    #: What the worker that finished it recorded (``state``, ``outcomes``...).
    summary: dict[str, Any] | None = None

    @property
    def state(self) -> str:
        """``pending``, ``running`` (a worker holds it), ``done`` or ``failed``."""
        if self.finished_at is not None:
            return str((self.summary or {}).get("state", "done"))
        return "running" if self.owner is not None else "pending"


_QUEUE_COLUMNS = (
    "job_id, queued_at, settings, owner, lease_expires, claims, failures, last_error, "
    "finished_at, summary"
)


def _queued(row: tuple[Any, ...]) -> QueuedJob:
    return QueuedJob(
        job_id=str(row[0]),
        queued_at=float(row[1]),
        settings=json.loads(row[2]),
        owner=row[3],
        lease_expires=row[4],
        claims=int(row[5]),
        failures=int(row[6]),
        last_error=row[7],
        finished_at=row[8],
        summary=json.loads(row[9]) if row[9] is not None else None,
    )


def _sqlite_errors(method: _F) -> _F:
    """The SQLite store's error mapping (imported late: that module imports this one)."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        from lmbatch._store import _store_errors

        return _store_errors(method)(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _pg_errors(method: _F) -> _F:
    """The PostgreSQL store's error mapping (imported late, as above)."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        from lmbatch._store_pg import _store_errors

        return _store_errors(method)(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _filters(
    mark: str, provider: str | None, job_ids: Iterable[str] | None, skip: Iterable[str]
) -> tuple[str, list[Any]]:
    """SQL conditions (on ``q`` the queue, ``j`` the jobs) and their parameters."""
    sql, params = "", []
    if provider is not None:
        sql += f" AND j.provider = {mark}"
        params.append(provider)
    if job_ids is not None:
        wanted = list(job_ids)
        if not wanted:
            return " AND FALSE", []
        sql += f" AND q.job_id IN ({', '.join(mark for _ in wanted)})"
        params.extend(wanted)
    skipped = list(skip)
    if skipped:
        sql += f" AND q.job_id NOT IN ({', '.join(mark for _ in skipped)})"
        params.extend(skipped)
    return sql, params


class SQLiteWorkQueue:
    """The work queue in the SQLite store (mixed into :class:`~lmbatch.JobStore`)."""

    if TYPE_CHECKING:
        _lock: threading.RLock
        _conn: sqlite3.Connection

        def _transaction(self) -> Any: ...

    @_sqlite_errors
    def queue_job(self, job_id: str, settings: dict[str, Any]) -> bool:
        """Hand a recorded job to the workers; False if it was queued already."""
        with self._transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO worker_queue (job_id, queued_at, settings) VALUES (?, ?, ?) "
                "ON CONFLICT (job_id) DO NOTHING",
                (job_id, time.time(), json.dumps(settings)),
            )
            return bool(cursor.rowcount == 1)

    @_sqlite_errors
    def claim_queued_job(
        self,
        owner: str,
        lease_seconds: float,
        *,
        provider: str | None = None,
        job_ids: Iterable[str] | None = None,
        skip: Iterable[str] = (),
    ) -> str | None:
        """Take the oldest open job nobody holds (or whose lease expired); its id, or None."""
        conditions, params = _filters("?", provider, job_ids, skip)
        now = time.time()
        with self._transaction() as conn:
            # One statement under the write lock (BEGIN IMMEDIATE): one winner per job.
            row = conn.execute(
                "UPDATE worker_queue SET owner = ?, lease_expires = ?, claims = claims + 1 "
                "WHERE job_id = (SELECT q.job_id FROM worker_queue q JOIN jobs j "
                "ON j.job_id = q.job_id WHERE q.finished_at IS NULL AND "
                f"(q.lease_expires IS NULL OR q.lease_expires < ?){conditions} "
                "ORDER BY q.queued_at LIMIT 1) RETURNING job_id",
                (owner, now + lease_seconds, now, *params),
            ).fetchone()
        return str(row[0]) if row is not None else None

    @_sqlite_errors
    def renew_claims(self, owner: str, lease_seconds: float) -> list[str]:
        """Heartbeat: extend ``owner``'s leases (and its worker row); the jobs it holds."""
        now = time.time()
        with self._transaction() as conn:
            conn.execute(
                "UPDATE workers SET heartbeat_at = ?, expires_at = ? WHERE owner = ?",
                (now, now + lease_seconds, owner),
            )
            rows = conn.execute(
                "UPDATE worker_queue SET lease_expires = ? WHERE owner = ? "
                "AND finished_at IS NULL RETURNING job_id",
                (now + lease_seconds, owner),
            ).fetchall()
        return sorted(str(r[0]) for r in rows)

    @_sqlite_errors
    def release_queued_job(
        self, job_id: str, owner: str, *, retry_after: float | None = None, error: str | None = None
    ) -> None:
        """Give a job back to the queue (``retry_after`` seconds from now, after a failure)."""
        now = time.time()
        with self._transaction() as conn:
            conn.execute(
                "UPDATE worker_queue SET owner = NULL, lease_expires = ?, "
                "failures = failures + ?, last_error = COALESCE(?, last_error) "
                "WHERE job_id = ? AND owner = ?",
                (
                    now + retry_after if retry_after is not None else None,
                    1 if error is not None else 0,
                    error,
                    job_id,
                    owner,
                ),
            )

    @_sqlite_errors
    def finish_queued_job(self, job_id: str, owner: str, summary: dict[str, Any]) -> bool:
        """Mark a job finished by ``owner``; False if ``owner`` no longer held it."""
        with self._transaction() as conn:
            cursor = conn.execute(
                "UPDATE worker_queue SET finished_at = ?, summary = ?, owner = NULL, "
                "lease_expires = NULL WHERE job_id = ? AND owner = ? AND finished_at IS NULL",
                (time.time(), json.dumps(summary), job_id, owner),
            )
            return bool(cursor.rowcount == 1)

    @_sqlite_errors
    def queued_job(self, job_id: str) -> QueuedJob | None:
        """The queue's record of a job, or None (a job never handed to workers)."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_QUEUE_COLUMNS} FROM worker_queue WHERE job_id = ?", (job_id,)
            ).fetchone()
        return _queued(row) if row is not None else None

    @_sqlite_errors
    def queued_jobs(
        self,
        *,
        open_only: bool = True,
        provider: str | None = None,
        job_ids: Iterable[str] | None = None,
    ) -> list[QueuedJob]:
        """Jobs handed to workers (open ones only, by default), oldest first."""
        conditions, params = _filters("?", provider, job_ids, ())
        if open_only:
            conditions += " AND q.finished_at IS NULL"
        columns = ", ".join(f"q.{c}" for c in _QUEUE_COLUMNS.split(", "))
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {columns} FROM worker_queue q JOIN jobs j ON j.job_id = q.job_id "
                f"WHERE 1 = 1{conditions} ORDER BY q.queued_at",
                params,
            ).fetchall()
        return [_queued(row) for row in rows]

    @_sqlite_errors
    def register_worker(self, owner: str, lease_seconds: float, info: dict[str, Any]) -> None:
        """Record a worker and its first heartbeat."""
        now = time.time()
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO workers VALUES (?, ?, ?, ?, ?) ON CONFLICT (owner) DO UPDATE SET "
                "started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, "
                "expires_at = excluded.expires_at, info = excluded.info",
                (owner, now, now, now + lease_seconds, json.dumps(info)),
            )

    @_sqlite_errors
    def retire_worker(self, owner: str) -> None:
        """A worker leaves cleanly: its leases are released and its row removed."""
        with self._transaction() as conn:
            conn.execute(
                "UPDATE worker_queue SET owner = NULL, lease_expires = NULL "
                "WHERE owner = ? AND finished_at IS NULL",
                (owner,),
            )
            conn.execute("DELETE FROM workers WHERE owner = ?", (owner,))

    @_sqlite_errors
    def worker_alive(self, owner: str) -> bool | None:
        """Whether the worker ``owner`` still heartbeats; None: not a worker on record."""
        with self._lock:
            row = self._conn.execute(
                "SELECT expires_at FROM workers WHERE owner = ?", (owner,)
            ).fetchone()
        return None if row is None else float(row[0]) >= time.time()

    @_sqlite_errors
    def save_results(self, job_id: str, rows: Iterable[tuple[str, str]]) -> int:
        """Keep ``(key, output JSON)`` rows as ``job_id``'s outcomes (a key's row is
        replaced when written again); the number of rows written."""
        written = 0
        page: list[tuple[str, str, str]] = []

        def flush() -> None:
            with self._transaction() as conn:
                conn.executemany(
                    "INSERT INTO job_results VALUES (?, ?, ?) ON CONFLICT (job_id, key) "
                    "DO UPDATE SET output = excluded.output",
                    page,
                )
            page.clear()

        for key, output in rows:
            page.append((job_id, key, output))
            written += 1
            if len(page) >= RESULT_PAGE:
                flush()
        if page:
            flush()
        return written

    def iter_saved_results(self, job_id: str) -> Iterator[tuple[str, str]]:
        """``(key, output JSON)`` of the outcomes kept for ``job_id``, a page at a time."""
        after = ""
        while True:
            page = self._result_page(job_id, after)
            yield from page
            if len(page) < RESULT_PAGE:
                return
            after = page[-1][0]

    @_sqlite_errors
    def _result_page(self, job_id: str, after: str) -> list[tuple[str, str]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT key, output FROM job_results WHERE job_id = ? AND key > ? "
                "ORDER BY key LIMIT ?",
                (job_id, after, RESULT_PAGE),
            ).fetchall()
        return [(str(r[0]), str(r[1])) for r in rows]


class PostgresWorkQueue:
    """The work queue in the PostgreSQL store (mixed into ``PostgresStore``)."""

    if TYPE_CHECKING:

        def _connection(self) -> Any: ...

    @_pg_errors
    def queue_job(self, job_id: str, settings: dict[str, Any]) -> bool:
        """Hand a recorded job to the workers; False if it was queued already."""
        with self._connection() as conn:
            cursor = conn.execute(
                "INSERT INTO worker_queue (job_id, queued_at, settings) "
                f"VALUES (%s, {_PG_NOW}, %s) ON CONFLICT (job_id) DO NOTHING",
                (job_id, json.dumps(settings)),
            )
            return bool(cursor.rowcount == 1)

    @_pg_errors
    def claim_queued_job(
        self,
        owner: str,
        lease_seconds: float,
        *,
        provider: str | None = None,
        job_ids: Iterable[str] | None = None,
        skip: Iterable[str] = (),
    ) -> str | None:
        """Take the oldest open job nobody holds (or whose lease expired); its id, or None."""
        conditions, params = _filters("%s", provider, job_ids, skip)
        with self._connection() as conn:
            # Workers picking at once skip each other's locked rows instead of queueing
            # on them; the row's lease is re-checked under its lock.
            row = conn.execute(
                "WITH picked AS (SELECT q.job_id FROM worker_queue q JOIN jobs j "
                "ON j.job_id = q.job_id WHERE q.finished_at IS NULL AND "
                f"(q.lease_expires IS NULL OR q.lease_expires < {_PG_NOW}){conditions} "
                "ORDER BY q.queued_at LIMIT 1 FOR UPDATE OF q SKIP LOCKED) "
                f"UPDATE worker_queue w SET owner = %s, lease_expires = {_PG_NOW} + %s, "
                "claims = w.claims + 1 FROM picked WHERE w.job_id = picked.job_id "
                "RETURNING w.job_id",
                (*params, owner, lease_seconds),
            ).fetchone()
        return str(row[0]) if row is not None else None

    @_pg_errors
    def renew_claims(self, owner: str, lease_seconds: float) -> list[str]:
        """Heartbeat: extend ``owner``'s leases (and its worker row); the jobs it holds."""
        with self._connection() as conn:
            conn.execute(
                f"UPDATE workers SET heartbeat_at = {_PG_NOW}, "
                f"expires_at = {_PG_NOW} + %s WHERE owner = %s",
                (lease_seconds, owner),
            )
            rows = conn.execute(
                f"UPDATE worker_queue SET lease_expires = {_PG_NOW} + %s WHERE owner = %s "
                "AND finished_at IS NULL RETURNING job_id",
                (lease_seconds, owner),
            ).fetchall()
        return sorted(str(r[0]) for r in rows)

    @_pg_errors
    def release_queued_job(
        self, job_id: str, owner: str, *, retry_after: float | None = None, error: str | None = None
    ) -> None:
        """Give a job back to the queue (``retry_after`` seconds from now, after a failure)."""
        with self._connection() as conn:
            conn.execute(
                "UPDATE worker_queue SET owner = NULL, "
                f"lease_expires = CASE WHEN %s::float8 IS NULL THEN NULL "
                f"ELSE {_PG_NOW} + %s::float8 END, "
                "failures = failures + %s, last_error = COALESCE(%s, last_error) "
                "WHERE job_id = %s AND owner = %s",
                (retry_after, retry_after, 1 if error is not None else 0, error, job_id, owner),
            )

    @_pg_errors
    def finish_queued_job(self, job_id: str, owner: str, summary: dict[str, Any]) -> bool:
        """Mark a job finished by ``owner``; False if ``owner`` no longer held it."""
        with self._connection() as conn:
            cursor = conn.execute(
                f"UPDATE worker_queue SET finished_at = {_PG_NOW}, summary = %s, owner = NULL, "
                "lease_expires = NULL WHERE job_id = %s AND owner = %s AND finished_at IS NULL",
                (json.dumps(summary), job_id, owner),
            )
            return bool(cursor.rowcount == 1)

    @_pg_errors
    def queued_job(self, job_id: str) -> QueuedJob | None:
        """The queue's record of a job, or None (a job never handed to workers)."""
        with self._connection() as conn:
            row = conn.execute(
                f"SELECT {_QUEUE_COLUMNS} FROM worker_queue WHERE job_id = %s", (job_id,)
            ).fetchone()
        return _queued(row) if row is not None else None

    @_pg_errors
    def queued_jobs(
        self,
        *,
        open_only: bool = True,
        provider: str | None = None,
        job_ids: Iterable[str] | None = None,
    ) -> list[QueuedJob]:
        """Jobs handed to workers (open ones only, by default), oldest first."""
        conditions, params = _filters("%s", provider, job_ids, ())
        if open_only:
            conditions += " AND q.finished_at IS NULL"
        columns = ", ".join(f"q.{c}" for c in _QUEUE_COLUMNS.split(", "))
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {columns} FROM worker_queue q JOIN jobs j ON j.job_id = q.job_id "
                f"WHERE TRUE{conditions} ORDER BY q.queued_at",
                params,
            ).fetchall()
        return [_queued(row) for row in rows]

    @_pg_errors
    def register_worker(self, owner: str, lease_seconds: float, info: dict[str, Any]) -> None:
        """Record a worker and its first heartbeat."""
        with self._connection() as conn:
            conn.execute(
                f"INSERT INTO workers VALUES (%s, {_PG_NOW}, {_PG_NOW}, {_PG_NOW} + %s, %s) "
                "ON CONFLICT (owner) DO UPDATE SET started_at = excluded.started_at, "
                "heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at, "
                "info = excluded.info",
                (owner, lease_seconds, json.dumps(info)),
            )

    @_pg_errors
    def retire_worker(self, owner: str) -> None:
        """A worker leaves cleanly: its leases are released and its row removed."""
        with self._connection() as conn:
            conn.execute(
                "UPDATE worker_queue SET owner = NULL, lease_expires = NULL "
                "WHERE owner = %s AND finished_at IS NULL",
                (owner,),
            )
            conn.execute("DELETE FROM workers WHERE owner = %s", (owner,))

    @_pg_errors
    def worker_alive(self, owner: str) -> bool | None:
        """Whether the worker ``owner`` still heartbeats; None: not a worker on record."""
        with self._connection() as conn:
            row = conn.execute(
                f"SELECT expires_at >= {_PG_NOW} FROM workers WHERE owner = %s", (owner,)
            ).fetchone()
        return None if row is None else bool(row[0])

    @_pg_errors
    def save_results(self, job_id: str, rows: Iterable[tuple[str, str]]) -> int:
        """Keep ``(key, output JSON)`` rows as ``job_id``'s outcomes (a key's row is
        replaced when written again); the number of rows written."""
        written = 0
        page: list[tuple[str, str, str]] = []

        def flush() -> None:
            with self._connection() as conn, conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO job_results VALUES (%s, %s, %s) ON CONFLICT (job_id, key) "
                    "DO UPDATE SET output = excluded.output",
                    page,
                )
            page.clear()

        for key, output in rows:
            page.append((job_id, key, output))
            written += 1
            if len(page) >= RESULT_PAGE:
                flush()
        if page:
            flush()
        return written

    def iter_saved_results(self, job_id: str) -> Iterator[tuple[str, str]]:
        """``(key, output JSON)`` of the outcomes kept for ``job_id``, a page at a time."""
        after = ""
        while True:
            page = self._result_page(job_id, after)
            yield from page
            if len(page) < RESULT_PAGE:
                return
            after = page[-1][0]

    @_pg_errors
    def _result_page(self, job_id: str, after: str) -> list[tuple[str, str]]:
        with self._connection() as conn:
            rows = conn.execute(
                'SELECT key, output FROM job_results WHERE job_id = %s AND key COLLATE "C" > %s '
                'ORDER BY key COLLATE "C" LIMIT %s',
                (job_id, after, RESULT_PAGE),
            ).fetchall()
        return [(str(r[0]), str(r[1])) for r in rows]
