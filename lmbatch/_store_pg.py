"""The job store in PostgreSQL: one store shared by workers on many machines.

Selected by a URL (``LMBATCH_STORE=postgresql://user@host/db``, ``store=`` in the config
file, ``--store``); needs ``pip install 'lmbatch[postgresql]'`` (psycopg 3 and its pool,
imported only here). It keeps what the SQLite store keeps, in the same shape, plus the
spool: the encoded input of every chunk is stored in the database in blocks of
:data:`SPOOL_BLOCK` bytes (``spool_blocks``), streamed in and out a block at a time, so
any machine can submit (or resubmit) any chunk. A chunk is copied to a local file only
to be uploaded (providers read a file), in a private folder of this process.

Every write is one transaction, committed before the method returns: intent is on
record before any vendor call, as with SQLite. Claims are ``UPDATE ... WHERE state =
'planned'`` (one winner under concurrency); checks-then-inserts (re-attaching to a job,
one resubmission job per parent, replacing a spooled chunk) take a transaction-scoped
advisory lock so concurrent processes serialise on them.

The schema carries a version in ``lmbatch_schema``. lmbatch creates and migrates it
(one transaction, under an advisory lock, so processes opening a new database at once
create it once); a database written by a newer lmbatch is refused with a
:class:`StoreError`, never half-read.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from lmbatch._errors import ConfigError, LMBatchError, StoreError
from lmbatch._private import make_private_dir, open_private
from lmbatch._store import (
    _KEY_PAGE,
    CHUNK_PLANNED,
    CHUNK_SUBMITTED,
    CHUNK_SUBMITTING,
    WAKE_MEMORY,
    WEBHOOK_MEMORY,
    BudgetRecord,
    ChunkRecord,
    JobRecord,
    LedgerEntry,
    _fits,
)
from lmbatch._store_contract import QueueEntry, Store
from lmbatch._store_listing import JobFilter, build_jobs, chunk_query, job_query
from lmbatch._store_location import _shown
from lmbatch._store_work import PG_WORK_TABLES, PostgresWorkQueue

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

__all__ = ["PG_SCHEMA_VERSION", "SPOOL_BLOCK", "PostgresStore"]

#: The schema version this lmbatch writes to PostgreSQL (its own sequence, not SQLite's).
PG_SCHEMA_VERSION = 6
#: Bytes per row of spooled input.
SPOOL_BLOCK = 1 << 20
# Advisory lock keys (first int of the two-int form): migration, job creation, spool,
# vendor queue reservations.
_LOCK_SCHEMA = 0x6C6D6231
_LOCK_CREATE = 0x6C6D6232
_LOCK_SPOOL = 0x6C6D6233
_LOCK_QUEUE = 0x6C6D6234

_MIGRATIONS: dict[int, tuple[str, ...]] = {
    # Version 1: what SQLite schema version 1 holds, plus the spool.
    1: (
        """CREATE TABLE jobs (
            job_id TEXT PRIMARY KEY,
            provider TEXT NOT NULL,
            model TEXT,
            fingerprint TEXT NOT NULL,
            request_count BIGINT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            context TEXT NOT NULL,
            parent_job_id TEXT,
            round INTEGER NOT NULL DEFAULT 1)""",
        "CREATE INDEX jobs_by_parent ON jobs (parent_job_id)",
        "CREATE INDEX jobs_by_fingerprint ON jobs (provider, fingerprint)",
        """CREATE TABLE chunks (
            job_id TEXT NOT NULL REFERENCES jobs (job_id),
            chunk_index INTEGER NOT NULL,
            request_count BIGINT NOT NULL,
            state TEXT NOT NULL,
            batch_id TEXT,
            updated_at DOUBLE PRECISION NOT NULL,
            owner TEXT,
            provider TEXT NOT NULL DEFAULT '',
            endpoint TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (job_id, chunk_index))""",
        "CREATE UNIQUE INDEX chunks_by_endpoint_batch ON chunks (provider, endpoint, batch_id)",
        "CREATE INDEX chunks_by_batch_id ON chunks (batch_id)",
        """CREATE TABLE request_keys (
            job_id TEXT NOT NULL,
            custom_id TEXT NOT NULL,
            key TEXT NOT NULL,
            chunk_index INTEGER NOT NULL,
            PRIMARY KEY (job_id, custom_id))""",
        "CREATE INDEX request_keys_by_chunk ON request_keys (job_id, chunk_index)",
        """CREATE TABLE spool_checksums (
            job_id TEXT NOT NULL,
            chunk_index INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            size BIGINT NOT NULL,
            PRIMARY KEY (job_id, chunk_index))""",
        """CREATE TABLE cost_ledger (
            job_id TEXT NOT NULL,
            chunk_index INTEGER NOT NULL,
            batch_id TEXT NOT NULL,
            requests BIGINT NOT NULL,
            unpriced BIGINT NOT NULL,
            input TEXT NOT NULL,
            cached_input TEXT NOT NULL,
            output TEXT NOT NULL,
            reasoning TEXT NOT NULL,
            currency TEXT NOT NULL,
            recorded_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (job_id, chunk_index))""",
        """CREATE TABLE cost_budgets (
            job_id TEXT PRIMARY KEY,
            max_cost TEXT NOT NULL,
            max_output_tokens BIGINT,
            note TEXT)""",
        """CREATE TABLE job_connections (
            job_id TEXT PRIMARY KEY,
            endpoint TEXT NOT NULL,
            options TEXT)""",
        # The spool: one row per chunk whose input is stored (written last, in the same
        # transaction as its blocks: a row here means the blocks are complete).
        """CREATE TABLE spool_files (
            job_id TEXT NOT NULL,
            chunk_index INTEGER NOT NULL,
            size BIGINT NOT NULL,
            PRIMARY KEY (job_id, chunk_index))""",
        """CREATE TABLE spool_blocks (
            job_id TEXT NOT NULL,
            chunk_index INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            data BYTEA NOT NULL,
            PRIMARY KEY (job_id, chunk_index, seq))""",
    ),
    # Version 2: what reconciliation keeps (the tables of the same names in SQLite; see
    # lmbatch._store): the tag of each job's request ids, each chunk's create attempt,
    # batches adopted after an interrupted create, batches proven not to be a chunk's.
    2: (
        """CREATE TABLE job_tags (
            job_id TEXT PRIMARY KEY,
            tag TEXT NOT NULL)""",
        """CREATE TABLE create_attempts (
            job_id TEXT NOT NULL,
            chunk_index INTEGER NOT NULL,
            started_at DOUBLE PRECISION NOT NULL,
            vendor_offset DOUBLE PRECISION,
            last_seen DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (job_id, chunk_index))""",
        """CREATE TABLE adopted_batches (
            job_id TEXT NOT NULL,
            chunk_index INTEGER NOT NULL,
            batch_id TEXT NOT NULL,
            verified BOOLEAN NOT NULL DEFAULT FALSE,
            PRIMARY KEY (job_id, chunk_index))""",
        """CREATE TABLE foreign_batches (
            job_id TEXT NOT NULL,
            chunk_index INTEGER NOT NULL,
            batch_id TEXT NOT NULL,
            reason TEXT NOT NULL,
            recorded_at DOUBLE PRECISION NOT NULL,
            disowned BOOLEAN NOT NULL,
            PRIMARY KEY (job_id, chunk_index, batch_id))""",
        "CREATE INDEX foreign_batches_by_batch ON foreign_batches (batch_id)",
    ),
    # Version 3: job labels (``--label``) and the file a job's requests came from.
    3: (
        """CREATE TABLE job_labels (
            job_id TEXT PRIMARY KEY,
            label TEXT,
            source TEXT)""",
        "CREATE INDEX job_labels_by_label ON job_labels (label)",
    ),
    # Version 4: the work queue, workers and kept results of lmbatch.worker (see
    # lmbatch._store_work).
    4: PG_WORK_TABLES,
    # Version 5: webhook deliveries seen (replays are refused) and batch wakes.
    5: (
        """CREATE TABLE webhook_deliveries (
            provider TEXT NOT NULL,
            delivery_id TEXT NOT NULL,
            received_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (provider, delivery_id))""",
        "CREATE INDEX webhook_deliveries_by_time ON webhook_deliveries (received_at)",
        """CREATE TABLE batch_wakes (
            provider TEXT NOT NULL,
            endpoint TEXT NOT NULL,
            batch_id TEXT NOT NULL,
            event_type TEXT NOT NULL,
            wakes BIGINT NOT NULL,
            woken_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (provider, endpoint, batch_id))""",
        "CREATE INDEX batch_wakes_by_time ON batch_wakes (woken_at)",
    ),
    # Version 6: chunks counted against a vendor's batch queue limit (lmbatch._jobs._queue).
    6: (
        """CREATE TABLE queue_entries (
            job_id TEXT NOT NULL,
            chunk_index INTEGER NOT NULL,
            queue TEXT NOT NULL,
            tokens BIGINT NOT NULL,
            requests BIGINT NOT NULL,
            reserved_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (job_id, chunk_index))""",
        "CREATE INDEX queue_entries_by_queue ON queue_entries (queue)",
    ),
}

_F = TypeVar("_F", bound=Callable[..., Any])


def _psycopg() -> Any:
    """psycopg and its pool, or a ConfigError saying how to install them."""
    try:
        import psycopg
        import psycopg_pool
    except ImportError as exc:
        raise ConfigError(
            "a postgresql:// job store needs psycopg 3 and psycopg_pool: "
            "pip install 'lmbatch[postgresql]'"
        ) from exc
    return psycopg, psycopg_pool


def _hide(text: str, url: str) -> str:
    """``text`` without the password of ``url`` (driver messages may echo parts of it)."""
    from urllib.parse import unquote, urlsplit

    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if password:
        text = text.replace(password, "***").replace(unquote(password), "***")
    return text


def _store_error(store: PostgresStore, exc: BaseException) -> StoreError:
    """The :class:`StoreError` for a failure of the database behind ``store``."""
    import psycopg

    detail = _hide(str(exc).strip() or type(exc).__name__, store._url)
    where = store.path
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        why = (
            f"permission denied ({detail}); lmbatch needs a user that may read and write "
            "its tables (SELECT, INSERT, UPDATE, DELETE), and create them on first use"
        )
        return StoreError(f"the job store {where} refused a write: {why}", path=where)
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
        return StoreError(
            f"the job store {where} is read-only ({detail}); point LMBATCH_STORE at the "
            "primary server, not a read replica",
            path=where,
        )
    if isinstance(exc, psycopg.OperationalError):
        return StoreError(f"cannot use the job store {where}: {detail}", path=where)
    return StoreError(f"the job store {where} failed: {detail}", path=where)


def _store_errors(method: _F) -> _F:
    """Turn database failures inside ``method`` into a :class:`StoreError` naming the store.

    Unique violations pass through (callers handle those), as do lmbatch's own errors.
    """

    @functools.wraps(method)
    def wrapper(self: PostgresStore, *args: Any, **kwargs: Any) -> Any:
        import psycopg
        import psycopg_pool

        try:
            return method(self, *args, **kwargs)
        except psycopg.errors.UniqueViolation:
            raise
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise _store_error(self, exc) from exc

    return wrapper  # type: ignore[return-value]


def _remove_folder(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


class PostgresStore(PostgresWorkQueue, Store):
    """The job store in a PostgreSQL database (see the module docs).

    Args:
        url: ``postgresql://user[:password]@host[:port]/database[?options]`` (libpq's
            URL form; ``PGPASSWORD`` and ``~/.pgpass`` work as usual).
        max_connections: Size of the connection pool.
        connect_timeout: Seconds to wait for the server before giving up.

    Raises:
        StoreError: The server cannot be reached, refuses the user, holds a schema of a
            newer lmbatch, or the schema cannot be created (a user without rights).
        ConfigError: psycopg is not installed.
    """

    def __init__(self, url: str, *, max_connections: int = 4, connect_timeout: int = 10) -> None:
        driver, pool_module = _psycopg()
        self._url = url
        self.path = _shown(url)
        self._local: str | None = None
        self._cleanup: weakref.finalize[Any, Any] | None = None
        kwargs = {"connect_timeout": connect_timeout}
        # One direct connection first: its error (unreachable, wrong password...) is
        # the one to report, where a pool would only time out.
        try:
            with driver.connect(url, **kwargs) as conn:
                self._prepare_schema(conn)
        except driver.Error as exc:
            raise _store_error(self, exc) from exc
        self._pool: ConnectionPool[psycopg.Connection[Any]] = pool_module.ConnectionPool(
            url,
            min_size=1,
            max_size=max(1, max_connections),
            kwargs=kwargs,
            timeout=60.0,
            open=True,
            name="lmbatch-store",
        )
        # A pool left to the garbage collector may be collected in one of its own worker
        # threads, which cannot join themselves: a store that is never closed (operations
        # do not close theirs) closes its pool when it is collected, or at exit.
        self._pool_closer = weakref.finalize(self, self._pool.close)

    # -- schema ------------------------------------------------------------------------

    def _prepare_schema(self, conn: psycopg.Connection[Any]) -> None:
        """Refuse a newer schema; create or migrate an older one, once, under a lock."""
        version = self._schema_version(conn)
        conn.commit()
        if version == PG_SCHEMA_VERSION:
            return  # nothing to write: a read-only user can open a current store
        self._refuse_newer(version)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (_LOCK_SCHEMA,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS lmbatch_schema ("
                "id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)"
            )
            conn.execute(
                "INSERT INTO lmbatch_schema (id, version) VALUES (1, 0) ON CONFLICT DO NOTHING"
            )
            version = self._schema_version(conn)
            self._refuse_newer(version)
            for step in range(version + 1, PG_SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[step]:
                    conn.execute(statement)
            conn.execute("UPDATE lmbatch_schema SET version = %s", (PG_SCHEMA_VERSION,))

    @staticmethod
    def _schema_version(conn: psycopg.Connection[Any]) -> int:
        row = conn.execute("SELECT to_regclass('lmbatch_schema') IS NOT NULL").fetchone()
        if row is None or not row[0]:
            return 0
        found = conn.execute("SELECT version FROM lmbatch_schema WHERE id = 1").fetchone()
        return int(found[0]) if found is not None else 0

    def _refuse_newer(self, version: int) -> None:
        if version > PG_SCHEMA_VERSION:
            raise StoreError(
                f"the job store {self.path} was written by a newer lmbatch (schema version "
                f"{version}; this lmbatch knows versions up to {PG_SCHEMA_VERSION}); upgrade "
                "lmbatch to use it, or choose another store with LMBATCH_STORE or store=...",
                path=self.path,
            )

    def __repr__(self) -> str:
        return f"PostgresStore({self.path!r})"

    def close(self) -> None:
        """Close the pool and remove this process's local spool copies."""
        self._pool_closer()
        if self._cleanup is not None:
            self._cleanup()

    def _connection(self) -> Any:
        """A pooled connection; its block is one transaction (committed on success)."""
        return self._pool.connection()

    # -- writing -----------------------------------------------------------------------

    @_store_errors
    def create_job(
        self,
        *,
        job_id: str,
        provider: str,
        model: str | None,
        fingerprint: str,
        request_count: int,
        context: dict[str, Any],
        chunk_sizes: list[int],
        keys: Iterable[tuple[str, str, int]],
        reuse_after: float | None = None,
        parent_job_id: str | None = None,
        round: int = 1,
        endpoint: str = "",
        connection: dict[str, Any] | None = None,
        tag: str = "",
    ) -> tuple[str, bool]:
        """Record a job's intent before anything is sent (see :meth:`JobStore.create_job`)."""
        now = time.time()
        with self._connection() as conn:
            if parent_job_id is not None:
                # One resubmission job per parent: creators of one parent's child queue here.
                conn.execute(
                    "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                    (_LOCK_CREATE, "parent:" + parent_job_id),
                )
                row = conn.execute(
                    "SELECT job_id FROM jobs WHERE parent_job_id = %s ORDER BY created_at LIMIT 1",
                    (parent_job_id,),
                ).fetchone()
                if row is not None:
                    return str(row[0]), False
            if reuse_after is not None:
                conn.execute(
                    "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                    (_LOCK_CREATE, f"job:{provider}:{fingerprint}"),
                )
                row = conn.execute(
                    "SELECT job_id FROM jobs WHERE provider = %s AND fingerprint = %s "
                    "AND created_at >= %s AND parent_job_id IS NULL AND job_id IN "
                    "(SELECT job_id FROM job_connections WHERE endpoint = %s) "
                    "ORDER BY created_at DESC LIMIT 1",
                    (provider, fingerprint, reuse_after, endpoint),
                ).fetchone()
                if row is not None:
                    return str(row[0]), False
            conn.execute(
                "INSERT INTO jobs (job_id, provider, model, fingerprint, request_count, "
                "created_at, context, parent_job_id, round) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    job_id,
                    provider,
                    model,
                    fingerprint,
                    request_count,
                    now,
                    json.dumps(context),
                    parent_job_id,
                    round,
                ),
            )
            conn.execute(
                "INSERT INTO job_connections (job_id, endpoint, options) VALUES (%s, %s, %s)",
                (job_id, endpoint, json.dumps(connection) if connection is not None else None),
            )
            with conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO chunks (job_id, chunk_index, request_count, state, batch_id, "
                    "updated_at, owner, provider, endpoint) "
                    "VALUES (%s, %s, %s, %s, NULL, %s, NULL, %s, %s)",
                    [
                        (job_id, i, size, CHUNK_PLANNED, now, provider, endpoint)
                        for i, size in enumerate(chunk_sizes)
                    ],
                )
                # COPY streams the key map: a million keys never sit in memory at once.
                with cursor.copy(
                    "COPY request_keys (job_id, custom_id, key, chunk_index) FROM STDIN"
                ) as copy:
                    for custom_id, key, chunk in keys:
                        copy.write_row((job_id, custom_id, key, chunk))
            if tag:
                conn.execute("INSERT INTO job_tags (job_id, tag) VALUES (%s, %s)", (job_id, tag))
        return job_id, True

    @_store_errors
    def claim_chunk(self, job_id: str, chunk_index: int, owner: str) -> bool:
        """Atomically move a *planned* chunk to *submitting* for ``owner``.

        Concurrent claims of one chunk queue on its row lock; after the first commits,
        the others re-check ``state = 'planned'`` and update nothing.
        """
        with self._connection() as conn:
            cursor = conn.execute(
                "UPDATE chunks SET state = %s, owner = %s, updated_at = %s "
                "WHERE job_id = %s AND chunk_index = %s AND state = %s",
                (CHUNK_SUBMITTING, owner, time.time(), job_id, chunk_index, CHUNK_PLANNED),
            )
            return bool(cursor.rowcount == 1)

    @_store_errors
    def forget_unsubmitted_job(self, job_id: str) -> bool:
        """Delete a job none of whose chunks was claimed yet (its spooling failed)."""
        with self._connection() as conn:
            # Lock the job's chunks: a claim cannot slip in between the check and the delete.
            states = conn.execute(
                "SELECT state FROM chunks WHERE job_id = %s FOR UPDATE", (job_id,)
            ).fetchall()
            if any(state != CHUNK_PLANNED for (state,) in states):
                return False
            for table in (
                "request_keys",
                "spool_checksums",
                "spool_blocks",
                "spool_files",
                "job_tags",
                "job_labels",
                "chunks",
                "job_connections",
                "jobs",
            ):
                conn.execute(f"DELETE FROM {table} WHERE job_id = %s", (job_id,))
            return True

    def record_batch(self, job_id: str, chunk_index: int, batch_id: str) -> None:
        """Record the vendor batch id of a chunk (see :meth:`JobStore.record_batch`)."""
        import psycopg

        if not isinstance(batch_id, str) or not batch_id:
            raise LMBatchError(
                f"refusing to record {batch_id!r} as the batch id of chunk {chunk_index} "
                f"of job {job_id}"
            )
        try:
            self._set_chunk(job_id, chunk_index, CHUNK_SUBMITTED, batch_id)
        except psycopg.errors.UniqueViolation:
            job = self.get_job(job_id)
            found = self.find_batch(
                batch_id,
                provider=job.provider if job is not None else None,
                endpoint=job.endpoint if job is not None else None,
            )
            owner = f"job {found[0].job_id} chunk {found[1]}" if found else "another chunk"
            raise LMBatchError(
                f"batch id {batch_id!r} is already recorded in the job store for {owner}"
            ) from None

    def mark_uncertain(self, job_id: str, chunk_index: int) -> None:
        """Put a chunk back to *submitting*: its create call may have made a batch."""
        self._set_chunk(job_id, chunk_index, CHUNK_SUBMITTING, None)

    def reset_chunk(self, job_id: str, chunk_index: int) -> None:
        """Return a chunk to *planned* (its create call is known not to have happened)."""
        self._set_chunk(job_id, chunk_index, CHUNK_PLANNED, None)

    @_store_errors
    def _set_chunk(self, job_id: str, chunk_index: int, state: str, batch_id: str | None) -> None:
        with self._connection() as conn:
            cursor = conn.execute(
                "UPDATE chunks SET state = %s, batch_id = COALESCE(%s, batch_id), "
                "updated_at = %s, owner = CASE WHEN %s = 'planned' THEN NULL ELSE owner END "
                "WHERE job_id = %s AND chunk_index = %s",
                (state, batch_id, time.time(), state, job_id, chunk_index),
            )
            if cursor.rowcount != 1:
                raise KeyError(f"no chunk {chunk_index} in job {job_id!r}")

    @_store_errors
    def record_spool_checksum(
        self, job_id: str, chunk_index: int, sha256: str, size: int
    ) -> tuple[str, int]:
        """Record what a chunk's spooled input must hold, unless already recorded."""
        with self._connection() as conn:
            conn.execute(
                "INSERT INTO spool_checksums (job_id, chunk_index, sha256, size) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (job_id, chunk_index, sha256, size),
            )
            row = conn.execute(
                "SELECT sha256, size FROM spool_checksums WHERE job_id = %s AND chunk_index = %s",
                (job_id, chunk_index),
            ).fetchone()
        assert row is not None
        return str(row[0]), int(row[1])

    @_store_errors
    def spool_checksum(self, job_id: str, chunk_index: int) -> tuple[str, int] | None:
        """``(sha256, size)`` recorded for a chunk's spooled input, or None."""
        with self._connection() as conn:
            row = conn.execute(
                "SELECT sha256, size FROM spool_checksums WHERE job_id = %s AND chunk_index = %s",
                (job_id, chunk_index),
            ).fetchone()
        return (str(row[0]), int(row[1])) if row is not None else None

    # -- reading -----------------------------------------------------------------------

    @_store_errors
    def get_job(self, job_id: str) -> JobRecord | None:
        """The job with this lmbatch job id, or None."""
        with self._connection() as conn:
            return self._job(conn, job_id)

    @staticmethod
    def _job(conn: psycopg.Connection[Any], job_id: str) -> JobRecord | None:
        found = PostgresStore._read_jobs(
            conn, JobFilter("jobs.job_id = {p}", (job_id,), "jobs.job_id")
        )
        return found[0] if found else None

    @staticmethod
    def _read_jobs(conn: psycopg.Connection[Any], spec: JobFilter) -> list[JobRecord]:
        """The jobs ``spec`` selects, with their chunks, in two queries."""
        jobs_sql, jobs_params = job_query(spec, "%s")
        rows = conn.execute(jobs_sql, jobs_params).fetchall()
        if not rows:
            return []
        chunks_sql, chunks_params = chunk_query(spec, "%s")
        return build_jobs(rows, conn.execute(chunks_sql, chunks_params).fetchall())

    def _jobs(self, spec: JobFilter) -> list[JobRecord]:
        with self._connection() as conn:
            return self._read_jobs(conn, spec)

    @_store_errors
    def child_jobs(self, job_id: str) -> list[JobRecord]:
        """Jobs that resubmit requests of ``job_id``, in round order."""
        order = "jobs.round, jobs.created_at"
        return self._jobs(JobFilter("jobs.parent_job_id = {p}", (job_id,), order))

    @_store_errors
    def find_batches(
        self, batch_id: str, *, provider: str | None = None, endpoint: str | None = None
    ) -> list[tuple[JobRecord, int]]:
        """Every ``(job, chunk index)`` holding a vendor batch id (one per endpoint)."""
        query = "SELECT job_id, chunk_index FROM chunks WHERE batch_id = %s"
        params: list[Any] = [batch_id]
        if provider is not None:
            query += " AND provider = %s"
            params.append(provider)
        if endpoint is not None:
            query += " AND endpoint = %s"
            params.append(endpoint)
        with self._connection() as conn:
            rows = conn.execute(query + " ORDER BY provider, endpoint", params).fetchall()
            found = []
            for job_id, index in rows:
                job = self._job(conn, job_id)
                if job is not None:
                    found.append((job, int(index)))
        return found

    @_store_errors
    def _key_rows(self, job_id: str, chunk_index: int | None) -> list[tuple[str, str]]:
        query = "SELECT custom_id, key FROM request_keys WHERE job_id = %s"
        params: tuple[Any, ...] = (job_id,)
        if chunk_index is not None:
            query += " AND chunk_index = %s"
            params = (job_id, chunk_index)
        with self._connection() as conn:
            return [(str(a), str(b)) for a, b in conn.execute(query, params).fetchall()]

    def iter_keys(self, job_id: str, chunk_index: int | None = None) -> Iterator[tuple[str, str]]:
        """``(custom_id, key)`` pairs of a job (or one chunk of it), in no set order.

        A whole job is read a page at a time (a million keys held at once cost ~250 MB);
        a chunk (at most one vendor batch) at once.
        """
        if chunk_index is not None:
            yield from self._key_rows(job_id, chunk_index)
            return
        after = ""
        while True:
            page = self._key_page(job_id, after)
            yield from page
            if len(page) < _KEY_PAGE:
                return
            after = page[-1][0]

    @_store_errors
    def _key_page(self, job_id: str, after: str) -> list[tuple[str, str]]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT custom_id, key FROM request_keys WHERE job_id = %s AND custom_id > %s "
                # The column's own collation for both: the primary key's index serves it.
                "ORDER BY custom_id LIMIT %s",
                (job_id, after, _KEY_PAGE),
            ).fetchall()
        return [(str(a), str(b)) for a, b in rows]

    @_store_errors
    def list_jobs(
        self,
        provider: str | None = None,
        *,
        first_rounds: bool = False,
        endpoint: str | None = None,
        model: str | None = None,
        since: float | None = None,
        limit: int | None = None,
    ) -> list[JobRecord]:
        """Every job, newest first, or those the filters keep (see :meth:`Store.list_jobs`)."""
        return self._jobs(
            JobFilter.listing(
                provider,
                first_rounds=first_rounds,
                endpoint=endpoint,
                model=model,
                since=since,
                limit=limit,
            )
        )

    # -- cost ledger -------------------------------------------------------------------

    @_store_errors
    def record_cost(self, entry: LedgerEntry) -> None:
        """Record (or replace: results read again cost nothing more) one batch's cost."""
        with self._connection() as conn:
            conn.execute(
                "INSERT INTO cost_ledger (job_id, chunk_index, batch_id, requests, unpriced, "
                "input, cached_input, output, reasoning, currency, recorded_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (job_id, chunk_index) DO UPDATE SET "
                "batch_id = excluded.batch_id, requests = excluded.requests, "
                "unpriced = excluded.unpriced, input = excluded.input, "
                "cached_input = excluded.cached_input, output = excluded.output, "
                "reasoning = excluded.reasoning, currency = excluded.currency, "
                "recorded_at = excluded.recorded_at",
                (
                    entry.job_id,
                    entry.chunk_index,
                    entry.batch_id,
                    entry.requests,
                    entry.unpriced,
                    entry.input,
                    entry.cached_input,
                    entry.output,
                    entry.reasoning,
                    entry.currency,
                    time.time(),
                ),
            )

    @_store_errors
    def cost_entries(self, job_ids: Iterable[str]) -> list[LedgerEntry]:
        """Ledger entries of these jobs, in job and chunk order."""
        ids = list(job_ids)
        if not ids:
            return []
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT job_id, chunk_index, batch_id, requests, unpriced, input, cached_input, "
                "output, reasoning, currency FROM cost_ledger WHERE job_id = ANY(%s) "
                'ORDER BY job_id COLLATE "C", chunk_index',
                (ids,),
            ).fetchall()
        return [LedgerEntry(*row) for row in rows]

    @_store_errors
    def set_budget(
        self, job_id: str, max_cost: str, max_output_tokens: int | None, note: str | None = None
    ) -> None:
        """Record the budget (USD, decimal text) of a job family, on its first job."""
        with self._connection() as conn:
            conn.execute(
                "INSERT INTO cost_budgets (job_id, max_cost, max_output_tokens, note) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (job_id) DO UPDATE "
                "SET max_cost = excluded.max_cost, "
                "max_output_tokens = excluded.max_output_tokens, "
                "note = COALESCE(excluded.note, cost_budgets.note)",
                (job_id, max_cost, max_output_tokens, note),
            )

    @_store_errors
    def budget(self, job_id: str) -> BudgetRecord | None:
        """The budget recorded for a job family's first job, or None."""
        with self._connection() as conn:
            row = conn.execute(
                "SELECT max_cost, max_output_tokens, note FROM cost_budgets WHERE job_id = %s",
                (job_id,),
            ).fetchone()
        return BudgetRecord(*row) if row is not None else None

    # -- reconciliation (lmbatch._jobs._reconcile) -------------------------------------

    @_store_errors
    def job_tag(self, job_id: str) -> str:
        """The tag every request id of the job ends with (``""``: an untagged job)."""
        with self._connection() as conn:
            row = conn.execute("SELECT tag FROM job_tags WHERE job_id = %s", (job_id,)).fetchone()
        return str(row[0]) if row is not None else ""

    @_store_errors
    def chunk_of(self, job_id: str, custom_id: str) -> int | None:
        """The chunk of ``job_id`` that holds the request id, or None."""
        with self._connection() as conn:
            row = conn.execute(
                "SELECT chunk_index FROM request_keys WHERE job_id = %s AND custom_id = %s",
                (job_id, custom_id),
            ).fetchone()
        return int(row[0]) if row is not None else None

    @_store_errors
    def record_attempt(
        self, job_id: str, chunk_index: int, started_at: float, vendor_offset: float | None
    ) -> None:
        """Note that a create call of the chunk is about to be sent.

        The first attempt is kept (a batch of it may exist); a vendor clock reading fills
        in one that was missing.
        """
        with self._connection() as conn:
            conn.execute(
                "INSERT INTO create_attempts AS a "
                "(job_id, chunk_index, started_at, vendor_offset, last_seen) "
                "VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (job_id, chunk_index) DO UPDATE SET "
                "vendor_offset = COALESCE(a.vendor_offset, excluded.vendor_offset), "
                "last_seen = GREATEST(a.last_seen, excluded.last_seen)",
                (job_id, chunk_index, started_at, vendor_offset, started_at),
            )

    @_store_errors
    def touch_attempt(self, job_id: str, chunk_index: int, seen_at: float) -> None:
        """The chunk's create call was still running (or just ended) at ``seen_at``."""
        with self._connection() as conn:
            conn.execute(
                "UPDATE create_attempts SET last_seen = GREATEST(last_seen, %s) "
                "WHERE job_id = %s AND chunk_index = %s",
                (seen_at, job_id, chunk_index),
            )

    @_store_errors
    def create_attempt(
        self, job_id: str, chunk_index: int
    ) -> tuple[float, float | None, float] | None:
        """``(started_at, vendor_offset, last_seen)`` of the chunk's create attempts."""
        with self._connection() as conn:
            row = conn.execute(
                "SELECT started_at, vendor_offset, last_seen FROM create_attempts "
                "WHERE job_id = %s AND chunk_index = %s",
                (job_id, chunk_index),
            ).fetchone()
        if row is None:
            return None
        offset = float(row[1]) if row[1] is not None else None
        return float(row[0]), offset, float(row[2])

    def adopt_batch(self, job_id: str, chunk_index: int, batch_id: str) -> None:
        """Record a batch found after an interrupted create as the chunk's, unverified.

        Raises:
            LMBatchError: The chunk has a batch already, or the store holds the batch
                for another chunk on the same provider and endpoint.
        """
        import psycopg

        try:
            self._adopt(job_id, chunk_index, batch_id)
        except psycopg.errors.UniqueViolation:
            job = self.get_job(job_id)
            found = self.find_batch(
                batch_id,
                provider=job.provider if job is not None else None,
                endpoint=job.endpoint if job is not None else None,
            )
            owner = f"job {found[0].job_id} chunk {found[1]}" if found else "another chunk"
            raise LMBatchError(
                f"batch id {batch_id!r} is already recorded in the job store for {owner}"
            ) from None

    @_store_errors
    def _adopt(self, job_id: str, chunk_index: int, batch_id: str) -> None:
        # One transaction: the chunk takes the batch (if it has none) and the adoption is
        # on record together; an error rolls both back.
        with self._connection() as conn:
            cursor = conn.execute(
                "UPDATE chunks SET state = %s, batch_id = %s, updated_at = %s "
                "WHERE job_id = %s AND chunk_index = %s AND batch_id IS NULL",
                (CHUNK_SUBMITTED, batch_id, time.time(), job_id, chunk_index),
            )
            if cursor.rowcount != 1:
                raise LMBatchError(f"chunk {chunk_index} of job {job_id} already has a batch")
            conn.execute(
                "INSERT INTO adopted_batches (job_id, chunk_index, batch_id, verified) "
                "VALUES (%s, %s, %s, FALSE) ON CONFLICT (job_id, chunk_index) DO UPDATE "
                "SET batch_id = excluded.batch_id, verified = FALSE",
                (job_id, chunk_index, batch_id),
            )

    @_store_errors
    def adoption(self, job_id: str, chunk_index: int) -> tuple[str, bool] | None:
        """``(batch_id, verified)`` when the chunk's batch was adopted, else None."""
        with self._connection() as conn:
            row = conn.execute(
                "SELECT batch_id, verified FROM adopted_batches "
                "WHERE job_id = %s AND chunk_index = %s",
                (job_id, chunk_index),
            ).fetchone()
        return (str(row[0]), bool(row[1])) if row is not None else None

    @_store_errors
    def mark_verified(self, job_id: str, chunk_index: int) -> None:
        """The adopted batch's results proved it the chunk's own."""
        with self._connection() as conn:
            conn.execute(
                "UPDATE adopted_batches SET verified = TRUE WHERE job_id = %s AND chunk_index = %s",
                (job_id, chunk_index),
            )

    @_store_errors
    def disown_batch(self, job_id: str, chunk_index: int, batch_id: str, reason: str) -> None:
        """The batch is not the chunk's: forget it there (the chunk is *planned* again)."""
        now = time.time()
        with self._connection() as conn:
            conn.execute(
                "UPDATE chunks SET state = %s, batch_id = NULL, owner = NULL, updated_at = %s "
                "WHERE job_id = %s AND chunk_index = %s AND batch_id = %s",
                (CHUNK_PLANNED, now, job_id, chunk_index, batch_id),
            )
            conn.execute(
                "DELETE FROM adopted_batches WHERE job_id = %s AND chunk_index = %s",
                (job_id, chunk_index),
            )
            conn.execute(
                "INSERT INTO foreign_batches "
                "(job_id, chunk_index, batch_id, reason, recorded_at, disowned) "
                "VALUES (%s, %s, %s, %s, %s, TRUE) "
                "ON CONFLICT (job_id, chunk_index, batch_id) DO UPDATE SET "
                "reason = excluded.reason, recorded_at = excluded.recorded_at, disowned = TRUE",
                (job_id, chunk_index, batch_id, reason, now),
            )

    @_store_errors
    def record_foreign(self, job_id: str, chunk_index: int, batch_id: str, reason: str) -> None:
        """Remember that ``batch_id`` is proven not to be the chunk's batch."""
        with self._connection() as conn:
            conn.execute(
                "INSERT INTO foreign_batches "
                "(job_id, chunk_index, batch_id, reason, recorded_at, disowned) "
                "VALUES (%s, %s, %s, %s, %s, FALSE) ON CONFLICT DO NOTHING",
                (job_id, chunk_index, batch_id, reason, time.time()),
            )

    @_store_errors
    def set_job_label(
        self, job_id: str, *, label: str | None = None, source: str | None = None
    ) -> None:
        """Name a job (``--label``) and note the file its requests came from.

        A value left None keeps what was recorded before.
        """
        with self._connection() as conn:
            conn.execute(
                "INSERT INTO job_labels (job_id, label, source) VALUES (%s, %s, %s) "
                "ON CONFLICT (job_id) DO UPDATE "
                "SET label = COALESCE(EXCLUDED.label, job_labels.label), "
                "source = COALESCE(EXCLUDED.source, job_labels.source)",
                (job_id, label, source),
            )

    @_store_errors
    def job_labels(self) -> dict[str, tuple[str | None, str | None]]:
        """``{job_id: (label, source)}`` of every job that has either."""
        with self._connection() as conn:
            rows = conn.execute("SELECT job_id, label, source FROM job_labels").fetchall()
        return {str(job_id): (label, source) for job_id, label, source in rows}

    @_store_errors
    def is_foreign(self, job_id: str, chunk_index: int, batch_id: str) -> bool:
        """Whether ``batch_id`` was proven not to be the chunk's batch."""
        with self._connection() as conn:
            row = conn.execute(
                "SELECT 1 FROM foreign_batches WHERE job_id = %s AND chunk_index = %s "
                "AND batch_id = %s",
                (job_id, chunk_index, batch_id),
            ).fetchone()
        return row is not None

    @_store_errors
    def disowned_record(self, batch_id: str) -> tuple[str, int, str] | None:
        """``(job_id, chunk_index, reason)`` when the batch was adopted, then disowned."""
        with self._connection() as conn:
            row = conn.execute(
                "SELECT job_id, chunk_index, reason FROM foreign_batches "
                "WHERE batch_id = %s AND disowned ORDER BY recorded_at DESC LIMIT 1",
                (batch_id,),
            ).fetchone()
        return (str(row[0]), int(row[1]), str(row[2])) if row is not None else None

    @_store_errors
    def uncertain_chunks(self, provider: str) -> list[tuple[str, ChunkRecord]]:
        """``(job_id, chunk)`` of every chunk of the provider whose create may have happened."""
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT c.job_id, c.chunk_index, c.request_count, c.state, c.owner, c.updated_at "
                "FROM chunks c JOIN jobs j ON j.job_id = c.job_id "
                "WHERE j.provider = %s AND c.state = %s AND c.batch_id IS NULL "
                "ORDER BY c.job_id, c.chunk_index",
                (provider, CHUNK_SUBMITTING),
            ).fetchall()
        return [
            (
                str(r[0]),
                ChunkRecord(
                    index=r[1],
                    request_count=r[2],
                    state=r[3],
                    batch_id=None,
                    owner=r[4],
                    updated_at=r[5],
                ),
            )
            for r in rows
        ]

    # -- spool -------------------------------------------------------------------------

    def spool_dir(self, job_id: str | None = None) -> Path:
        """A private local folder of this process: scratch files and chunk copies.

        The spool itself is in the database; what is here is a copy, removed on
        :meth:`close` (or when the process ends).
        """
        if self._local is None:
            self._local = tempfile.mkdtemp(prefix="lmbatch-spool-")  # 0700
            self._cleanup = weakref.finalize(self, _remove_folder, self._local)
        root = Path(self._local)
        return root / job_id if job_id else root

    @_store_errors
    def spool_put(self, job_id: str, chunk_index: int, source: Path) -> None:
        """Stream ``source`` into the database a block at a time, then keep it as the
        local copy. Replaces what was stored for the chunk, in one transaction."""
        size = 0
        with self._connection() as conn, source.open("rb") as handle:
            # Writers of one chunk queue here; readers see the old input or the new.
            conn.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s || ':' || %s))",
                (_LOCK_SPOOL, job_id, str(chunk_index)),
            )
            conn.execute(
                "DELETE FROM spool_files WHERE job_id = %s AND chunk_index = %s",
                (job_id, chunk_index),
            )
            conn.execute(
                "DELETE FROM spool_blocks WHERE job_id = %s AND chunk_index = %s",
                (job_id, chunk_index),
            )
            seq = 0
            while block := handle.read(SPOOL_BLOCK):
                conn.execute(
                    "INSERT INTO spool_blocks (job_id, chunk_index, seq, data) "
                    "VALUES (%s, %s, %s, %s)",
                    (job_id, chunk_index, seq, block),
                )
                size += len(block)
                seq += 1
            conn.execute(
                "INSERT INTO spool_files (job_id, chunk_index, size) VALUES (%s, %s, %s)",
                (job_id, chunk_index, size),
            )
        target = self.spool_path(job_id, chunk_index)
        make_private_dir(target.parent)
        os.replace(source, target)

    @_store_errors
    def spool_fetch(self, job_id: str, chunk_index: int) -> Path:
        """Stream the chunk's input from the database into the local copy, and return it.

        The path returned does not exist when the database holds no input for the chunk.
        """
        target = self.spool_path(job_id, chunk_index)
        make_private_dir(target.parent)
        handle, name = tempfile.mkstemp(prefix="fetch-", dir=target.parent)
        os.close(handle)
        part = Path(name)
        try:
            with self._connection() as conn:
                # The shared row lock holds off a writer of this chunk until read in full.
                found = conn.execute(
                    "SELECT size FROM spool_files WHERE job_id = %s AND chunk_index = %s FOR SHARE",
                    (job_id, chunk_index),
                ).fetchone()
                if found is None:
                    target.unlink(missing_ok=True)
                    return target
                with (
                    conn.cursor(name="lmbatch_spool_fetch") as cursor,
                    open_private(part, "wb") as out,
                ):
                    cursor.itersize = 4  # a few blocks in memory at a time
                    cursor.execute(
                        "SELECT data FROM spool_blocks WHERE job_id = %s AND chunk_index = %s "
                        "ORDER BY seq",
                        (job_id, chunk_index),
                    )
                    for (data,) in cursor:
                        out.write(data)
            os.replace(part, target)
        finally:
            part.unlink(missing_ok=True)
        return target

    @_store_errors
    def discard_spool(self, job_id: str) -> None:
        """Delete the job's input from the database, and its local copies."""
        with self._connection() as conn:
            conn.execute("DELETE FROM spool_files WHERE job_id = %s", (job_id,))
            conn.execute("DELETE FROM spool_blocks WHERE job_id = %s", (job_id,))
        if self._local is not None:
            shutil.rmtree(self.spool_dir(job_id), ignore_errors=True)

    # -- webhook wakes (lmbatch.webhooks) ----------------------------------------------

    @_store_errors
    def record_webhook(
        self, provider: str, delivery_id: str, wakes: Iterable[tuple[str, str, str]]
    ) -> bool:
        """Remember a webhook delivery and wake its batches, in one transaction.

        Returns:
            False, with nothing recorded, when the delivery was seen before (a replay).
        """
        now = time.time()
        with self._connection() as conn:
            conn.execute(
                "DELETE FROM webhook_deliveries WHERE received_at < %s", (now - WEBHOOK_MEMORY,)
            )
            conn.execute("DELETE FROM batch_wakes WHERE woken_at < %s", (now - WAKE_MEMORY,))
            fresh = conn.execute(
                "INSERT INTO webhook_deliveries (provider, delivery_id, received_at) "
                "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
                (provider, delivery_id, now),
            ).fetchone()
            if fresh is None:
                return False
            for endpoint, batch_id, event_type in wakes:
                conn.execute(
                    "INSERT INTO batch_wakes "
                    "(provider, endpoint, batch_id, event_type, wakes, woken_at) "
                    "VALUES (%s, %s, %s, %s, 1, %s) "
                    "ON CONFLICT (provider, endpoint, batch_id) DO UPDATE SET "
                    "event_type = EXCLUDED.event_type, wakes = batch_wakes.wakes + 1, "
                    "woken_at = EXCLUDED.woken_at",
                    (provider, endpoint, batch_id, event_type, now),
                )
        return True

    @_store_errors
    def wake_counts(self, provider: str, endpoint: str, batch_ids: Iterable[str]) -> dict[str, int]:
        """How many batch events arrived for each batch (batches never woken are left out)."""
        ids = list(batch_ids)
        if not ids:
            return {}
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT batch_id, wakes FROM batch_wakes WHERE provider = %s AND endpoint = %s "
                "AND batch_id = ANY(%s)",
                (provider, endpoint, ids),
            ).fetchall()
        return {str(batch_id): int(count) for batch_id, count in rows}

    # -- vendor queue limits -----------------------------------------------------------

    @_store_errors
    def reserve_queue(
        self,
        queue: str,
        job_id: str,
        chunk_index: int,
        *,
        tokens: int,
        requests: int,
        max_tokens: int | None,
        max_requests: int | None,
    ) -> QueueEntry | None:
        """Count a chunk against ``queue`` if it fits (see :meth:`Store.reserve_queue`)."""
        with self._connection() as conn:
            # One reservation per queue at a time, across every process and machine: the
            # sum read below cannot change before this transaction commits.
            conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_QUEUE, queue))
            row = conn.execute(
                "SELECT COALESCE(SUM(tokens), 0), COALESCE(SUM(requests), 0), COUNT(*) "
                "FROM queue_entries WHERE queue = %s "
                "AND NOT (job_id = %s AND chunk_index = %s)",
                (queue, job_id, chunk_index),
            ).fetchone()
            held_tokens, held_requests, others = (int(v) for v in row)
            if others and not _fits(
                held_tokens, held_requests, tokens, requests, max_tokens, max_requests
            ):
                return None
            entry = QueueEntry(job_id, chunk_index, tokens, requests, time.time())
            conn.execute(
                "INSERT INTO queue_entries "
                "(job_id, chunk_index, queue, tokens, requests, reserved_at) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (job_id, chunk_index) DO UPDATE "
                "SET queue = EXCLUDED.queue, tokens = EXCLUDED.tokens, "
                "requests = EXCLUDED.requests, reserved_at = EXCLUDED.reserved_at",
                (job_id, chunk_index, queue, tokens, requests, entry.reserved_at),
            )
        return entry

    @_store_errors
    def release_queue(
        self, job_id: str, chunk_index: int, reserved_at: float | None = None
    ) -> None:
        """Stop counting a chunk against its queue (see :meth:`Store.release_queue`)."""
        with self._connection() as conn:
            if reserved_at is None:
                conn.execute(
                    "DELETE FROM queue_entries WHERE job_id = %s AND chunk_index = %s",
                    (job_id, chunk_index),
                )
            else:
                conn.execute(
                    "DELETE FROM queue_entries WHERE job_id = %s AND chunk_index = %s "
                    "AND reserved_at = %s",
                    (job_id, chunk_index, reserved_at),
                )

    @_store_errors
    def queue_entries(self, queue: str) -> list[QueueEntry]:
        """The chunks counted against ``queue``, oldest first."""
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT job_id, chunk_index, tokens, requests, reserved_at FROM queue_entries "
                "WHERE queue = %s ORDER BY reserved_at",
                (queue,),
            ).fetchall()
        return [QueueEntry(str(r[0]), int(r[1]), int(r[2]), int(r[3]), float(r[4])) for r in rows]
