"""Crash-safe submission of a job's chunks.

The job store holds the intent (chunk plan, key map, fingerprint) before anything is
sent, and the encoded input of every chunk waits in the store's spool directory. Each
chunk moves ``planned → submitting → submitted`` in the store:

* a chunk is *claimed* atomically (two processes never both submit it);
* the vendor batch id is recorded the moment it is known;
* a chunk found *submitting* with no live owner (the process died mid-call, or the call
  failed in a way that leaves unknown whether the batch exists) is reconciled before
  anything is sent again, and a batch found that way is only used once proven the
  chunk's own (:mod:`lmbatch._jobs._reconcile`);
* a chunk being submitted by another live process is waited for, not resubmitted.

A create call whose outcome is unknown leaves its chunk *submitting*: a vendor error that
may have come after the batch was made (:class:`SubmissionUncertainError`), an answer
that cannot be read (an HTML page, a body without an id), and an interruption
(``task.cancel()``, Ctrl-C) while the call was open. Only a definite refusal (a 4xx) or
an interruption before the create call started (providers say when it starts, see
:meth:`BatchOperations.create_started`) returns the chunk to *planned*.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from lmbatch._attempts import CreateAttempt, create_attempt
from lmbatch._call_errors import create_uncertain, is_definite_refusal
from lmbatch._errors import (
    JobStateError,
    LMBatchError,
    ProviderError,
    SpoolDamagedError,
    SubmissionUncertainError,
)
from lmbatch._jobs._claims import check_claims_open, in_flight, owner_alive, owner_id
from lmbatch._jobs._deadline import Deadline, current_deadline, suspended_deadline
from lmbatch._jobs._queue import QueueFull, admit, release_unsent
from lmbatch._jobs._queue import wait_for_room as wait_for_queue_room
from lmbatch._jobs._reconcile import attempt_create, reconcile_chunks
from lmbatch._jobs._spool import ensure_sound_chunks, prepared_chunk
from lmbatch._store import CHUNK_PLANNED, CHUNK_SUBMITTED, CHUNK_SUBMITTING, JobRecord

if TYPE_CHECKING:
    from lmbatch._jobs._orchestrator import Orchestrator
    from lmbatch._jobs._poll_policy import Waiting
    from lmbatch._planning import PreparedBatch

__all__ = ["submit_pending"]

#: How often to look at the store while another process submits a chunk.
_WAIT_STEP = 0.2


async def submit_pending(
    jobs: Orchestrator, job: JobRecord, waiting: Waiting | None = None
) -> JobRecord:
    """Bring every chunk of ``job`` to *submitted*; return the refreshed record.

    Args:
        waiting: How long reconciliation may wait for candidate batches to end (see
            :func:`lmbatch._jobs._reconcile.reconcile_chunks`); None never waits.
    """
    # A caller's wait deadline does not cut submission short: a create interrupted on
    # purpose would leave its chunk uncertain. Each call has the provider's HTTP timeout.
    # Waiting for room in the vendor's queue sends nothing: that wait keeps the deadline.
    deadline = current_deadline()
    with suspended_deadline():
        return await _submit_pending(jobs, job, waiting, deadline)


async def _submit_pending(
    jobs: Orchestrator, job: JobRecord, waiting: Waiting | None, deadline: Deadline | None
) -> JobRecord:
    store = jobs.store
    abandoned = [
        chunk.index
        for chunk in job.chunks
        if chunk.state == CHUNK_SUBMITTING and not owner_alive(job.job_id, chunk, store)
    ]
    if abandoned:
        await reconcile_chunks(jobs, job, abandoned, waiting)
    semaphore = asyncio.Semaphore(max(1, jobs.options.max_concurrent_submissions))
    owner = owner_id()

    cap = jobs.options.max_batches_in_flight
    room = asyncio.Lock()

    async def wait_for_room() -> None:
        """Hold back until fewer than ``cap`` batches of the job are running."""
        if cap is None:
            return
        while True:
            running = 0
            for batch_id in _reload(jobs, job.job_id).batch_ids:
                if not (await jobs.fetch(batch_id))["status"].is_terminal:
                    running += 1
            if running < cap:
                return
            await asyncio.sleep(jobs.options.in_flight_check_interval)

    # Room in the vendor's queue is reserved atomically in the store; one task at a time
    # waits for it (and looks at the batches holding it).
    queue_wait = asyncio.Lock()

    async def submit(index: int) -> None:
        # Under a cap, submissions go one at a time, so each sees the ones before it.
        async with semaphore, room if cap is not None else contextlib.nullcontext():
            await wait_for_room()
            while True:
                check_claims_open()  # a worker shutting down claims nothing more
                if not store.claim_chunk(job.job_id, index, owner):
                    return  # another process claimed it first; waited for below
                in_flight.add((job.job_id, index))
                try:
                    await _submit_claimed(jobs, job, index)
                    return
                except QueueFull as full:
                    queue = full.queue  # released, nothing sent: wait, then claim again
                finally:
                    in_flight.discard((job.job_id, index))
                async with queue_wait:
                    await wait_for_queue_room(jobs, queue, deadline)

    # Every pass submits, reconciles or waits for a live submitter; a pass that can do
    # none of these (a state no lmbatch writes) raises instead of spinning.
    while True:
        current = _reload(jobs, job.job_id)
        planned = [c.index for c in current.chunks if c.state == CHUNK_PLANNED]
        results = await asyncio.gather(*(submit(i) for i in planned), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            _raise_with_note(errors[0], current, len(planned) - len(errors), len(planned))
        current = _reload(jobs, job.job_id)
        unsent = [c for c in current.chunks if c.batch_id is None]
        if not unsent:
            return current
        progressed = bool(planned)
        elsewhere = False
        uncertain: list[int] = []
        for chunk in unsent:
            if chunk.state == CHUNK_PLANNED:
                progressed = True  # released by another process: submitted next pass
            elif chunk.state == CHUNK_SUBMITTING and owner_alive(job.job_id, chunk, store):
                elsewhere = True
            elif chunk.state == CHUNK_SUBMITTING:
                uncertain.append(chunk.index)
            elif chunk.state == CHUNK_SUBMITTED:
                # Recorded as sent but without a batch id (lmbatch 0.1 did this with a
                # create answered without an id): its create may have made a batch, so
                # it is an uncertain create, reconciled with the vendor.
                store.mark_uncertain(job.job_id, chunk.index)
                uncertain.append(chunk.index)
            else:
                raise JobStateError(
                    f"chunk {chunk.index} of job {job.job_id} is in state {chunk.state!r} "
                    f"in the job store at {store.path}, which this lmbatch does not know; "
                    "it cannot be submitted or reconciled",
                    job_id=job.job_id,
                )
        if uncertain:
            # Settled together: the batches of one job are told apart by their results.
            await reconcile_chunks(jobs, _reload(jobs, job.job_id), uncertain, waiting)
            progressed = True
        if elsewhere:
            await asyncio.sleep(_WAIT_STEP)
        elif not progressed:  # pragma: no cover - every state above makes progress
            raise JobStateError(
                f"job {job.job_id} made no progress while submitting", job_id=job.job_id
            )


async def _submit_claimed(jobs: Orchestrator, job: JobRecord, index: int) -> None:
    store = jobs.store
    try:
        # Nothing damaged is sent: checked against the checksum recorded when spooled,
        # rebuilt from the caller's requests, or refused.
        ensure_sound_chunks(jobs, job, [index])
    except SpoolDamagedError:
        store.reset_chunk(job.job_id, index)
        raise
    prepared = prepared_chunk(jobs, job, index)
    try:
        admit(jobs, job, prepared)  # room in the vendor's batch queue, taken before sending
    except QueueFull:
        store.reset_chunk(job.job_id, index)  # the claim is released: nothing was sent
        raise
    with create_attempt() as attempt:
        try:
            batch_id = await jobs.call(attempt_create(jobs, prepared))
        except SubmissionUncertainError:
            raise  # stays "submitting" until reconciled
        except BaseException as exc:
            if _not_created(jobs, attempt, exc):
                # The vendor refused, or the create call never started: safe to submit later.
                store.reset_chunk(job.job_id, index)
                release_unsent(jobs, job.job_id, index)
                raise
            if isinstance(exc, Exception):
                raise _uncertain(jobs, prepared, f"it failed ({exc})", exc) from exc
            # Cancelled or interrupted while the create call was open: the batch may exist.
            # The chunk stays "submitting"; the next run reconciles it before sending again.
            raise
    if not isinstance(batch_id, str) or not batch_id:
        raise _uncertain(jobs, prepared, f"the provider returned no batch id ({batch_id!r})")
    _record_created(jobs, job.job_id, index, batch_id)


def _record_created(jobs: Orchestrator, job_id: str, index: int, batch_id: str) -> None:
    """Record the id of a batch the vendor made; a failure leaves the chunk uncertain.

    The batch exists (and is paid for) whatever the store says, so a failed record must
    never turn into a chunk that is submitted again or can never complete: the chunk
    stays *submitting*, and the next run reconciles it with the vendor.
    """
    try:
        jobs.store.record_batch(job_id, index, batch_id)
    except Exception as exc:
        raise SubmissionUncertainError(
            f"{jobs.name} created batch {batch_id} for chunk {index} of job {job_id}, but "
            f"recording it in the job store at {jobs.store.path} failed: {exc}. The chunk "
            "stays uncertain and nothing was sent again: once the store can be written, "
            f"running the same call again (or lmbatch.resume({job_id!r})) finds batch "
            f"{batch_id} at {jobs.name} and records it; its status can be read meanwhile "
            f"with lmbatch status {batch_id}",
            provider=jobs.name,
            details={"job_id": job_id, "chunk": str(index), "batch_id": batch_id},
        ) from exc


def _not_created(jobs: Orchestrator, attempt: CreateAttempt, exc: BaseException) -> bool:
    """Whether ``exc`` proves that no batch was made."""
    if jobs.provider.marks_create_start and not attempt.create_started:
        return True
    # A vendor's 4xx answer is a refusal; anything else (a 5xx, a lost connection, an
    # unreadable answer, an interruption) may have come after the batch was made.
    return is_definite_refusal(exc)


def _uncertain(
    jobs: Orchestrator, batch: PreparedBatch, what: str, cause: BaseException | None = None
) -> SubmissionUncertainError:
    """The error for a create call whose outcome is unknown (the chunk stays uncertain)."""
    return create_uncertain(
        batch,
        f"ended without a readable answer: {what}",
        provider=jobs.name,
        cause=cause if isinstance(cause, ProviderError) else None,
    )


def _reload(jobs: Orchestrator, job_id: str) -> JobRecord:
    job = jobs.store.get_job(job_id)
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
