"""Crash-safe submission of a job's chunks.

The job store holds the intent (chunk plan, key map, fingerprint) before anything is
sent, and the encoded input of every chunk waits in the store's spool directory. Each
chunk moves ``planned → submitting → submitted`` in the store:

* a chunk is *claimed* atomically (two processes never both submit it);
* the vendor batch id is recorded the moment it is known;
* a chunk found *submitting* with no live owner (the process died mid-call, or the call
  failed in a way that leaves unknown whether the batch exists) is reconciled before
  anything is sent again, and a batch found that way is only used once proven the
  chunk's own (:mod:`lmbatch._reconcile`);
* a chunk being submitted by another live process is waited for, not resubmitted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import time
from typing import TYPE_CHECKING

from lmbatch._errors import LMBatchError, SubmissionUncertainError
from lmbatch._planning import PreparedBatch, chunk_file_name
from lmbatch._reconcile import attempt_create, reconcile_chunks
from lmbatch._store import CHUNK_PLANNED, CHUNK_SUBMITTING, ChunkRecord, JobRecord

if TYPE_CHECKING:
    from lmbatch._operations import BatchOperations, _WaitOptions

__all__ = [
    "CHUNK_METADATA_KEY",
    "JOB_ID_METADATA_KEY",
    "discard_spool",
    "prepared_chunk",
    "submit_pending",
]

#: Metadata keys lmbatch stamps on every batch it creates (where the vendor keeps metadata).
JOB_ID_METADATA_KEY = "lmbatch_job_id"
CHUNK_METADATA_KEY = "lmbatch_chunk"

#: A submitting chunk whose owner has been silent this long is treated as abandoned.
OWNER_LEASE_SECONDS = 30 * 60
#: How often to look at the store while another process submits a chunk.
_WAIT_STEP = 0.2

_HOST = socket.gethostname()
# (job id, chunk index) pairs this process is submitting right now.
_in_flight: set[tuple[str, int]] = set()


def _owner_id() -> str:
    return f"{_HOST}:{os.getpid()}"


def _owner_alive(job_id: str, chunk: ChunkRecord) -> bool:
    """Whether the process that claimed ``chunk`` may still be submitting it."""
    if chunk.owner is None or time.time() - chunk.updated_at > OWNER_LEASE_SECONDS:
        return False
    host, _, pid_text = chunk.owner.rpartition(":")
    if host != _HOST:
        return True  # another machine: trust the lease
    pid = int(pid_text) if pid_text.isdigit() else -1
    if pid == os.getpid():
        return (job_id, chunk.index) in _in_flight
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prepared_chunk(ops: BatchOperations, job: JobRecord, index: int) -> PreparedBatch:
    """The :class:`PreparedBatch` of one chunk, read from the store's spool."""
    path = ops.store.spool_dir(job.job_id) / chunk_file_name(index)
    return PreparedBatch(
        job_id=job.job_id,
        chunk_index=index,
        path=path,
        request_count=job.chunks[index].request_count,
        byte_size=path.stat().st_size if path.exists() else 0,
        metadata={JOB_ID_METADATA_KEY: job.job_id, CHUNK_METADATA_KEY: str(index)},
        context=job.context,
        job_created_at=job.created_at,
    )


async def submit_pending(
    ops: BatchOperations, job: JobRecord, waiting: _WaitOptions | None = None
) -> JobRecord:
    """Bring every chunk of ``job`` to *submitted*; return the refreshed record.

    Args:
        waiting: How long reconciliation may wait for candidate batches to end (see
            :func:`lmbatch._reconcile.reconcile_chunks`); None never waits.
    """
    store = ops.store
    await _reconcile_abandoned(ops, job, waiting)
    semaphore = asyncio.Semaphore(max(1, ops.max_concurrent_submissions))
    owner = _owner_id()

    cap = ops.settings.max_batches_in_flight
    room = asyncio.Lock()

    async def wait_for_room() -> None:
        """Hold back until fewer than ``cap`` batches of the job are running."""
        if cap is None:
            return
        while True:
            running = 0
            for batch_id in _reload(ops, job.job_id).batch_ids:
                if not (await ops._fetch(batch_id))["status"].is_terminal:
                    running += 1
            if running < cap:
                return
            await asyncio.sleep(ops.settings.in_flight_check_interval)

    async def submit(index: int) -> None:
        # Under a cap, submissions go one at a time, so each sees the ones before it.
        async with semaphore, room if cap is not None else contextlib.nullcontext():
            await wait_for_room()
            if not store.claim_chunk(job.job_id, index, owner):
                return  # another process claimed it first; waited for below
            _in_flight.add((job.job_id, index))
            try:
                await _submit_claimed(ops, job, index)
            finally:
                _in_flight.discard((job.job_id, index))

    while True:
        current = _reload(ops, job.job_id)
        planned = [c.index for c in current.chunks if c.state == CHUNK_PLANNED]
        results = await asyncio.gather(*(submit(i) for i in planned), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            _raise_with_note(errors[0], current, len(planned) - len(errors), len(planned))
        current = _reload(ops, job.job_id)
        unsent = [c for c in current.chunks if c.batch_id is None]
        if not unsent:
            return current
        await _reconcile_abandoned(ops, current, waiting)
        if all(
            c.state == CHUNK_SUBMITTING
            for c in _reload(ops, job.job_id).chunks
            if c.batch_id is None
        ):
            await asyncio.sleep(_WAIT_STEP)


async def _submit_claimed(ops: BatchOperations, job: JobRecord, index: int) -> None:
    store = ops.store
    prepared = prepared_chunk(ops, job, index)
    if not prepared.path.exists():
        store.reset_chunk(job.job_id, index)
        raise LMBatchError(
            f"the encoded input of chunk {index} of job {job.job_id} is gone "
            f"from {prepared.path.parent}; submit the requests again"
        )
    try:
        batch_id = await ops._call(attempt_create(ops, prepared))
    except SubmissionUncertainError:
        raise  # stays "submitting" until reconciled
    except BaseException:
        # The vendor refused before creating anything: safe to submit later.
        store.reset_chunk(job.job_id, index)
        raise
    store.record_batch(job.job_id, index, batch_id)


async def _reconcile_abandoned(
    ops: BatchOperations, job: JobRecord, waiting: _WaitOptions | None
) -> None:
    """Settle the chunks whose create call was interrupted, without sending anything."""
    abandoned = [
        chunk.index
        for chunk in job.chunks
        if chunk.state == CHUNK_SUBMITTING
        and chunk.batch_id is None
        and not _owner_alive(job.job_id, chunk)
    ]
    if abandoned:
        await reconcile_chunks(ops, job, abandoned, waiting)


def _reload(ops: BatchOperations, job_id: str) -> JobRecord:
    job = ops.store.get_job(job_id)
    if job is None:  # pragma: no cover - the store never forgets jobs
        raise LMBatchError(f"job {job_id} vanished from the store")
    return job


def _raise_with_note(error: BaseException, job: JobRecord, done: int, attempted: int) -> None:
    if isinstance(error, LMBatchError):
        error.add_note(
            f"lmbatch job {job.job_id}: {done} of {attempted} batches submitted; "
            f"lmbatch.resume({job.job_id!r}) (or running the same invoke again) "
            "continues without submitting anything twice"
        )
    raise error


def discard_spool(ops: BatchOperations, job_id: str) -> None:
    """Delete a job's spooled input (once its results are safely in hand)."""
    shutil.rmtree(ops.store.spool_dir(job_id), ignore_errors=True)
