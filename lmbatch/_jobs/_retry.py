"""``lmbatch.retry``: send the keys that failed in a finished job again (a new round).

How the round is made, and what is kept for it, is :mod:`lmbatch._jobs._retry_round`;
this is the public function, from a job id and the job store alone (as
:func:`lmbatch.resume`), and :func:`discard_input`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

from lmbatch._errors import BatchNotFoundError
from lmbatch._estimate import family_root
from lmbatch._jobs._batches import job_family
from lmbatch._jobs._deadline import Deadline, deadline_scope
from lmbatch._jobs._latest import iter_family_results
from lmbatch._jobs._poll_policy import DEFAULT_TIMEOUT, PollPolicy, Waiting
from lmbatch._jobs._recording import replanner
from lmbatch._jobs._resubmit_policy import (
    DEFAULT_RESUBMIT_ROUNDS,
    OutcomePolicy,
    ResubmissionRound,
)
from lmbatch._jobs._retry_round import failure_kinds, finish_retry, start_retry

if TYPE_CHECKING:
    from lmbatch._messages import LMInput
    from lmbatch._outputs import LMOutput
    from lmbatch._status import BatchInfo
    from lmbatch._store_contract import Store

__all__ = ["discard_input", "retry"]


async def retry(
    job_id: str,
    *,
    only: Collection[str] | str | None = None,
    requests: Mapping[str, LMInput] | None = None,
    hyperparameters: dict[str, Any] | None = None,
    store: Store | str | os.PathLike[str] | None = None,
    status_check_interval: float = 30.0,
    max_status_check_interval: float = 300.0,
    max_iterations: int | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    on_progress: Callable[[BatchInfo], None] | None = None,
    on_resubmit: Callable[[ResubmissionRound], None] | None = None,
    resubmit: int = DEFAULT_RESUBMIT_ROUNDS,
    poll: PollPolicy | None = None,
    **options: Any,
) -> dict[str, LMOutput]:
    """Send the keys that failed in a finished job again, and return its results.

    The failed keys (every key whose latest outcome has an ``error``, or only those of
    the kinds in ``only``) go out as a new round of the same job, made from the job's
    kept input, within what its ``max_cost`` leaves; the round is waited for (and
    resubmitted from, as ``invoke`` does, within ``resubmit`` rounds). With no failed
    key, nothing is sent. The twin of ``lmbatch retry JOB --failed --wait``.

    Args:
        job_id: An lmbatch job id, or a vendor batch id the store knows.
        only: Kinds of failure to retry (``"expired"``, ``("errored", "missing")``...);
            None: every failed key.
        requests: The job's original requests, for a job whose input is gone (jobs
            finished by an older lmbatch, or discarded); checked against the job's
            fingerprint, with ``hyperparameters`` as the job was created with.
        hyperparameters: The original hyperparameters, with ``requests``.
        store: The job store (default: ``$LMBATCH_STORE``, config, user data dir).
        timeout: Most seconds to spend (default 48 h; None: no limit).
        on_resubmit: Hears of the retry round (and of any resubmission round after it).
        resubmit: Rounds of resubmission after the retry round, as in ``invoke``.
        **options: Provider options (e.g. ``api_key``), on top of the connection options
            the job was created with.

    Returns:
        Every key's latest outcome (one per key of the job).

    Raises:
        BatchNotFoundError: The store knows no such job.
        BatchNotFinishedError: The job (or a round of it) has not ended.
        RetryInputMissingError: The job's input is gone and ``requests`` was not given.
        BudgetExceededError: The round does not fit what the job's ``max_cost`` leaves.
        BatchTimeoutError: ``max_iterations`` or ``timeout`` was reached.
    """
    kinds = failure_kinds(only)
    waiting = Waiting.of(
        status_check_interval=status_check_interval,
        max_status_check_interval=max_status_check_interval,
        max_iterations=max_iterations,
        poll=poll,
        timeout=timeout,
        on_progress=on_progress,
    )
    outcomes = OutcomePolicy(on_resubmit=on_resubmit)
    deadline = Deadline.after(timeout, job_id) if timeout is not None else None
    from lmbatch._jobs._resume import open_job_store, operations_for_job

    job_store = open_job_store(store)
    operations, job = operations_for_job(job_id, job_store, dict(options), store_named_by=store)
    async with operations:
        jobs = operations._jobs
        replan = replanner(jobs, requests, hyperparameters) if requests is not None else None
        with deadline_scope(deadline):
            started = await start_retry(jobs, job, only=kinds, replan=replan, outcomes=outcomes)
            await finish_retry(jobs, started, waiting, resubmit, outcomes)
            family = job_family(jobs, started.root)
            return {key: output async for key, output in iter_family_results(jobs, family)}


def discard_input(job_id: str, *, store: Store | str | os.PathLike[str] | None = None) -> bool:
    """Delete a job's kept input (its failed keys can then be retried only with the
    original requests). Returns whether there was any."""
    from lmbatch._jobs._resume import find_recorded_job, open_job_store

    job_store = open_job_store(store)
    job = find_recorded_job(job_store, job_id)
    if job is None:
        raise BatchNotFoundError(f"the job store at {job_store.path} knows no job {job_id!r}")
    root = family_root(job_store, job)
    had = job_store.spool_fetch(root.job_id, 0).exists()
    job_store.discard_spool(root.job_id)
    return had
