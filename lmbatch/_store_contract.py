"""What a job store offers the rest of lmbatch, whichever database holds it.

Two backends implement :class:`Store`: :class:`~lmbatch.JobStore` (SQLite, the embedded
default, with the spool in a folder beside the file) and
:class:`~lmbatch._store_pg.PostgresStore` (PostgreSQL, shared by many machines, with the
spool in the database). :func:`open_store` picks one from a location: a
``postgresql://`` (or ``postgres://``) URL opens PostgreSQL, anything else is a SQLite
file.

The spool holds the encoded input of each chunk until its results are in hand. Core code
never assumes it is a folder: it installs a file with :meth:`Store.spool_put`, gets a
local file to read (or upload) with :meth:`Store.spool_fetch`, and deletes a job's input
with :meth:`Store.discard_spool`. :meth:`Store.spool_dir` is a local folder for scratch
files (plan folders, rebuilt chunks, parked results) and local copies of chunk files.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from lmbatch._store import BudgetRecord, ChunkRecord, JobRecord, LedgerEntry
    from lmbatch._store_work import QueuedJob

__all__ = ["QueueEntry", "Store", "is_database_url", "open_store", "spool_file_name"]

#: URL schemes that name a PostgreSQL store.
DATABASE_SCHEMES = ("postgresql", "postgres")


def is_database_url(location: str | os.PathLike[str]) -> bool:
    """Whether ``location`` names a PostgreSQL store (``postgresql://...``)."""
    text = os.fspath(location)
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.lower() in DATABASE_SCHEMES


def spool_file_name(index: int) -> str:
    """File name of chunk ``index`` in a plan or local spool folder."""
    return f"chunk-{index:05d}.jsonl"


class QueueEntry(NamedTuple):
    """One chunk counted against a vendor queue limit (see :mod:`lmbatch._jobs._queue`).

    Attributes:
        job_id: The job of the chunk.
        chunk_index: The chunk.
        tokens: Its estimated input tokens.
        requests: Its requests.
        reserved_at: Unix time the room was taken (tells one reservation from a later
            one of the same chunk).
    """

    job_id: str
    chunk_index: int
    tokens: int
    requests: int
    reserved_at: float


class Store(abc.ABC):
    """The job store contract: jobs, chunks, key maps, spool, cost ledger.

    Every method that records intent commits before it returns, so a write made before
    a vendor call is durable when the call starts. Failures of the database are raised as
    :class:`~lmbatch.StoreError` naming the store.
    """

    #: Where the store is, for messages: a file path, or a URL without its password.
    path: str

    @abc.abstractmethod
    def close(self) -> None:
        """Release the store's connections."""

    # -- writing -------------------------------------------------------------------

    @abc.abstractmethod
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

    @abc.abstractmethod
    def claim_chunk(self, job_id: str, chunk_index: int, owner: str) -> bool:
        """Atomically move a *planned* chunk to *submitting*; False if another got it."""

    @abc.abstractmethod
    def forget_unsubmitted_job(self, job_id: str) -> bool:
        """Delete a job none of whose chunks was claimed; False (nothing deleted) otherwise."""

    @abc.abstractmethod
    def record_batch(self, job_id: str, chunk_index: int, batch_id: str) -> None:
        """Record the vendor batch id of a chunk, the moment it is known."""

    @abc.abstractmethod
    def mark_uncertain(self, job_id: str, chunk_index: int) -> None:
        """Put a chunk back to *submitting*: its create call may have made a batch."""

    @abc.abstractmethod
    def reset_chunk(self, job_id: str, chunk_index: int) -> None:
        """Return a chunk to *planned* (its create call is known not to have happened)."""

    @abc.abstractmethod
    def record_spool_checksum(
        self, job_id: str, chunk_index: int, sha256: str, size: int
    ) -> tuple[str, int]:
        """Record what a chunk's spooled input must hold (first record wins)."""

    @abc.abstractmethod
    def spool_checksum(self, job_id: str, chunk_index: int) -> tuple[str, int] | None:
        """``(sha256, size)`` recorded for a chunk's spooled input, or None."""

    # -- reading -------------------------------------------------------------------

    @abc.abstractmethod
    def get_job(self, job_id: str) -> JobRecord | None:
        """The job with this lmbatch job id, or None."""

    @abc.abstractmethod
    def child_jobs(self, job_id: str) -> list[JobRecord]:
        """Jobs that resubmit requests of ``job_id``, in round order."""

    @abc.abstractmethod
    def find_batches(
        self, batch_id: str, *, provider: str | None = None, endpoint: str | None = None
    ) -> list[tuple[JobRecord, int]]:
        """Every ``(job, chunk index)`` holding a vendor batch id (one per endpoint)."""

    def find_batch(
        self, batch_id: str, *, provider: str | None = None, endpoint: str | None = None
    ) -> tuple[JobRecord, int] | None:
        """The job holding a vendor batch id, and the chunk index, or None."""
        found = self.find_batches(batch_id, provider=provider, endpoint=endpoint)
        return found[0] if found else None

    @abc.abstractmethod
    def iter_keys(self, job_id: str, chunk_index: int | None = None) -> Iterator[tuple[str, str]]:
        """``(custom_id, key)`` pairs of a job (or one chunk of it)."""

    @abc.abstractmethod
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
        """Every job, newest first, or only those the filters keep.

        Jobs and their chunks are read in a constant number of queries, however many
        there are; the filters are applied by the database.

        Args:
            provider: Only this provider's jobs.
            first_rounds: Only first rounds (no resubmission round of another job).
            endpoint: Only jobs on this endpoint identity (``""``: the vendor's default).
            model: Only jobs of this model.
            since: Only jobs created at or after this Unix time.
            limit: At most this many (the newest).
        """

    # -- cost ledger -----------------------------------------------------------------

    @abc.abstractmethod
    def record_cost(self, entry: LedgerEntry) -> None:
        """Record (or replace) one batch's cost."""

    @abc.abstractmethod
    def cost_entries(self, job_ids: Iterable[str]) -> list[LedgerEntry]:
        """Ledger entries of these jobs, in job and chunk order."""

    @abc.abstractmethod
    def set_budget(
        self, job_id: str, max_cost: str, max_output_tokens: int | None, note: str | None = None
    ) -> None:
        """Record the budget of a job family, on its first job."""

    @abc.abstractmethod
    def budget(self, job_id: str) -> BudgetRecord | None:
        """The budget recorded for a job family's first job, or None."""

    # -- reconciliation (lmbatch._jobs._reconcile) -------------------------------------

    @abc.abstractmethod
    def job_tag(self, job_id: str) -> str:
        """The tag every request id of the job ends with (``""``: an untagged job)."""

    @abc.abstractmethod
    def chunk_of(self, job_id: str, custom_id: str) -> int | None:
        """The chunk of ``job_id`` that holds the request id, or None."""

    @abc.abstractmethod
    def record_attempt(
        self, job_id: str, chunk_index: int, started_at: float, vendor_offset: float | None
    ) -> None:
        """Note that a create call of the chunk is about to be sent.

        The first attempt is kept (a batch of it may exist); a vendor clock reading fills
        in one that was missing; ``last_seen`` only moves forward.
        """

    @abc.abstractmethod
    def touch_attempt(self, job_id: str, chunk_index: int, seen_at: float) -> None:
        """The chunk's create call was still running (or just ended) at ``seen_at``."""

    @abc.abstractmethod
    def create_attempt(
        self, job_id: str, chunk_index: int
    ) -> tuple[float, float | None, float] | None:
        """``(started_at, vendor_offset, last_seen)`` of the chunk's create attempts."""

    @abc.abstractmethod
    def adopt_batch(self, job_id: str, chunk_index: int, batch_id: str) -> None:
        """Record a batch found after an interrupted create as the chunk's, unverified.

        The chunk becomes *submitted* with ``batch_id`` only if it has no batch yet.

        Raises:
            LMBatchError: The chunk has a batch already, or the store holds ``batch_id``
                for another chunk on the same provider and endpoint.
        """

    @abc.abstractmethod
    def adoption(self, job_id: str, chunk_index: int) -> tuple[str, bool] | None:
        """``(batch_id, verified)`` when the chunk's batch was adopted, else None."""

    @abc.abstractmethod
    def mark_verified(self, job_id: str, chunk_index: int) -> None:
        """The adopted batch's results proved it the chunk's own."""

    @abc.abstractmethod
    def disown_batch(self, job_id: str, chunk_index: int, batch_id: str, reason: str) -> None:
        """The batch is not the chunk's: forget it there (the chunk is *planned* again)
        and remember it as foreign to the chunk, disowned."""

    @abc.abstractmethod
    def set_job_label(
        self, job_id: str, *, label: str | None = None, source: str | None = None
    ) -> None:
        """Name a job (``--label``) and note the file its requests came from (None keeps
        what was recorded)."""

    @abc.abstractmethod
    def job_labels(self) -> dict[str, tuple[str | None, str | None]]:
        """``{job_id: (label, source)}`` of every job that has either."""

    @abc.abstractmethod
    def record_foreign(self, job_id: str, chunk_index: int, batch_id: str, reason: str) -> None:
        """Remember that ``batch_id`` is proven not to be the chunk's batch (first wins)."""

    @abc.abstractmethod
    def is_foreign(self, job_id: str, chunk_index: int, batch_id: str) -> bool:
        """Whether ``batch_id`` was proven not to be the chunk's batch."""

    @abc.abstractmethod
    def disowned_record(self, batch_id: str) -> tuple[str, int, str] | None:
        """``(job_id, chunk_index, reason)`` when the batch was adopted, then disowned."""

    @abc.abstractmethod
    def uncertain_chunks(self, provider: str) -> list[tuple[str, ChunkRecord]]:
        """``(job_id, chunk)`` of every chunk of the provider whose create may have happened
        (*submitting*, no batch id)."""

    # -- webhook wakes (lmbatch.webhooks) ----------------------------------------------

    @abc.abstractmethod
    def record_webhook(
        self, provider: str, delivery_id: str, wakes: Iterable[tuple[str, str, str]]
    ) -> bool:
        """Remember a webhook delivery by its id and wake its batches, in one transaction.

        Args:
            provider: The provider whose vendor sent it.
            delivery_id: The delivery's id (``webhook-id``), unique per provider.
            wakes: ``(endpoint, batch_id, event_type)`` of each batch the delivery wakes:
                each one's wake count goes up by one.

        Returns:
            False, with nothing recorded, when the provider's delivery id was recorded
            before (a replay); ids are remembered for a day.
        """

    @abc.abstractmethod
    def wake_counts(self, provider: str, endpoint: str, batch_ids: Iterable[str]) -> dict[str, int]:
        """``{batch_id: wakes}``: how many batch events each batch got (never woken: absent).

        A cheap read, no vendor call: waiting asks it often and polls the vendor when a
        count moves.
        """

    # -- vendor queue limits (lmbatch._jobs._queue) ----------------------------------

    @abc.abstractmethod
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
        """Count a chunk against ``queue`` if it fits; None (nothing written) if not.

        Atomic across processes: the entries of ``queue`` (other than the chunk's own)
        plus this one stay within ``max_tokens`` and ``max_requests`` (None: no limit).
        A chunk alone in its queue always fits, so a chunk larger than the limit never
        waits forever. The chunk's earlier entry, if any, is replaced.
        """

    @abc.abstractmethod
    def release_queue(
        self, job_id: str, chunk_index: int, reserved_at: float | None = None
    ) -> None:
        """Stop counting a chunk (its batch ended, or was never made).

        With ``reserved_at``, only that reservation is removed (not a newer one).
        """

    @abc.abstractmethod
    def queue_entries(self, queue: str) -> list[QueueEntry]:
        """The chunks counted against ``queue``, oldest first."""

    # -- workers (lmbatch.worker; see lmbatch._store_work) ------------------------------

    @abc.abstractmethod
    def queue_job(self, job_id: str, settings: dict[str, Any]) -> bool:
        """Hand a recorded job to the workers; False if it was queued already."""

    @abc.abstractmethod
    def claim_queued_job(
        self,
        owner: str,
        lease_seconds: float,
        *,
        provider: str | None = None,
        job_ids: Iterable[str] | None = None,
        skip: Iterable[str] = (),
    ) -> str | None:
        """Atomically take the oldest open queued job that no live lease holds.

        The job's lease is ``owner``'s for ``lease_seconds`` (renewed by
        :meth:`renew_claims`); two workers never both get one job while its lease runs.
        Returns the job id, or None when nothing is free (of ``provider``, among
        ``job_ids``, other than ``skip``).
        """

    @abc.abstractmethod
    def renew_claims(self, owner: str, lease_seconds: float) -> list[str]:
        """Heartbeat: extend every lease of ``owner`` and its worker record; the ids of
        the open jobs it still holds (a job missing was taken over)."""

    @abc.abstractmethod
    def release_queued_job(
        self, job_id: str, owner: str, *, retry_after: float | None = None, error: str | None = None
    ) -> None:
        """Give ``owner``'s job back to the queue; after a failure (``error``), not to be
        taken again for ``retry_after`` seconds."""

    @abc.abstractmethod
    def finish_queued_job(self, job_id: str, owner: str, summary: dict[str, Any]) -> bool:
        """Mark ``owner``'s job finished; False (nothing written) if it no longer held it."""

    @abc.abstractmethod
    def queued_job(self, job_id: str) -> QueuedJob | None:
        """The queue's record of a job, or None (a job never handed to workers)."""

    @abc.abstractmethod
    def queued_jobs(
        self,
        *,
        open_only: bool = True,
        provider: str | None = None,
        job_ids: Iterable[str] | None = None,
    ) -> list[QueuedJob]:
        """Jobs handed to workers (open ones only, by default), oldest first."""

    @abc.abstractmethod
    def register_worker(self, owner: str, lease_seconds: float, info: dict[str, Any]) -> None:
        """Record a worker and its first heartbeat."""

    @abc.abstractmethod
    def retire_worker(self, owner: str) -> None:
        """A worker leaves cleanly: its leases are released and its record removed."""

    @abc.abstractmethod
    def worker_alive(self, owner: str) -> bool | None:
        """Whether the worker ``owner`` heartbeats within its lease; None when ``owner``
        is not a worker on record (an ``invoke`` process, or a worker that left)."""

    @abc.abstractmethod
    def save_results(self, job_id: str, rows: Iterable[tuple[str, str]]) -> int:
        """Keep ``(key, LMOutput JSON)`` rows as the outcomes of ``job_id`` (a key written
        again replaces its row); the number of rows written."""

    @abc.abstractmethod
    def iter_saved_results(self, job_id: str) -> Iterator[tuple[str, str]]:
        """``(key, LMOutput JSON)`` of the outcomes kept for ``job_id``, in key order."""

    # -- spool ---------------------------------------------------------------------

    @abc.abstractmethod
    def spool_dir(self, job_id: str | None = None) -> Path:
        """A local folder for scratch files and local copies of a job's chunk files."""

    def spool_path(self, job_id: str, chunk_index: int) -> Path:
        """Where the local copy of a chunk's spooled input is (it may not exist)."""
        return self.spool_dir(job_id) / spool_file_name(chunk_index)

    @abc.abstractmethod
    def spool_put(self, job_id: str, chunk_index: int, source: Path) -> None:
        """Install the file ``source`` as a chunk's spooled input (``source`` is moved).

        Raises:
            OSError: The file could not be read or moved (a full disk...).
        """

    @abc.abstractmethod
    def spool_fetch(self, job_id: str, chunk_index: int) -> Path:
        """A local file holding a chunk's spooled input, as the spool holds it now.

        The path returned does not exist when the spool holds no input for the chunk.
        """

    @abc.abstractmethod
    def discard_spool(self, job_id: str) -> None:
        """Delete a job's spooled input (once its results are safely in hand)."""


def open_store(location: str | os.PathLike[str]) -> Store:
    """Open the job store at ``location``: a PostgreSQL URL, else a SQLite file path.

    Raises:
        StoreError: The store cannot be opened (unreachable, refused, newer schema...).
        ConfigError: ``location`` is a URL of a scheme no backend handles.
    """
    if is_database_url(location):
        from lmbatch._store_pg import PostgresStore

        return PostgresStore(os.fspath(location))
    from lmbatch._store import JobStore

    return JobStore(location)
