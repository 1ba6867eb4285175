"""Retrying the keys that failed in a finished job: a new round of the same job.

``invoke`` resubmits what is worth it on its own (expired, missing, transient errors),
within its ``resubmit`` rounds. What is left failed for good as far as it could tell: a
request the vendor refused, a batch that expired too often, a cancelled batch. Once the
cause is fixed (a quota raised, a vendor outage over), :func:`lmbatch.retry` sends exactly those
keys again, as one more round of the job (``info()`` and ``lmbatch jobs`` show it), and
``retrieve`` of the job then gives each key its latest outcome, still one per key.

The round is made from the first round's spooled input, which is kept while some key
of the job failed (every later round's lines are copies of its lines, so a key that
failed in any round is there): the failed keys' lines are selected chunk by chunk, under
ids with the round's own tag, within what the job's budget (``max_cost``) leaves, like
any resubmission round. A job whose input is gone (finished by an older lmbatch, or
discarded) is retried from the caller's original requests, checked against the job's
fingerprint; the spool-rebuild path puts the input back. The kept input is deleted once
no key of the job has failed (after a retry that fixed them all), or on request
(:func:`lmbatch._jobs._retry.discard_input`, ``lmbatch retry JOB --discard-input``).

Memory: the failed keys (read from the job's results, streamed; from the outcomes a
worker kept in the store for a job it finished, else downloaded) and their request ids;
never the whole job's keys or results.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from lmbatch._errors import (
    BatchNotFinishedError,
    BudgetExceededError,
    RetryInputMissingError,
    ValidationError,
)
from lmbatch._estimate import family_ids, family_root, spent
from lmbatch._jobs._batches import job_family
from lmbatch._jobs._invocation import iter_complete_job
from lmbatch._jobs._latest import iter_family_results
from lmbatch._jobs._ledger import ResubmissionBudget
from lmbatch._jobs._poll_policy import Waiting
from lmbatch._jobs._recording import record_job, round_tag
from lmbatch._jobs._resubmit_policy import (
    OutcomePolicy,
    ResubmissionRound,
    resubmit_reason,
)
from lmbatch._jobs._spool import Replan, discard_spool, requests_at_hand, sound_sources
from lmbatch._jobs._submission import submit_pending
from lmbatch._jobs._targets import check_job_endpoint, handle_of
from lmbatch._outputs import ErrorKind
from lmbatch._planning import replan_records
from lmbatch._status import BatchStatus
from lmbatch._worker_queue import saved_outcomes

if TYPE_CHECKING:
    from lmbatch._jobs._orchestrator import Orchestrator
    from lmbatch._store import JobRecord

__all__ = [
    "FAILURE_KINDS",
    "RetryStart",
    "failure_kinds",
    "finish_retry",
    "start_retry",
]

logger = logging.getLogger("lmbatch")

#: The kinds of failure a retry can select (``only=``, ``--only``).
FAILURE_KINDS: frozenset[str] = frozenset(get_args(ErrorKind))


def failure_kinds(only: Collection[str] | str | None) -> frozenset[str] | None:
    """``only`` checked: error kinds (None: every failed key)."""
    if only is None:
        return None
    words = frozenset(
        word.strip()
        for part in ([only] if isinstance(only, str) else only)
        for word in part.split(",")
        if word.strip()
    )
    unknown = sorted(words - FAILURE_KINDS)
    if unknown or not words:
        raise ValidationError(
            f"only: unknown kind(s) of failure {unknown or [only]}; choose among "
            f"{', '.join(sorted(FAILURE_KINDS))}"
        )
    return words


@dataclass
class RetryStart:
    """What :func:`start_retry` found and did.

    Attributes:
        root: The job (its first round).
        failed: Keys of the job whose latest outcome failed.
        selected: Those chosen for the retry (``only`` filters them).
        reasons: How many selected keys for each reason (``expired``...).
        round: The retry round's job, submitted; None when nothing was selected.
    """

    root: JobRecord
    failed: int = 0
    selected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    round: JobRecord | None = None

    @property
    def handle(self) -> str | None:
        """The id to follow the retry round by (its batch id, for a one-batch round)."""
        return handle_of(self.round) if self.round is not None else None

    def describe(self) -> ResubmissionRound | None:
        """The round as ``on_resubmit`` and ``--json`` report it (None: no round)."""
        if self.round is None:
            return None
        return ResubmissionRound(
            round=self.round.round,
            job_id=self.round.job_id,
            parent_job_id=self.round.parent_job_id or self.root.job_id,
            requests=self.round.request_count,
            reasons=dict(self.reasons.most_common()),
        )


async def start_retry(
    jobs: Orchestrator,
    job: JobRecord,
    *,
    only: frozenset[str] | None = None,
    replan: Replan | None = None,
    outcomes: OutcomePolicy | None = None,
) -> RetryStart:
    """Make and submit a round of the failed keys of ``job``'s family (finished).

    Args:
        job: The job, or any of its rounds.
        only: Kinds of failure to retry (None: every failed key).
        replan: A fresh plan of the job's original requests, for a job whose input is
            gone (checked against the job's fingerprint first).
        outcomes: Who hears of the round (``on_resubmit``).

    Raises:
        BatchNotFinishedError: A round of the job has not ended.
        RetryInputMissingError: The job's input is gone and ``replan`` is None.
        ValidationError: ``replan``'s requests are not those of the job.
        BudgetExceededError: The round does not fit what the job's ``max_cost`` leaves.
    """
    check_job_endpoint(jobs, job)
    store = jobs.store
    root = family_root(store, job)
    family = job_family(jobs, root)
    await _require_finished(jobs, root, family)
    start = RetryStart(root)
    wanted: set[str] = set()
    # A job a worker finished keeps every key's latest outcome in the store (while no
    # round was added since): read there, nothing is downloaded again.
    latest = saved_outcomes(store, root.job_id) or iter_family_results(jobs, family)
    async for key, output in latest:
        error = output.error
        if error is None:
            continue
        start.failed += 1
        if only is None or error.kind in only:
            wanted.add(key)
            start.reasons[resubmit_reason(output)] += 1
    start.selected = len(wanted)
    if not wanted:
        if not start.failed:
            discard_spool(jobs, root.job_id)  # no failed key left: nothing to retry from
        return start
    if replan is not None:
        _check_requests(root, replan)
    with requests_at_hand(jobs, root.job_id, replan) if replan else contextlib.nullcontext():
        # Checked against the checksums recorded when spooled (or rebuilt from the
        # requests at hand): damaged input is never sent.
        sources = sound_sources(jobs, root)
    if sources is None:
        raise RetryInputMissingError(
            f"job {root.job_id}: its spooled input is gone (deleted when its results were "
            "read, by an lmbatch that did not keep it, or discarded), so its failed keys "
            "cannot be sent again from the job store alone. Pass the original requests "
            "(lmbatch retry --requests FILE with the same -P/--schema options as the "
            "first run; requests= and hyperparameters= of lmbatch.retry): they are "
            "checked against the job's fingerprint.",
            job_id=root.job_id,
        )
    start.round = _record_round(jobs, root, family[-1], wanted, sources)
    policy = outcomes or OutcomePolicy()
    policy.announce(family[-1], start.round, start.reasons)
    logger.info(
        "retrying %d failed request(s) of job %s as job %s (round %d)",
        start.round.request_count,
        root.job_id,
        start.round.job_id,
        start.round.round,
    )
    start.round = await submit_pending(jobs, start.round)
    return start


def _record_round(
    jobs: Orchestrator, root: JobRecord, last: JobRecord, wanted: set[str], sources: list[Path]
) -> JobRecord:
    """Record the retry round of ``wanted`` (keys), made from the first round's input."""
    store = jobs.store
    # Only the keys retried: the whole job's key map is a million entries at scale.
    keymap = {cid: key for cid, key in store.iter_keys(root.job_id) if key in wanted}
    budget = ResubmissionBudget(jobs.provider, last)
    custom_id_of = jobs.provider._record_custom_id

    def select(record: dict[str, Any]) -> str | None:
        custom_id = custom_id_of(record)
        if custom_id not in keymap:
            return None
        budget.add(record)
        return custom_id

    root_tag = store.job_tag(root.job_id)
    plan = replan_records(
        sources,
        select,
        keymap,
        limits=jobs.provider.limits,
        fingerprint_salt=f"{root.fingerprint}\x00retry{last.round + 1}",
        spool_root=store.spool_dir(),
        # The round's ids carry its own tag: its batches are never an earlier round's.
        retag=(root_tag, round_tag(jobs, root_tag)),
    )
    try:
        refusal = budget.refusal()
        if refusal is not None:
            assert budget.record is not None
            raise BudgetExceededError(
                f"job {root.job_id}: {refusal}; nothing was sent",
                max_cost=budget.record.max_cost,
                spent=spent(store, family_ids(store, root)),
                upper_bound=budget.upper,
            )
        round_job, _ = record_job(jobs, plan, parent=last)
    finally:
        plan.cleanup()
    return round_job


def _check_requests(root: JobRecord, replan: Replan) -> None:
    """Refuse requests that are not the job's (another file, other settings)."""
    plan = replan()
    try:
        same = plan.fingerprint == root.fingerprint and plan.chunk_sizes == [
            chunk.request_count for chunk in root.chunks
        ]
    finally:
        plan.cleanup()
    if not same:
        raise ValidationError(
            f"the requests given are not those of job {root.job_id} (their fingerprint "
            "differs): give the same requests, with the same model and hyperparameters "
            "(-P, --schema), as the job was created with"
        )


async def _require_finished(jobs: Orchestrator, root: JobRecord, family: list[JobRecord]) -> None:
    """Refuse a job some round of which has not ended, saying how to wait for it."""
    for member in family:
        which = (
            f"job {root.job_id}"
            if member is root
            else f"job {root.job_id} (round {member.round}, job {member.job_id})"
        )
        if any(chunk.batch_id is None for chunk in member.chunks):
            raise BatchNotFinishedError(
                f"{which} is not finished: some of its batches were never submitted; "
                f"finish it with: lmbatch resume {member.job_id} (lmbatch.resume in "
                "Python), then retry its failed keys",
                batch_id=root.job_id,
                status=BatchStatus.IN_PROGRESS,
            )
        for batch_id in member.batch_ids:
            info = await jobs.fetch(batch_id)
            if not info["status"].is_terminal:
                raise BatchNotFinishedError(
                    f"{which} is not finished: it is {info['status'].value} "
                    f"({info['provider_status']}); wait for it with: lmbatch wait "
                    f"{handle_of(root)} (lmbatch.wait in Python), then retry its "
                    "failed keys",
                    batch_id=root.job_id,
                    status=info["status"],
                )


async def finish_retry(
    jobs: Orchestrator,
    start: RetryStart,
    waiting: Waiting,
    resubmit_rounds: int,
    outcomes: OutcomePolicy | None = None,
) -> int:
    """Wait for the retry round (resubmitting within ``resubmit_rounds``, as ``invoke``
    does); return how many keys of the job still failed.

    The first round's input is deleted once none did.
    """
    if start.round is None:
        return start.failed
    still = 0
    async for _, output in iter_complete_job(
        jobs, start.round, waiting, resubmit_rounds, outcomes=outcomes
    ):
        still += output.error is not None
    left = start.failed - start.selected + still
    if not left:
        discard_spool(jobs, start.root.job_id)  # no failed key left to retry from
    return left
