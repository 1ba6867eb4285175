"""Making a resubmission round: a new job of the outcomes worth another try.

The round is planned from the parent's spooled input (checked against its checksums, or
rebuilt from the caller's requests; damaged input is never resubmitted), selecting the
lines of the keys to send again, under ids with the round's own tag, within what the
budget (``max_cost``) leaves. Another process may have made the round already: it is
then used as it is. Which outcomes go into a round is
:mod:`lmbatch._jobs._resubmit_policy`'s decision.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from lmbatch._jobs._ledger import ResubmissionBudget
from lmbatch._jobs._queue import planning_caps
from lmbatch._jobs._recording import record_job, round_tag
from lmbatch._jobs._spool import sound_sources
from lmbatch._planning import replan_records

if TYPE_CHECKING:
    from lmbatch._jobs._orchestrator import Orchestrator
    from lmbatch._store import JobRecord

__all__ = ["child_job"]

logger = logging.getLogger("lmbatch")


def child_job(jobs: Orchestrator, parent: JobRecord, retry_keys: set[str]) -> JobRecord | None:
    """The job resubmitting ``retry_keys`` of ``parent`` (existing, or made now).

    None when there is nothing to resubmit, the input is no longer spooled, or the
    budget left does not fit the round.
    """
    store = jobs.store
    existing = store.child_jobs(parent.job_id)
    if existing:
        return existing[0]
    if not retry_keys:
        return None
    # Only the keys resubmitted: the whole job's key map is a million entries at scale.
    keymap = {cid: key for cid, key in store.iter_keys(parent.job_id) if key in retry_keys}
    wanted = set(keymap)
    # Checked against the checksums recorded when spooled; rebuilt from the caller's
    # requests if damaged, or SpoolDamagedError: damaged input is never resubmitted.
    sources = sound_sources(jobs, parent)
    if sources is None:
        logger.warning("job %s: input no longer spooled; cannot resubmit", parent.job_id)
        return None
    budget = ResubmissionBudget(jobs.provider, parent)
    custom_id_of = jobs.provider._record_custom_id

    def select(record: dict[str, Any]) -> str | None:
        custom_id = custom_id_of(record)
        if custom_id not in wanted:
            return None
        budget.add(record)
        return custom_id

    parent_tag = store.job_tag(parent.job_id)
    limits, max_tokens = planning_caps(jobs)
    plan = replan_records(
        sources,
        select,
        keymap,
        limits=limits,
        fingerprint_salt=f"{parent.fingerprint}\x00round{parent.round + 1}",
        spool_root=store.spool_dir(),
        # The resubmission's ids carry its own tag: its batches are never the parent's.
        retag=(parent_tag, round_tag(jobs, parent_tag)),
        max_tokens=max_tokens,
    )
    try:
        refusal = budget.refusal()
        if refusal is not None:
            logger.warning("job %s: %s", parent.job_id, refusal)
            return None
        child, _ = record_job(jobs, plan, parent=parent)
    finally:
        plan.cleanup()
    return child
