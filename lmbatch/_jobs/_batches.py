"""Asking the vendor about batches and jobs: info, a job's aggregate, list, cancel.

A job split over several vendor batches answers as one: its status is the aggregate of
its batches' (:func:`aggregate_status`), its counts their sum, and ``cancel`` cancels
each batch still running. :func:`job_family` follows a job through its resubmission
rounds; a job whose latest round still runs (a retry of its failed keys) is running.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lmbatch._attempts import JOB_ID_METADATA_KEY
from lmbatch._errors import LMBatchError
from lmbatch._jobs._ledger import cost_facts
from lmbatch._jobs._targets import resolve
from lmbatch._status import BatchInfo, BatchStatus, empty_counts

if TYPE_CHECKING:
    from lmbatch._jobs._orchestrator import Orchestrator
    from lmbatch._store import JobRecord

__all__ = ["aggregate_status", "cancel", "has_ended", "info", "job_family", "list_all"]


async def info(jobs: Orchestrator, batch_id: str) -> BatchInfo:
    """Everything known of a batch or job (see :meth:`BatchOperations.info`)."""
    target = resolve(jobs, batch_id)
    if target.is_job:
        assert target.job is not None
        found = await job_info(jobs, target.job)
    else:
        found = await jobs.fetch(target.id)
    if target.job is not None:
        family = job_family(jobs, target.job)
        found["rounds"] = [
            {"round": job.round, "job_id": job.job_id, "requests": job.request_count}
            for job in family
        ]
        found.update(cost_facts(jobs.provider, target.job, target.chunk_index))  # type: ignore[typeddict-item]
        if len(family) > 1 and (target.is_job or len(target.job.chunks) == 1):
            # The job as a whole (as its results read it) runs while its latest round
            # does: a retry round made after it ended, say.
            latest = await _running_round_status(jobs, family[-1])
            if latest is not None:
                found["status"] = latest
    return found


async def _running_round_status(jobs: Orchestrator, job: JobRecord) -> BatchStatus | None:
    """The status of round ``job`` while it has not ended; None once it has.

    A round is made only once the rounds before it ended, so the latest one says
    whether the job still runs. A round whose results were all read has ended: no call.
    """
    read = {entry.chunk_index for entry in jobs.store.cost_entries([job.job_id])}
    if len(read) == len(job.chunks):
        return None
    status = (await job_info(jobs, job))["status"]
    return None if status.is_terminal else status


async def job_info(jobs: Orchestrator, job: JobRecord) -> BatchInfo:
    """One job's batches as one: aggregate status, summed counts, every error."""
    infos = [await jobs.fetch(batch_id) for batch_id in job.batch_ids]
    unsubmitted = sum(c.request_count for c in job.chunks if c.batch_id is None)
    counts = empty_counts(job.request_count)
    for part in infos:
        for name in ("succeeded", "errored", "processing", "expired", "cancelled"):
            counts[name] += part["request_counts"][name]
    counts["processing"] += unsubmitted
    status = aggregate_status([part["status"] for part in infos], unsubmitted > 0)
    return BatchInfo(
        id=job.job_id,
        provider=jobs.name,
        status=status,
        provider_status=",".join(part["provider_status"] for part in infos) or "unsubmitted",
        created_at=datetime.fromtimestamp(job.created_at, tz=UTC),
        request_counts=counts,
        model=job.model,
        metadata={JOB_ID_METADATA_KEY: job.job_id},
        errors=[error for part in infos for error in part["errors"]],
        raw={"job_id": job.job_id, "chunks": len(job.chunks), "unsubmitted": unsubmitted},
        batches=infos,
    )


def aggregate_status(statuses: list[BatchStatus], has_unsubmitted: bool) -> BatchStatus:
    """The status of a job whose batches have ``statuses``."""
    if has_unsubmitted or any(
        not s.is_terminal and s is not BatchStatus.CANCELING for s in statuses
    ):
        return BatchStatus.IN_PROGRESS
    if any(s is BatchStatus.CANCELING for s in statuses):
        return BatchStatus.CANCELING
    if statuses and all(s is BatchStatus.FAILED for s in statuses):
        return BatchStatus.FAILED
    if any(s is BatchStatus.CANCELLED for s in statuses):
        return BatchStatus.CANCELLED
    if any(s is BatchStatus.EXPIRED for s in statuses):
        return BatchStatus.EXPIRED
    return BatchStatus.FINISHED


def job_family(jobs: Orchestrator, job: JobRecord) -> list[JobRecord]:
    """``job`` and its resubmission rounds, in order."""
    family = [job]
    while children := jobs.store.child_jobs(family[-1].job_id):
        family.append(children[0])
    return family


async def has_ended(jobs: Orchestrator, job: JobRecord) -> bool:
    """Whether every batch of ``job`` reached a terminal state (asks the vendor)."""
    if any(chunk.batch_id is None for chunk in job.chunks):
        return False  # parts were never submitted: the job is not over
    try:
        for batch_id in job.batch_ids:
            if not (await jobs.fetch(batch_id))["status"].is_terminal:
                return False
    except LMBatchError as exc:
        exc.add_note(
            f"job {job.job_id} of the same requests is in the job store and its status "
            "could not be checked; pass reuse=False to submit the requests again anyway"
        )
        raise
    return True


async def list_all(jobs: Orchestrator) -> list[dict[str, Any]]:
    """Every batch the provider shows for this account, following all pages."""
    batches: list[dict[str, Any]] = []
    cursor: str | None = None
    seen_cursors: set[str] = set()
    while True:
        page = await jobs.call(jobs.provider.list_batches_page(cursor))
        batches.extend(dict(item) for item in page.batches)
        if page.next_cursor is None or page.next_cursor in seen_cursors:
            return batches
        seen_cursors.add(page.next_cursor)
        cursor = page.next_cursor


async def cancel(jobs: Orchestrator, batch_id: str) -> None:
    """Cancel a batch, or every running batch of a job (of its latest round, while a
    later round runs: what waiting for the job waits for)."""
    target = resolve(jobs, batch_id)
    job = target.job
    if job is not None and (target.is_job or len(job.chunks) == 1):
        latest = job_family(jobs, job)[-1]
        if latest is not job and await _running_round_status(jobs, latest) is not None:
            await _cancel_running(jobs, latest)
            return
    if not target.is_job:
        await jobs.call(jobs.provider.cancel_batch(target.id))
        return
    assert job is not None
    await _cancel_running(jobs, job)


async def _cancel_running(jobs: Orchestrator, job: JobRecord) -> None:
    for chunk_batch in job.batch_ids:
        found = await jobs.fetch(chunk_batch)
        if not found["status"].is_terminal:
            await jobs.call(jobs.provider.cancel_batch(chunk_batch))
