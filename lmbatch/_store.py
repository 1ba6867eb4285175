"""The job store: every batch lmbatch creates, in SQLite.

A *job* is what one ``create`` call submitted: one or more provider batches (*chunks*),
the map between caller keys and the ids sent to the vendor, a fingerprint of the requests
and hyperparameters, and the context needed to read results later (the endpoint used, the
response schema...). The store is what lets ``retrieve`` restore caller keys in another
process, and lets a re-run find the batches it already created instead of paying twice.

Several processes may share one store file: it runs in WAL mode and every write is a
short transaction.

The schema carries a version (``PRAGMA user_version``, see :data:`SCHEMA_VERSION`). A
store written by an older lmbatch is migrated in place when opened; one written by a
newer lmbatch is refused with a :class:`StoreError`, never half-read.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from lmbatch._errors import ConfigError, LMBatchError, StoreError
from lmbatch._private import make_private_dir, private_store_files
from lmbatch._store_contract import QueueEntry, Store, is_database_url
from lmbatch._store_listing import JobFilter, build_jobs, chunk_query, job_query
from lmbatch._store_location import store_location
from lmbatch._store_work import SQLITE_WORK_TABLES, SQLiteWorkQueue

__all__ = [
    "SCHEMA_VERSION",
    "BudgetRecord",
    "ChunkRecord",
    "JobRecord",
    "JobStore",
    "LedgerEntry",
    "default_store_path",
]

# The tables of a version-0 store (lmbatch 0.1, whose stores carry no version), less the
# index that migration 1 replaces. Every store is brought to SCHEMA_VERSION by _MIGRATIONS
# from there, a new one as well as an old one: one path, exercised by every test.

_SCHEMA = """
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
CREATE TABLE IF NOT EXISTS request_keys (
    job_id TEXT NOT NULL,
    custom_id TEXT NOT NULL,
    key TEXT NOT NULL,
    chunk_index INTEGER NOT NULL,
    PRIMARY KEY (job_id, custom_id)
);
CREATE INDEX IF NOT EXISTS request_keys_by_chunk ON request_keys (job_id, chunk_index);
CREATE TABLE IF NOT EXISTS spool_checksums (
    job_id TEXT NOT NULL,
    chunk_index INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (job_id, chunk_index)
);
CREATE TABLE IF NOT EXISTS cost_ledger (
    job_id TEXT NOT NULL,
    chunk_index INTEGER NOT NULL,
    batch_id TEXT NOT NULL,
    requests INTEGER NOT NULL,
    unpriced INTEGER NOT NULL,
    input TEXT NOT NULL,
    cached_input TEXT NOT NULL,
    output TEXT NOT NULL,
    reasoning TEXT NOT NULL,
    currency TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    PRIMARY KEY (job_id, chunk_index)
);
CREATE TABLE IF NOT EXISTS cost_budgets (
    job_id TEXT PRIMARY KEY,
    max_cost TEXT NOT NULL,
    max_output_tokens INTEGER,
    note TEXT
);
CREATE TABLE IF NOT EXISTS job_tags (
    job_id TEXT PRIMARY KEY,
    tag TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS create_attempts (
    job_id TEXT NOT NULL,
    chunk_index INTEGER NOT NULL,
    started_at REAL NOT NULL,
    vendor_offset REAL,
    last_seen REAL NOT NULL,
    PRIMARY KEY (job_id, chunk_index)
);
CREATE TABLE IF NOT EXISTS adopted_batches (
    job_id TEXT NOT NULL,
    chunk_index INTEGER NOT NULL,
    batch_id TEXT NOT NULL,
    verified INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, chunk_index)
);
CREATE TABLE IF NOT EXISTS foreign_batches (
    job_id TEXT NOT NULL,
    chunk_index INTEGER NOT NULL,
    batch_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    disowned INTEGER NOT NULL,
    PRIMARY KEY (job_id, chunk_index, batch_id)
);
CREATE INDEX IF NOT EXISTS foreign_batches_by_batch ON foreign_batches (batch_id);
CREATE TABLE IF NOT EXISTS job_labels (
    job_id TEXT PRIMARY KEY,
    label TEXT,
    source TEXT
);
CREATE INDEX IF NOT EXISTS job_labels_by_label ON job_labels (label);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    provider TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    received_at REAL NOT NULL,
    PRIMARY KEY (provider, delivery_id)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_time ON webhook_deliveries (received_at);
CREATE TABLE IF NOT EXISTS batch_wakes (
    provider TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    wakes INTEGER NOT NULL,
    woken_at REAL NOT NULL,
    PRIMARY KEY (provider, endpoint, batch_id)
);
CREATE INDEX IF NOT EXISTS batch_wakes_by_time ON batch_wakes (woken_at);
CREATE TABLE IF NOT EXISTS queue_entries (
    job_id TEXT NOT NULL,
    chunk_index INTEGER NOT NULL,
    queue TEXT NOT NULL,
    tokens INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    reserved_at REAL NOT NULL,
    PRIMARY KEY (job_id, chunk_index)
);
CREATE INDEX IF NOT EXISTS queue_entries_by_queue ON queue_entries (queue);
"""
# The work queue, workers and kept results of lmbatch.worker (see lmbatch._store_work).
_SCHEMA += SQLITE_WORK_TABLES
# What reconciliation keeps (lmbatch._jobs._reconcile):
# - job_tags: the tag every request id of a job ends with;
# - create_attempts: per chunk, the local time just before its create call was first
#   sent, the vendor's clock minus ours then (NULL: unknown), and the last local time the
#   call was seen alive (a heartbeat while it runs, and when it ends);
# - adopted_batches: chunks whose batch was found after an interrupted create rather than
#   returned by it (verified = 1 once its results proved it the chunk's own);
# - foreign_batches: batches proven not to be a chunk's, never candidates for it again
#   (disowned = 1: it had been adopted first).
# What webhooks keep (lmbatch.webhooks):
# - webhook_deliveries: the id of every webhook delivery accepted lately, per provider,
#   so a replayed delivery is refused (ids older than WEBHOOK_MEMORY are forgotten: the
#   signature's timestamp refuses those anyway);
# - batch_wakes: per batch, how many batch events arrived (a waiter polls the vendor when
#   the count moves), the last event type and when it came.
# What vendor queue limits keep (lmbatch._jobs._queue):
# - queue_entries: chunks counted against a vendor's batch queue (the estimated tokens
#   and requests of a batch being made or not yet finished), by queue name.

#: The schema version this lmbatch writes. 0: lmbatch 0.1 (batch ids unique per store);
#: 1: batch ids unique per (provider, endpoint identity), connection options per job.
SCHEMA_VERSION = 1

_MIGRATIONS: dict[int, tuple[str, ...]] = {
    # Batch ids are unique per endpoint, not per store: two servers numbering their
    # batches alike must not collide. Existing rows get the vendor's default endpoint
    # (identity ""), and no recorded options (NULL: recorded before lmbatch kept them).
    1: (
        "DROP INDEX IF EXISTS chunks_by_batch",
        "ALTER TABLE chunks ADD COLUMN provider TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE chunks ADD COLUMN endpoint TEXT NOT NULL DEFAULT ''",
        "UPDATE chunks SET provider = COALESCE("
        "(SELECT provider FROM jobs WHERE jobs.job_id = chunks.job_id), '')",
        "CREATE UNIQUE INDEX chunks_by_endpoint_batch ON chunks (provider, endpoint, batch_id)",
        "CREATE INDEX chunks_by_batch_id ON chunks (batch_id)",
        "CREATE TABLE job_connections ("
        "job_id TEXT PRIMARY KEY, endpoint TEXT NOT NULL, options TEXT)",
        "INSERT INTO job_connections (job_id, endpoint, options) SELECT job_id, '', NULL FROM jobs",
    ),
}

#: Seconds a webhook delivery id is remembered (replays are refused within it), and
#: seconds a batch's wake is kept after its last event.
WEBHOOK_MEMORY = 24 * 3600.0
WAKE_MEMORY = 30 * 24 * 3600.0

#: Chunk states: planned (never sent), submitting (a create call may have reached the
#: vendor), submitted (the vendor batch id is known).
CHUNK_PLANNED = "planned"
CHUNK_SUBMITTING = "submitting"
CHUNK_SUBMITTED = "submitted"


def _retry_while_locked(statement: Callable[[], object], attempts: int = 200) -> None:
    """Run ``statement``, waiting out other processes that are creating the same store.

    Switching a new database to WAL takes an exclusive lock that SQLite's busy timeout
    does not wait for, so processes opening one fresh store at once would fail.
    """
    for attempt in range(attempts):
        try:
            statement()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(min(0.5, 0.01 * (attempt + 1)))


_F = TypeVar("_F", bound=Callable[..., Any])
#: Keys read from the store per query when streaming a whole job's keys.
_KEY_PAGE = 10_000


def _store_error(path: str, exc: BaseException) -> StoreError:
    """The :class:`StoreError` for a failure of the store file at ``path``."""
    if isinstance(exc, OSError):
        detail = exc.strerror or str(exc)
        if exc.filename and str(exc.filename) != path:
            detail += f": {exc.filename}"
        if exc.errno == errno.ENOSPC:
            why = f"the disk is full ({detail}); free some space and run again"
        else:
            why = f"{detail}; check the path and its permissions, or choose another store"
        return StoreError(f"cannot use the job store {path}: {why}", path=path)
    text = str(exc)
    if "disk is full" in text or "database is full" in text:
        return StoreError(
            f"cannot write the job store {path}: the disk is full ({text}); "
            "free some space and run again",
            path=path,
        )
    if isinstance(exc, sqlite3.OperationalError):
        return StoreError(f"the job store {path} failed: {text}", path=path)
    # "file is not a database", "database disk image is malformed"...
    return StoreError(
        f"the job store {path} is damaged or is not an lmbatch job store ({text}); move it "
        "aside and run again to start a new store (batches already created stay at the "
        "provider: `lmbatch list` shows them), or choose another store with LMBATCH_STORE "
        "or store=...",
        path=path,
    )


def _store_errors(method: _F) -> _F:
    """Turn SQLite and file-system failures inside ``method`` into a :class:`StoreError`.

    Constraint violations (``IntegrityError``) pass through: callers handle those.
    """

    @functools.wraps(method)
    def wrapper(self: JobStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.IntegrityError:
            raise
        except (sqlite3.DatabaseError, OSError) as exc:
            if method.__name__ == "__init__" and hasattr(self, "_conn"):
                self._conn.close()  # a store that failed to open holds no file open
            raise _store_error(str(getattr(self, "path", "?")), exc) from exc

    return wrapper  # type: ignore[return-value]


def default_store_path() -> Path:
    """Where the store lives unless configured: the user data directory."""
    from platformdirs import user_data_path

    return user_data_path("lmbatch", appauthor=False) / "jobs.sqlite3"


@dataclass(frozen=True)
class ChunkRecord:
    """One provider batch of a job, submitted or not."""

    index: int
    request_count: int
    state: str
    batch_id: str | None
    owner: str | None = None
    updated_at: float = 0.0


@dataclass(frozen=True)
class JobRecord:
    """A job as recorded in the store."""

    job_id: str
    provider: str
    model: str | None
    fingerprint: str
    request_count: int
    created_at: float
    context: dict[str, Any]
    chunks: list[ChunkRecord] = field(default_factory=list)
    parent_job_id: str | None = None
    round: int = 1
    #: The endpoint identity the job's batches live on ("": the vendor's default).
    endpoint: str = ""
    #: The non-secret connection options the job was created with; None for a job
    #: recorded before lmbatch kept them (its endpoint is then assumed, not known).
    connection: dict[str, Any] | None = None
    #: The tag every request id of the job ends with (``""``: none; see lmbatch._keys).
    tag: str = ""

    @property
    def batch_ids(self) -> list[str]:
        """Vendor ids of the chunks submitted so far, in chunk order."""
        return [chunk.batch_id for chunk in self.chunks if chunk.batch_id is not None]


@dataclass(frozen=True)
class LedgerEntry:
    """What the results of one batch of a job cost, recorded once they were all read.

    Amounts are USD as exact decimal text (summed as :class:`decimal.Decimal`).
    """

    job_id: str
    chunk_index: int
    batch_id: str
    requests: int
    #: Outcomes with no known price (their cost is not in the amounts).
    unpriced: int
    input: str
    cached_input: str
    output: str
    reasoning: str
    currency: str = "USD"


@dataclass(frozen=True)
class BudgetRecord:
    """The ``max_cost`` of a job family, as recorded on its first job."""

    max_cost: str
    max_output_tokens: int | None
    #: Why the budget stopped something (a resubmission round), if it did.
    note: str | None = None


class JobStore(SQLiteWorkQueue, Store):
    """SQLite-backed record of jobs, their batches and key maps.

    Args:
        path: A file path (or a ``file://`` URL), or ``":memory:"`` for a private
            in-memory store (tests).

    Raises:
        ConfigError: ``path`` is a URL of another scheme: this store is a local file (a
            ``postgresql://`` URL is opened by :func:`lmbatch.open_store`, or given as
            ``store=``/``LMBATCH_STORE``).
    """

    @_store_errors
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = store_location(path, "the job store path")
        if is_database_url(self.path):
            raise ConfigError(
                "JobStore is the SQLite store and takes a file path; open a PostgreSQL "
                "store with lmbatch.open_store(url), or pass the URL as store=... or "
                "LMBATCH_STORE"
            )
        if self.path != ":memory:":
            make_private_dir(Path(self.path).parent)
            private_store_files(self.path)
        # One connection per store; the lock serialises threads (the emulator and
        # progress display may touch it from helper threads).
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            self.path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA busy_timeout = 30000")
        if self.path != ":memory:":
            _retry_while_locked(lambda: self._conn.execute("PRAGMA journal_mode = WAL"))
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._refuse_newer_schema()
        _retry_while_locked(lambda: self._conn.executescript(_SCHEMA))
        self._migrate()
        self._memory_spool: Path | None = None

    def _schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def _refuse_newer_schema(self) -> None:
        version = self._schema_version()
        if version > SCHEMA_VERSION:
            self._conn.close()
            raise StoreError(
                f"the job store {self.path} was written by a newer lmbatch (schema version "
                f"{version}; this lmbatch knows versions up to {SCHEMA_VERSION}); upgrade "
                "lmbatch to use it, or choose another store with LMBATCH_STORE or store=...",
                path=self.path,
            )

    def _migrate(self) -> None:
        """Bring the schema to :data:`SCHEMA_VERSION`, one version per transaction.

        Each step re-reads the version under the write lock, so processes opening one
        old store at once migrate it once.
        """
        while self._schema_version() < SCHEMA_VERSION:
            with self._transaction() as conn:
                version = self._schema_version()
                if version >= SCHEMA_VERSION:
                    break
                for statement in _MIGRATIONS[version + 1]:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version + 1}")

    def __repr__(self) -> str:
        return f"JobStore({self.path!r})"

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    class _Tx:
        def __init__(self, store: JobStore) -> None:
            self._store = store

        def __enter__(self) -> sqlite3.Connection:
            self._store._lock.acquire()
            # IMMEDIATE takes the write lock up front, so two processes planning the same
            # job serialise instead of both reading "not there yet".
            self._store._conn.execute("BEGIN IMMEDIATE")
            return self._store._conn

        def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
            try:
                self._store._conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
            finally:
                self._store._lock.release()

    def _transaction(self) -> JobStore._Tx:
        return JobStore._Tx(self)

    # -- writing ---------------------------------------------------------------------

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
        """Record a job's intent before anything is sent.

        Args:
            keys: ``(custom_id, key, chunk_index)`` for every request.
            reuse_after: When set, a job of the same provider and fingerprint created
                after this unix time is returned instead of recording a new one. The
                check and the insert are one transaction, so two processes running the
                same job agree on one.
            parent_job_id: The job whose failed requests this job resubmits.
            round: 1 for a first submission, 2 for its first resubmission...
            endpoint: The endpoint identity of the connection options (see
                :meth:`ProviderSettings.endpoint_identity`); batch ids are unique per
                provider and endpoint, and ``reuse_after`` only finds jobs on it.
            connection: The non-secret connection options in effect (recorded so later
                commands on the job talk to the same endpoint). Never secrets.
            tag: The tag every request id of the job ends with (``""``: none).

        Returns:
            ``(job_id, created)``: the id of the new job, or of the existing one.
        """
        now = time.time()
        with self._transaction() as conn:
            if parent_job_id is not None:
                # One resubmission job per parent, whoever gets here first.
                row = conn.execute(
                    "SELECT job_id FROM jobs WHERE parent_job_id = ? ORDER BY created_at LIMIT 1",
                    (parent_job_id,),
                ).fetchone()
                if row is not None:
                    return row[0], False
            if reuse_after is not None:
                row = conn.execute(
                    "SELECT job_id FROM jobs WHERE provider = ? AND fingerprint = ? "
                    "AND created_at >= ? AND parent_job_id IS NULL AND job_id IN "
                    "(SELECT job_id FROM job_connections WHERE endpoint = ?) "
                    "ORDER BY created_at DESC LIMIT 1",
                    (provider, fingerprint, reuse_after, endpoint),
                ).fetchone()
                if row is not None:
                    return row[0], False
            conn.execute(
                "INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                "INSERT INTO job_connections (job_id, endpoint, options) VALUES (?, ?, ?)",
                (job_id, endpoint, json.dumps(connection) if connection is not None else None),
            )
            conn.executemany(
                "INSERT INTO chunks (job_id, chunk_index, request_count, state, batch_id, "
                "updated_at, owner, provider, endpoint) VALUES (?, ?, ?, ?, NULL, ?, NULL, ?, ?)",
                [
                    (job_id, i, size, CHUNK_PLANNED, now, provider, endpoint)
                    for i, size in enumerate(chunk_sizes)
                ],
            )
            conn.executemany(
                "INSERT INTO request_keys VALUES (?, ?, ?, ?)",
                ((job_id, custom_id, key, chunk) for custom_id, key, chunk in keys),
            )
            if tag:
                conn.execute("INSERT INTO job_tags VALUES (?, ?)", (job_id, tag))
        return job_id, True

    @_store_errors
    def claim_chunk(self, job_id: str, chunk_index: int, owner: str) -> bool:
        """Atomically move a *planned* chunk to *submitting* for ``owner``.

        Returns False when another process got there first.
        """
        with self._transaction() as conn:
            cursor = conn.execute(
                "UPDATE chunks SET state = ?, owner = ?, updated_at = ? "
                "WHERE job_id = ? AND chunk_index = ? AND state = ?",
                (CHUNK_SUBMITTING, owner, time.time(), job_id, chunk_index, CHUNK_PLANNED),
            )
            return cursor.rowcount == 1

    @_store_errors
    def forget_unsubmitted_job(self, job_id: str) -> bool:
        """Delete a job none of whose chunks was claimed yet (its spooling failed).

        Returns False, deleting nothing, once any chunk left *planned*: then a create
        call may be under way, and the job must stay on record.
        """
        with self._transaction() as conn:
            started = conn.execute(
                "SELECT COUNT(*) FROM chunks WHERE job_id = ? AND state != ?",
                (job_id, CHUNK_PLANNED),
            ).fetchone()[0]
            if started:
                return False
            conn.execute("DELETE FROM request_keys WHERE job_id = ?", (job_id,))
            conn.execute("DELETE FROM spool_checksums WHERE job_id = ?", (job_id,))
            conn.execute("DELETE FROM job_tags WHERE job_id = ?", (job_id,))
            conn.execute("DELETE FROM chunks WHERE job_id = ?", (job_id,))
            conn.execute("DELETE FROM job_connections WHERE job_id = ?", (job_id,))
            conn.execute("DELETE FROM job_labels WHERE job_id = ?", (job_id,))
            conn.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,))
            return True

    @_store_errors
    def child_jobs(self, job_id: str) -> list[JobRecord]:
        """Jobs that resubmit requests of ``job_id``, in round order."""
        order = "jobs.round, jobs.created_at"
        return self._read_jobs(JobFilter("jobs.parent_job_id = {p}", (job_id,), order))

    def spool_dir(self, job_id: str | None = None) -> Path:
        """Where encoded input of unsubmitted chunks waits (kept until submitted).

        Beside the store file, so that a job can be resumed from the store alone.
        """
        if self.path == ":memory:":
            if self._memory_spool is None:
                self._memory_spool = Path(tempfile.mkdtemp(prefix="lmbatch-spool-"))
            root = self._memory_spool
        else:
            root = Path(self.path + ".spool")
        return root / job_id if job_id else root

    def spool_put(self, job_id: str, chunk_index: int, source: Path) -> None:
        """Move ``source`` into the spool folder as the chunk's input."""
        target = self.spool_path(job_id, chunk_index)
        make_private_dir(target.parent)
        os.replace(source, target)

    def spool_fetch(self, job_id: str, chunk_index: int) -> Path:
        """The chunk's file in the spool folder (read in place)."""
        return self.spool_path(job_id, chunk_index)

    def discard_spool(self, job_id: str) -> None:
        """Delete the job's spool folder."""
        shutil.rmtree(self.spool_dir(job_id), ignore_errors=True)

    def record_batch(self, job_id: str, chunk_index: int, batch_id: str) -> None:
        """Record the vendor batch id of a chunk, the moment it is known.

        Batch ids are unique per provider and endpoint identity (the job's), not per
        store: another endpoint's batch of the same id is another batch.

        Raises:
            LMBatchError: The id is empty, or already recorded for another chunk on the
                same provider and endpoint (the vendor handed out one id twice).
        """
        if not isinstance(batch_id, str) or not batch_id:
            # A chunk "submitted" without an id can be neither polled nor resubmitted.
            raise LMBatchError(
                f"refusing to record {batch_id!r} as the batch id of chunk {chunk_index} "
                f"of job {job_id}"
            )
        try:
            self._set_chunk(job_id, chunk_index, CHUNK_SUBMITTED, batch_id)
        except sqlite3.IntegrityError:
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
    def record_spool_checksum(
        self, job_id: str, chunk_index: int, sha256: str, size: int
    ) -> tuple[str, int]:
        """Record what a chunk's spooled input must hold, unless already recorded.

        The first record wins (a job's input never changes), so processes spooling the
        same job agree on one.

        Returns:
            ``(sha256, size)`` as recorded.
        """
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO spool_checksums VALUES (?, ?, ?, ?)",
                (job_id, chunk_index, sha256, size),
            )
            row = conn.execute(
                "SELECT sha256, size FROM spool_checksums WHERE job_id = ? AND chunk_index = ?",
                (job_id, chunk_index),
            ).fetchone()
        return str(row[0]), int(row[1])

    @_store_errors
    def spool_checksum(self, job_id: str, chunk_index: int) -> tuple[str, int] | None:
        """``(sha256, size)`` recorded for a chunk's spooled input, or None (none recorded)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT sha256, size FROM spool_checksums WHERE job_id = ? AND chunk_index = ?",
                (job_id, chunk_index),
            ).fetchone()
        return (str(row[0]), int(row[1])) if row is not None else None

    @_store_errors
    def mark_uncertain(self, job_id: str, chunk_index: int) -> None:
        """Put a chunk back to *submitting*: its create call may have made a batch.

        Used for a chunk recorded as submitted without a batch id; it is then reconciled
        with the vendor like any create whose outcome is unknown.
        """
        self._set_chunk(job_id, chunk_index, CHUNK_SUBMITTING, None)

    def reset_chunk(self, job_id: str, chunk_index: int) -> None:
        """Return a chunk to *planned* (its create call is known not to have happened)."""
        self._set_chunk(job_id, chunk_index, CHUNK_PLANNED, None)

    @_store_errors
    def _set_chunk(self, job_id: str, chunk_index: int, state: str, batch_id: str | None) -> None:
        with self._transaction() as conn:
            cursor = conn.execute(
                "UPDATE chunks SET state = ?, batch_id = COALESCE(?, batch_id), updated_at = ?, "
                "owner = CASE WHEN ? = 'planned' THEN NULL ELSE owner END "
                "WHERE job_id = ? AND chunk_index = ?",
                (state, batch_id, time.time(), state, job_id, chunk_index),
            )
            if cursor.rowcount != 1:
                raise KeyError(f"no chunk {chunk_index} in job {job_id!r}")

    # -- reading ---------------------------------------------------------------------

    @_store_errors
    def get_job(self, job_id: str) -> JobRecord | None:
        """The job with this lmbatch job id, or None."""
        found = self._read_jobs(JobFilter("jobs.job_id = {p}", (job_id,), "jobs.job_id"))
        return found[0] if found else None

    def _read_jobs(self, spec: JobFilter) -> list[JobRecord]:
        """The jobs ``spec`` selects, with their chunks, in two queries."""
        jobs_sql, jobs_params = job_query(spec, "?")
        chunks_sql, chunks_params = chunk_query(spec, "?")
        with self._lock:
            rows = self._conn.execute(jobs_sql, jobs_params).fetchall()
            chunk_rows = self._conn.execute(chunks_sql, chunks_params).fetchall() if rows else []
        return build_jobs(rows, chunk_rows)

    @_store_errors
    def find_batch(
        self, batch_id: str, *, provider: str | None = None, endpoint: str | None = None
    ) -> tuple[JobRecord, int] | None:
        """The job holding a vendor batch id, and the chunk index, or None.

        Args:
            provider: Only this provider's batches.
            endpoint: Only batches on this endpoint identity. With ``provider`` too,
                there is at most one such batch; without, the first found is returned:
                use :meth:`find_batches` to see them all.
        """
        found = self.find_batches(batch_id, provider=provider, endpoint=endpoint)
        return found[0] if found else None

    @_store_errors
    def find_batches(
        self, batch_id: str, *, provider: str | None = None, endpoint: str | None = None
    ) -> list[tuple[JobRecord, int]]:
        """Every ``(job, chunk index)`` holding a vendor batch id (one per endpoint)."""
        query = "SELECT job_id, chunk_index FROM chunks WHERE batch_id = ?"
        params: list[Any] = [batch_id]
        if provider is not None:
            query += " AND provider = ?"
            params.append(provider)
        if endpoint is not None:
            query += " AND endpoint = ?"
            params.append(endpoint)
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY provider, endpoint", params).fetchall()
        found = []
        for job_id, index in rows:
            job = self.get_job(job_id)
            if job is not None:
                found.append((job, int(index)))
        return found

    def iter_keys(self, job_id: str, chunk_index: int | None = None) -> Iterator[tuple[str, str]]:
        """``(custom_id, key)`` pairs of a job (or one chunk of it), in no set order.

        A whole job is read a page at a time (a million keys held at once cost ~250 MB);
        a chunk (at most one vendor batch) at once.
        """
        if chunk_index is not None:
            with self._lock:
                rows = self._conn.execute(
                    "SELECT custom_id, key FROM request_keys WHERE job_id = ? AND chunk_index = ?",
                    (job_id, chunk_index),
                ).fetchall()
            yield from rows
            return
        after = ""
        while True:
            with self._lock:  # not held between pages: the caller runs in between
                page = self._conn.execute(
                    "SELECT custom_id, key FROM request_keys WHERE job_id = ? AND custom_id > ? "
                    "ORDER BY custom_id LIMIT ?",
                    (job_id, after, _KEY_PAGE),
                ).fetchall()
            yield from page
            if len(page) < _KEY_PAGE:
                return
            after = page[-1][0]

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
        return self._read_jobs(
            JobFilter.listing(
                provider,
                first_rounds=first_rounds,
                endpoint=endpoint,
                model=model,
                since=since,
                limit=limit,
            )
        )

    # -- labels ------------------------------------------------------------------------

    @_store_errors
    def set_job_label(
        self, job_id: str, *, label: str | None = None, source: str | None = None
    ) -> None:
        """Name a job (``--label``) and note the file its requests came from.

        A value left None keeps what was recorded before.
        """
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO job_labels VALUES (?, ?, ?) ON CONFLICT (job_id) DO UPDATE "
                "SET label = COALESCE(excluded.label, label), "
                "source = COALESCE(excluded.source, source)",
                (job_id, label, source),
            )

    @_store_errors
    def job_labels(self) -> dict[str, tuple[str | None, str | None]]:
        """``{job_id: (label, source)}`` of every job that has either."""
        with self._lock:
            rows = self._conn.execute("SELECT job_id, label, source FROM job_labels").fetchall()
        return {job_id: (label, source) for job_id, label, source in rows}

    # -- cost ledger -------------------------------------------------------------------

    @_store_errors
    def record_cost(self, entry: LedgerEntry) -> None:
        """Record (or replace: results read again cost nothing more) one batch's cost."""
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO cost_ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        marks = ", ".join("?" for _ in ids)
        with self._lock:
            rows = self._conn.execute(
                "SELECT job_id, chunk_index, batch_id, requests, unpriced, input, cached_input, "
                f"output, reasoning, currency FROM cost_ledger WHERE job_id IN ({marks}) "
                "ORDER BY job_id, chunk_index",
                ids,
            ).fetchall()
        return [LedgerEntry(*row) for row in rows]

    @_store_errors
    def set_budget(
        self, job_id: str, max_cost: str, max_output_tokens: int | None, note: str | None = None
    ) -> None:
        """Record the budget (USD, decimal text) of a job family, on its first job.

        ``max_output_tokens`` is the per-request output bound the budget was checked
        with, so later resubmission rounds are checked the same way.
        """
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO cost_budgets VALUES (?, ?, ?, ?) ON CONFLICT (job_id) DO UPDATE "
                "SET max_cost = excluded.max_cost, "
                "max_output_tokens = excluded.max_output_tokens, "
                "note = COALESCE(excluded.note, note)",
                (job_id, max_cost, max_output_tokens, note),
            )

    @_store_errors
    def budget(self, job_id: str) -> BudgetRecord | None:
        """The budget recorded for a job family's first job, or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT max_cost, max_output_tokens, note FROM cost_budgets WHERE job_id = ?",
                (job_id,),
            ).fetchone()
        return BudgetRecord(*row) if row is not None else None

    # -- reconciliation (lmbatch._jobs._reconcile) -------------------------------------

    @_store_errors
    def job_tag(self, job_id: str) -> str:
        """The tag every request id of the job ends with (``""``: an untagged job)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT tag FROM job_tags WHERE job_id = ?", (job_id,)
            ).fetchone()
        return str(row[0]) if row is not None else ""

    @_store_errors
    def chunk_of(self, job_id: str, custom_id: str) -> int | None:
        """The chunk of ``job_id`` that holds the request id, or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT chunk_index FROM request_keys WHERE job_id = ? AND custom_id = ?",
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
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO create_attempts VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (job_id, chunk_index) DO UPDATE SET "
                "vendor_offset = COALESCE(vendor_offset, excluded.vendor_offset), "
                "last_seen = MAX(last_seen, excluded.last_seen)",
                (job_id, chunk_index, started_at, vendor_offset, started_at),
            )

    @_store_errors
    def touch_attempt(self, job_id: str, chunk_index: int, seen_at: float) -> None:
        """The chunk's create call was still running (or just ended) at ``seen_at``."""
        with self._transaction() as conn:
            conn.execute(
                "UPDATE create_attempts SET last_seen = MAX(last_seen, ?) "
                "WHERE job_id = ? AND chunk_index = ?",
                (seen_at, job_id, chunk_index),
            )

    @_store_errors
    def create_attempt(
        self, job_id: str, chunk_index: int
    ) -> tuple[float, float | None, float] | None:
        """``(started_at, vendor_offset, last_seen)`` of the chunk's create attempts."""
        with self._lock:
            row = self._conn.execute(
                "SELECT started_at, vendor_offset, last_seen FROM create_attempts "
                "WHERE job_id = ? AND chunk_index = ?",
                (job_id, chunk_index),
            ).fetchone()
        return (float(row[0]), row[1], float(row[2])) if row is not None else None

    @_store_errors
    def adopt_batch(self, job_id: str, chunk_index: int, batch_id: str) -> None:
        """Record a batch found after an interrupted create as the chunk's, unverified.

        Raises:
            LMBatchError: The store already holds the batch (for this or another chunk).
        """
        try:
            with self._transaction() as conn:
                cursor = conn.execute(
                    "UPDATE chunks SET state = ?, batch_id = ?, updated_at = ? "
                    "WHERE job_id = ? AND chunk_index = ? AND batch_id IS NULL",
                    (CHUNK_SUBMITTED, batch_id, time.time(), job_id, chunk_index),
                )
                if cursor.rowcount != 1:
                    raise LMBatchError(f"chunk {chunk_index} of job {job_id} already has a batch")
                conn.execute(
                    "INSERT OR REPLACE INTO adopted_batches VALUES (?, ?, ?, 0)",
                    (job_id, chunk_index, batch_id),
                )
        except sqlite3.IntegrityError:
            # Batch ids are unique per provider and endpoint: name the chunk of the same
            # endpoint that holds it, not a namesake elsewhere.
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
    def adoption(self, job_id: str, chunk_index: int) -> tuple[str, bool] | None:
        """``(batch_id, verified)`` when the chunk's batch was adopted, else None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT batch_id, verified FROM adopted_batches "
                "WHERE job_id = ? AND chunk_index = ?",
                (job_id, chunk_index),
            ).fetchone()
        return (str(row[0]), bool(row[1])) if row is not None else None

    @_store_errors
    def mark_verified(self, job_id: str, chunk_index: int) -> None:
        """The adopted batch's results proved it the chunk's own."""
        with self._transaction() as conn:
            conn.execute(
                "UPDATE adopted_batches SET verified = 1 WHERE job_id = ? AND chunk_index = ?",
                (job_id, chunk_index),
            )

    @_store_errors
    def disown_batch(self, job_id: str, chunk_index: int, batch_id: str, reason: str) -> None:
        """The batch is not the chunk's: forget it there (the chunk is *planned* again)."""
        now = time.time()
        with self._transaction() as conn:
            conn.execute(
                "UPDATE chunks SET state = ?, batch_id = NULL, owner = NULL, updated_at = ? "
                "WHERE job_id = ? AND chunk_index = ? AND batch_id = ?",
                (CHUNK_PLANNED, now, job_id, chunk_index, batch_id),
            )
            conn.execute(
                "DELETE FROM adopted_batches WHERE job_id = ? AND chunk_index = ?",
                (job_id, chunk_index),
            )
            conn.execute(
                "INSERT OR REPLACE INTO foreign_batches VALUES (?, ?, ?, ?, ?, 1)",
                (job_id, chunk_index, batch_id, reason, now),
            )

    @_store_errors
    def record_foreign(self, job_id: str, chunk_index: int, batch_id: str, reason: str) -> None:
        """Remember that ``batch_id`` is proven not to be the chunk's batch."""
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO foreign_batches VALUES (?, ?, ?, ?, ?, 0)",
                (job_id, chunk_index, batch_id, reason, time.time()),
            )

    @_store_errors
    def is_foreign(self, job_id: str, chunk_index: int, batch_id: str) -> bool:
        """Whether ``batch_id`` was proven not to be the chunk's batch."""
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM foreign_batches WHERE job_id = ? AND chunk_index = ? "
                "AND batch_id = ?",
                (job_id, chunk_index, batch_id),
            ).fetchone()
        return row is not None

    @_store_errors
    def disowned_record(self, batch_id: str) -> tuple[str, int, str] | None:
        """``(job_id, chunk_index, reason)`` when the batch was adopted, then disowned."""
        with self._lock:
            row = self._conn.execute(
                "SELECT job_id, chunk_index, reason FROM foreign_batches "
                "WHERE batch_id = ? AND disowned = 1 ORDER BY recorded_at DESC LIMIT 1",
                (batch_id,),
            ).fetchone()
        return (str(row[0]), int(row[1]), str(row[2])) if row is not None else None

    @_store_errors
    def uncertain_chunks(self, provider: str) -> list[tuple[str, ChunkRecord]]:
        """``(job_id, chunk)`` of every chunk of the provider whose create may have happened."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT c.job_id, c.chunk_index, c.request_count, c.state, c.owner, c.updated_at "
                "FROM chunks c JOIN jobs j ON j.job_id = c.job_id "
                "WHERE j.provider = ? AND c.state = ? AND c.batch_id IS NULL",
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

    # -- webhook wakes (lmbatch.webhooks) ----------------------------------------------

    @_store_errors
    def record_webhook(
        self, provider: str, delivery_id: str, wakes: Iterable[tuple[str, str, str]]
    ) -> bool:
        """Remember a webhook delivery and wake its batches, in one transaction.

        Args:
            provider: The provider whose vendor sent it.
            delivery_id: The delivery's id (``webhook-id``).
            wakes: ``(endpoint, batch_id, event_type)`` of each batch it wakes.

        Returns:
            False, with nothing recorded, when the delivery was seen before (a replay).
        """
        now = time.time()
        with self._transaction() as conn:
            conn.execute(
                "DELETE FROM webhook_deliveries WHERE received_at < ?", (now - WEBHOOK_MEMORY,)
            )
            conn.execute("DELETE FROM batch_wakes WHERE woken_at < ?", (now - WAKE_MEMORY,))
            cursor = conn.execute(
                "INSERT OR IGNORE INTO webhook_deliveries (provider, delivery_id, received_at) "
                "VALUES (?, ?, ?)",
                (provider, delivery_id, now),
            )
            if cursor.rowcount != 1:
                return False
            for endpoint, batch_id, event_type in wakes:
                conn.execute(
                    "INSERT INTO batch_wakes "
                    "(provider, endpoint, batch_id, event_type, wakes, woken_at) "
                    "VALUES (?, ?, ?, ?, 1, ?) "
                    "ON CONFLICT (provider, endpoint, batch_id) DO UPDATE SET "
                    "event_type = excluded.event_type, wakes = batch_wakes.wakes + 1, "
                    "woken_at = excluded.woken_at",
                    (provider, endpoint, batch_id, event_type, now),
                )
        return True

    @_store_errors
    def wake_counts(self, provider: str, endpoint: str, batch_ids: Iterable[str]) -> dict[str, int]:
        """How many batch events arrived for each batch (batches never woken are left out)."""
        ids = list(batch_ids)
        if not ids:
            return {}
        marks = ", ".join("?" for _ in ids)
        with self._lock:
            rows = self._conn.execute(
                "SELECT batch_id, wakes FROM batch_wakes WHERE provider = ? AND endpoint = ? "
                f"AND batch_id IN ({marks})",
                (provider, endpoint, *ids),
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
        with self._transaction() as conn:  # BEGIN IMMEDIATE: one reservation at a time
            held_tokens, held_requests, others = conn.execute(
                "SELECT COALESCE(SUM(tokens), 0), COALESCE(SUM(requests), 0), COUNT(*) "
                "FROM queue_entries WHERE queue = ? AND NOT (job_id = ? AND chunk_index = ?)",
                (queue, job_id, chunk_index),
            ).fetchone()
            if others and not _fits(
                held_tokens, held_requests, tokens, requests, max_tokens, max_requests
            ):
                return None
            entry = QueueEntry(job_id, chunk_index, tokens, requests, time.time())
            conn.execute(
                "INSERT OR REPLACE INTO queue_entries "
                "(job_id, chunk_index, queue, tokens, requests, reserved_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (job_id, chunk_index, queue, tokens, requests, entry.reserved_at),
            )
        return entry

    @_store_errors
    def release_queue(
        self, job_id: str, chunk_index: int, reserved_at: float | None = None
    ) -> None:
        """Stop counting a chunk against its queue (see :meth:`Store.release_queue`)."""
        with self._transaction() as conn:
            if reserved_at is None:
                conn.execute(
                    "DELETE FROM queue_entries WHERE job_id = ? AND chunk_index = ?",
                    (job_id, chunk_index),
                )
            else:
                conn.execute(
                    "DELETE FROM queue_entries WHERE job_id = ? AND chunk_index = ? "
                    "AND reserved_at = ?",
                    (job_id, chunk_index, reserved_at),
                )

    @_store_errors
    def queue_entries(self, queue: str) -> list[QueueEntry]:
        """The chunks counted against ``queue``, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT job_id, chunk_index, tokens, requests, reserved_at FROM queue_entries "
                "WHERE queue = ? ORDER BY reserved_at",
                (queue,),
            ).fetchall()
        return [QueueEntry(str(r[0]), int(r[1]), int(r[2]), int(r[3]), float(r[4])) for r in rows]


def _fits(
    held_tokens: int,
    held_requests: int,
    tokens: int,
    requests: int,
    max_tokens: int | None,
    max_requests: int | None,
) -> bool:
    """Whether a chunk fits in a queue already holding ``held_*``."""
    if max_tokens is not None and held_tokens + tokens > max_tokens:
        return False
    return max_requests is None or held_requests + requests <= max_requests
