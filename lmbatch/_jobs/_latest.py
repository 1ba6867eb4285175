"""A job's results as they stand: each key's outcome from the last round that carried it.

A job may have later rounds: resubmission rounds made by ``invoke``, and rounds made by
``lmbatch.retry`` from the keys that failed. ``retrieve`` and ``iter_results`` of a whole
job (its job id, or the batch id of a one-batch job) read every round and give each key
its latest outcome, still exactly one per key. A round's key map holds only the keys it
carries, so the keys carried by later rounds are held while a round is read: failures
only, never the whole job's keys. The id of one batch of a job split over several still
names that batch alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from lmbatch._errors import BatchNotFinishedError
from lmbatch._jobs._batches import job_family
from lmbatch._jobs._collect import iter_results
from lmbatch._jobs._spool import discard_spool
from lmbatch._jobs._targets import Target, handle_of, resolve

if TYPE_CHECKING:
    from lmbatch._jobs._orchestrator import Orchestrator
    from lmbatch._outputs import LMOutput
    from lmbatch._store import JobRecord

__all__ = ["iter_family_results", "iter_latest", "retrieve", "whole_job"]


def whole_job(target: Target) -> JobRecord | None:
    """The job ``target`` names as a whole (a job id, or a one-batch job's batch id)."""
    job = target.job
    if job is not None and (target.is_job or len(job.chunks) == 1):
        return job
    return None


async def iter_latest(jobs: Orchestrator, batch_id: str) -> AsyncIterator[tuple[str, LMOutput]]:
    """Every key's latest outcome (see :meth:`BatchOperations.iter_results`)."""
    jobs.require("retrieve")
    job = whole_job(resolve(jobs, batch_id))
    family = job_family(jobs, job) if job is not None else []
    if len(family) < 2:
        async for pair in iter_results(jobs, batch_id):
            yield pair
        return
    async for pair in iter_family_results(jobs, family):
        yield pair


async def iter_family_results(
    jobs: Orchestrator, family: list[JobRecord]
) -> AsyncIterator[tuple[str, LMOutput]]:
    """The outcomes of a job and its later rounds (``family``, in order), each key once.

    A key is taken from the last round that carries it; outcomes of later rounds are
    marked with ``finish_details["lmbatch_round"]``, as ``invoke`` marks them.

    Raises:
        BatchNotFinishedError: A round has not ended (its note says which and how to wait).
    """
    store = jobs.store
    for position, member in enumerate(family):
        later: set[str] = set()
        for after in family[position + 1 :]:
            later.update(key for _, key in store.iter_keys(after.job_id))
        try:
            async for key, output in iter_results(jobs, handle_of(member)):
                if key in later:
                    continue
                if position:
                    details = {**output.finish_details, "lmbatch_round": member.round}
                    output = output.model_copy(update={"finish_details": details})
                yield key, output
        except BatchNotFinishedError as exc:
            if position:
                exc.add_note(
                    f"round {member.round} of job {family[0].job_id} (job {member.job_id}) "
                    f"has not ended; wait for it with: lmbatch wait {handle_of(family[0])}"
                )
            raise


async def retrieve(jobs: Orchestrator, batch_id: str) -> dict[str, LMOutput]:
    """Every outcome of a finished batch or job (see :meth:`BatchOperations.retrieve`).

    A whole job's spooled input is deleted once its results are in hand, except the
    first round's while some key failed: ``lmbatch.retry`` resubmits from it.
    """
    results = {key: output async for key, output in iter_latest(jobs, batch_id)}
    job = whole_job(resolve(jobs, batch_id))
    if job is not None:
        failed = any(output.error is not None for output in results.values())
        if not (failed and job.parent_job_id is None):
            discard_spool(jobs, job.job_id)  # results are in hand
    return results
