"""Handing jobs to workers, and reading back the outcomes they kept.

Light on purpose: ``create(..., detach=True)`` and ``lmbatch results`` use it without
loading the worker itself (:mod:`lmbatch._worker`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from typing import TYPE_CHECKING, Any

from lmbatch._jobs._resubmit_policy import DEFAULT_RESUBMIT_ROUNDS

if TYPE_CHECKING:
    from lmbatch._outputs import LMOutput
    from lmbatch._store_contract import Store

__all__ = ["family_size", "queue_for_workers", "saved_outcomes"]


def queue_for_workers(
    store: Store,
    job_id: str,
    *,
    resubmit: int = DEFAULT_RESUBMIT_ROUNDS,
    retry_on: Collection[str] = (),
    treat_as_error: Collection[str] = (),
) -> bool:
    """Hand the recorded job ``job_id`` to the workers; False if it was queued already.

    Args:
        resubmit: Resubmission rounds the workers run for it (as ``invoke``'s).
        retry_on: Finish reasons that are resubmitted too (as ``invoke``'s).
        treat_as_error: Finish reasons that count as errors (as ``invoke``'s).
    """
    settings: dict[str, Any] = {
        "resubmit": int(resubmit),
        "retry_on": sorted(retry_on),
        "treat_as_error": sorted(treat_as_error),
    }
    return store.queue_job(job_id, settings)


def saved_outcomes(store: Store, job_id: str) -> AsyncIterator[tuple[str, LMOutput]] | None:
    """The outcomes a worker kept for a job it finished, or None (nothing kept: a job
    not run by workers, or not finished yet)."""
    queued = store.queued_job(job_id)
    if queued is None or queued.finished_at is None or queued.state != "done":
        return None
    if (queued.summary or {}).get("rounds") != family_size(store, job_id):
        return None  # a round was added after the worker finished (a retry): stale
    return _outcomes(store, job_id)


def family_size(store: Store, job_id: str) -> int:
    """How many rounds job ``job_id`` has: itself and its resubmission rounds."""
    size = 1
    while children := store.child_jobs(job_id):
        job_id = children[0].job_id
        size += 1
    return size


async def _outcomes(store: Store, job_id: str) -> AsyncIterator[tuple[str, LMOutput]]:
    from lmbatch._outputs import LMOutput

    for key, text in store.iter_saved_results(job_id):
        yield key, LMOutput.model_validate_json(text)
