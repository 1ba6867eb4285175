"""Finding the requests of a ``batchify`` group that an earlier job already carries.

Each intercepted request is keyed by a fingerprint of its body (``bfy-`` and 40 hex
digits). Which calls share a job depends on when they arrived (a group is flushed by
size, by time window, at the end of the block), so a re-run after a crash may group the
same calls differently, and a job is recorded under a fingerprint of its whole set of
requests. Before a group is submitted, each of its keys is therefore looked up in the
jobs recorded earlier on the same endpoint and model: a key found there is answered from
that job (waited for if it has not ended), and only the others make a new job. Each
request body is paid for once, however the calls fall into groups.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Collection
from typing import TYPE_CHECKING

from lmbatch._errors import LMBatchError
from lmbatch._jobs._deadline import Deadline, deadline_scope
from lmbatch._jobs._invocation import iter_complete_job
from lmbatch._jobs._poll_policy import Waiting
from lmbatch._jobs._resubmit_policy import resubmit_rounds
from lmbatch._keys import CustomIdMapper

if TYPE_CHECKING:
    from lmbatch._jobs._orchestrator import Orchestrator
    from lmbatch._limits import ProviderLimits
    from lmbatch._outputs import LMOutput
    from lmbatch._store import JobRecord
    from lmbatch._store_contract import Store

__all__ = ["BATCHIFY_SOURCE", "earlier_jobs", "earlier_outcomes", "mark_job"]

logger = logging.getLogger("lmbatch")

#: The ``source`` noted for every job batchify submits (shown by ``lmbatch jobs``): the
#: jobs whose requests are fingerprint keys, searched key by key on a re-run.
BATCHIFY_SOURCE = "lmbatch.batchify"


def earlier_jobs(
    jobs: Orchestrator, keys: Collection[str], *, within: float
) -> list[tuple[JobRecord, set[str]]]:
    """Which of ``keys`` earlier jobs hold: ``(job, its keys of these)``, each key in one.

    Only first rounds recorded in the last ``within`` seconds on the provider's endpoint
    and model are searched (what ``invoke`` would re-attach to), newest first. A key is
    the fingerprint of the whole request, endpoint included, so a job holding it was
    sent exactly that body.
    """
    provider = jobs.provider
    store = jobs.store
    wanted = set(keys)
    found: list[tuple[JobRecord, set[str]]] = []
    oldest = time.time() - within
    labels = store.job_labels()
    model = provider.settings.model
    recent = store.list_jobs(
        provider.name,
        first_rounds=True,
        endpoint=provider.endpoint_identity,
        model=model,
        since=oldest,
    )
    for job in recent:
        if not wanted:
            break
        if job.model != model:  # a model of None filters nothing in the store
            continue
        if labels.get(job.job_id, (None, None))[1] == BATCHIFY_SOURCE:
            held = _held(store, job, wanted, provider.limits)
        elif job.request_count <= len(wanted) * _KEYS_READ_PER_LOOKUP:
            # Not marked: another kind of job (its keys are not fingerprints; only a
            # small one is worth reading), or batchify's, interrupted before it was
            # submitted and marked (found here when it is no larger than that).
            held = {key for _, key in store.iter_keys(job.job_id) if key in wanted}
        else:
            continue
        if held:
            found.append((job, held))
            wanted -= held
    return found


#: How many keys of a job's key map can be read, page by page, in the time of one
#: look-up of a single request id: ~10 on SQLite, ~100 on PostgreSQL, whose look-up is a
#: round trip (``python3 dev.py bench --only store``). Nearer the lower figure: a page
#: read too many costs less than a round trip too many.
_KEYS_READ_PER_LOOKUP = 15


def _held(store: Store, job: JobRecord, wanted: set[str], limits: ProviderLimits) -> set[str]:
    """The keys of ``wanted`` that ``job`` holds, by whichever lookup is cheaper."""
    if job.request_count <= len(wanted) * _KEYS_READ_PER_LOOKUP:
        return {key for _, key in store.iter_keys(job.job_id) if key in wanted}
    # One indexed look-up per key: the request id a key was sent as is the key with the
    # job's tag (a fingerprint key is always a valid id, so it is never mapped).
    mapper = CustomIdMapper((), limits, job.tag)
    return {key for key in wanted if store.chunk_of(job.job_id, mapper(key)) is not None}


async def earlier_outcomes(
    jobs: Orchestrator,
    job_id: str,
    *,
    status_check_interval: float,
    timeout: float | None,
    resubmit: int | bool,
) -> AsyncIterator[tuple[str, LMOutput]]:
    """Every outcome of an earlier job, as ``lmbatch.resume`` would give them.

    What was never submitted is submitted (its input waits in the store's spool), the
    job is waited for, and its resubmission rounds are run or re-attached to.
    """
    job = jobs.store.get_job(job_id)
    if job is None:  # forgotten since it was found: nothing to read
        return
    waiting = Waiting.of(status_check_interval=status_check_interval, timeout=timeout)
    deadline = Deadline.after(timeout, job_id) if timeout is not None else None
    pairs = iter_complete_job(jobs, job, waiting, resubmit_rounds(resubmit))
    try:
        while True:
            # Entered anew for each step, as invoke_iter does: the consumer runs between.
            with deadline_scope(deadline):
                try:
                    pair = await pairs.__anext__()
                except StopAsyncIteration:
                    return
            yield pair
    finally:
        await pairs.aclose()


def mark_job(jobs: Orchestrator, handle: str) -> None:
    """Note :data:`BATCHIFY_SOURCE` on the job behind ``handle`` (a job or batch id)."""
    store = jobs.store
    job = store.get_job(handle)
    if job is None:
        found = store.find_batch(
            handle, provider=jobs.provider.name, endpoint=jobs.provider.endpoint_identity
        )
        job = found[0] if found is not None else None
    if job is None:
        return
    try:
        store.set_job_label(job.job_id, source=BATCHIFY_SOURCE)
    except LMBatchError as exc:  # the answers matter more than the mark
        logger.warning("could not mark job %s as batchify's: %s", job.job_id, exc)
