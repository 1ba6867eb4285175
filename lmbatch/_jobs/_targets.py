"""What an id names: a vendor batch (maybe one chunk of a job), or a whole job.

Every user-facing method takes "a batch id": the vendor's id, or the lmbatch job id that
``create`` returns for requests split over several batches. The job store tells which,
and keeps one store from answering for another provider's or another endpoint's batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lmbatch._connections import endpoint_mismatch, select_recorded
from lmbatch._errors import BatchNotFoundError, ValidationError

if TYPE_CHECKING:
    from lmbatch._jobs._orchestrator import Orchestrator
    from lmbatch._store import JobRecord

__all__ = ["Target", "check_job_endpoint", "handle_of", "resolve"]


@dataclass(frozen=True)
class Target:
    """What an id names: a vendor batch (maybe within a job) or a whole job."""

    id: str
    job: JobRecord | None
    chunk_index: int | None  # None with a job: the whole job

    @property
    def is_job(self) -> bool:
        """Whether the id names a whole job (not one of its batches)."""
        return self.job is not None and self.chunk_index is None


def handle_of(job: JobRecord) -> str:
    """The id handed to callers: the vendor batch id for a one-batch job."""
    if len(job.chunks) == 1 and job.chunks[0].batch_id is not None:
        return job.chunks[0].batch_id
    return job.job_id


def resolve(jobs: Orchestrator, batch_id: str) -> Target:
    """What ``batch_id`` names for this provider and endpoint.

    Raises:
        ValidationError: ``batch_id`` is not a non-empty string.
        BatchNotFoundError: It is another provider's job, or a batch proven not to be
            the chunk it was once taken for.
        EndpointMismatchError: The store holds it only on another endpoint.
    """
    if not isinstance(batch_id, str) or not batch_id:
        raise ValidationError(f"batch id must be a non-empty string, got {batch_id!r}")
    provider, store = jobs.provider, jobs.store
    job = store.get_job(batch_id)
    if job is not None:
        if job.provider != provider.name:
            raise BatchNotFoundError(
                f"{batch_id} is a job of provider {job.provider!r}, not {provider.name!r}",
                provider=provider.name,
            )
        check_job_endpoint(jobs, job)
        return Target(id=batch_id, job=job, chunk_index=None)
    found = _recorded_batch(jobs, batch_id)
    if found is not None:
        return Target(id=batch_id, job=found[0], chunk_index=found[1])
    disowned = store.disowned_record(batch_id)
    if disowned is not None:
        job_id, chunk_index, reason = disowned
        raise BatchNotFoundError(
            f"batch {batch_id} was once taken for chunk {chunk_index} of job {job_id} "
            f"and then proven not to be it ({reason}); use the job id {job_id}",
            provider=provider.name,
        )
    return Target(id=batch_id, job=None, chunk_index=None)


def _recorded_batch(jobs: Orchestrator, batch_id: str) -> tuple[JobRecord, int] | None:
    """This provider's recorded batch ``batch_id`` on this endpoint, or None.

    Raises:
        EndpointMismatchError: The store holds the id only on other endpoints (these
            operations' options are explicit: nothing is read from the wrong one).
    """
    provider = jobs.provider
    here = provider.endpoint_identity
    matches = jobs.store.find_batches(batch_id, provider=provider.name)
    found = select_recorded(
        batch_id,
        matches,
        endpoint_of=lambda _: here,
        classes=lambda _: type(provider.settings),
        explicit=True,
    )
    if found is None:
        return None
    job, index = found
    assert index is not None
    return job, index


def check_job_endpoint(jobs: Orchestrator, job: JobRecord) -> None:
    """Refuse to work on a job recorded on another endpoint than these options name."""
    provider = jobs.provider
    if job.connection is None or job.endpoint == provider.endpoint_identity:
        return
    raise endpoint_mismatch(
        job.job_id,
        [(job, None)],
        provider.name,
        provider.endpoint_identity,
        type(provider.settings),
    )
