"""Settling by hand what lmbatch cannot prove: which batch an interrupted create made."""

from __future__ import annotations

import os

from lmbatch._errors import BatchNotFoundError, LMBatchError, ValidationError
from lmbatch._jobs._claims import owner_alive
from lmbatch._jobs._resume import open_job_store
from lmbatch._store import CHUNK_SUBMITTING
from lmbatch._store_contract import Store

__all__ = ["resolve"]


def resolve(
    job_id: str,
    *,
    chunk: int,
    adopt: str | None = None,
    not_created: bool = False,
    store: Store | str | os.PathLike[str] | None = None,
) -> str:
    """Say which batch, if any, the interrupted create of a job's chunk made.

    The answer to a :class:`~lmbatch.SubmissionAmbiguousError` (its message gives the
    command line, ``lmbatch resolve JOB_ID --chunk N --adopt BATCH_ID`` or
    ``--not-created``). Only the job store changes; continue with
    :func:`lmbatch.resume` (or ``lmbatch resume JOB_ID``). An adopted batch's results are
    still checked against the chunk's request ids before any is used: one that holds
    other requests is dropped and the chunk sent again.

    Args:
        job_id: The lmbatch job id (or a vendor batch id the store knows).
        chunk: The chunk's index, as the error names it.
        adopt: The vendor batch id to take as the chunk's batch.
        not_created: The create made no batch: the chunk will be sent again.
        store: The job store (default: ``$LMBATCH_STORE``, config, user data dir).

    Returns:
        A sentence saying what was recorded.

    Raises:
        ValidationError: Not exactly one of ``adopt`` / ``not_created``, or no such chunk.
        BatchNotFoundError: The store knows no such job.
        LMBatchError: The chunk already has a batch, another process is submitting it,
            or the store holds ``adopt`` for another chunk.
    """
    if (adopt is None) == (not not_created):
        raise ValidationError("give either adopt=BATCH_ID or not_created=True")
    job_store = open_job_store(store)
    job = job_store.get_job(job_id)
    if job is None:
        found = job_store.find_batch(job_id)
        job = found[0] if found is not None else None
    if job is None:
        raise BatchNotFoundError(f"the job store at {job_store.path} knows no job {job_id!r}")
    if not 0 <= chunk < len(job.chunks):
        raise ValidationError(
            f"job {job.job_id} has chunks 0 to {len(job.chunks) - 1}, not chunk {chunk}"
        )
    record = job.chunks[chunk]
    where = f"chunk {chunk} of job {job.job_id}"
    if record.batch_id is not None and record.batch_id == adopt:
        return f"{where} already has batch {adopt}"
    adoption = job_store.adoption(job.job_id, chunk)
    if record.batch_id is not None:
        if adoption is None or adoption[1]:
            raise LMBatchError(
                f"{where} has batch {record.batch_id}, which its create call returned or its "
                "results proved; nothing to resolve"
            )
        # Adopted but not yet verified: the caller knows better.
        job_store.disown_batch(job.job_id, chunk, record.batch_id, "set aside by resolve")
    elif record.state == CHUNK_SUBMITTING and owner_alive(job.job_id, record, job_store):
        raise LMBatchError(
            f"{where} is being submitted by a running process ({record.owner}); "
            "let it finish or stop it first"
        )
    if adopt is not None:
        job_store.adopt_batch(job.job_id, chunk, adopt)
        return (
            f"{where}: batch {adopt} taken as its batch (its results are checked against "
            f"the chunk's requests before use); continue with: lmbatch resume {job.job_id}"
        )
    job_store.reset_chunk(job.job_id, chunk)
    return f"{where}: recorded as never created; it is sent by: lmbatch resume {job.job_id}"
