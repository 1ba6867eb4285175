"""``invoke`` and ``invoke_iter``: record, submit, wait, collect, resubmit, in rounds.

Both take the same arguments (:class:`InvokeArguments`, read once by
:meth:`Invocation.start`) and run the same rounds (:func:`iter_complete_job`):
``invoke`` gathers the streamed outcomes into a dict, so the two cannot drift apart.
:func:`lmbatch.resume` runs the rounds of a job recorded earlier (:func:`complete_job`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Collection, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from lmbatch._jobs._batches import job_family
from lmbatch._jobs._collect import iter_results
from lmbatch._jobs._deadline import Deadline, deadline_scope
from lmbatch._jobs._poll_policy import PollPolicy, Waiting
from lmbatch._jobs._queue import requeue_refused
from lmbatch._jobs._reconcile import settle_adopted
from lmbatch._jobs._recording import record_requests, replanner
from lmbatch._jobs._resubmission import child_job
from lmbatch._jobs._resubmit_policy import (
    OutcomePolicy,
    ResubmissionRound,
    resubmit_reason,
    resubmit_rounds,
    should_resubmit,
)
from lmbatch._jobs._spool import discard_spool, requests_at_hand
from lmbatch._jobs._submission import submit_pending
from lmbatch._jobs._targets import check_job_endpoint, handle_of

if TYPE_CHECKING:
    from lmbatch._jobs._orchestrator import Orchestrator
    from lmbatch._messages import LMInput
    from lmbatch._outputs import LMOutput
    from lmbatch._status import BatchInfo
    from lmbatch._store import JobRecord

__all__ = [
    "Invocation",
    "InvokeArguments",
    "complete_job",
    "invoke",
    "invoke_iter",
    "iter_complete_job",
]

logger = logging.getLogger("lmbatch")


@dataclass(frozen=True)
class InvokeArguments:
    """The arguments of ``invoke`` and ``invoke_iter`` after the requests, as given.

    Read (and checked) by :meth:`Invocation.start` when the call starts: for
    ``invoke_iter``, at its first step, like any other error of the call.
    """

    status_check_interval: float
    max_iterations: int | None
    timeout: float | None
    cancel_on_timeout: bool
    max_status_check_interval: float
    on_progress: Callable[[BatchInfo], None] | None
    resubmit: int | bool
    reuse: bool | float
    on_submitted: Callable[[str, bool], None] | None
    max_cost: float | Decimal | str | None
    retry_on: Collection[str] | str
    treat_as_error: Collection[str] | str
    on_resubmit: Callable[[ResubmissionRound], None] | None
    poll: PollPolicy | None
    progress: bool = False


@dataclass(frozen=True)
class Invocation:
    """An ``invoke``-style call's job, and how to wait for it and resubmit."""

    job: JobRecord
    waiting: Waiting
    rounds: int
    announce: Callable[[str], None] | None
    deadline: Deadline | None
    outcomes: OutcomePolicy

    @classmethod
    async def start(
        cls,
        jobs: Orchestrator,
        requests: Mapping[str, LMInput],
        hyperparameters: dict[str, Any] | None,
        arguments: InvokeArguments,
    ) -> Invocation:
        """Read the call's arguments; record (or re-attach to) its job."""
        waiting = Waiting.of(
            status_check_interval=arguments.status_check_interval,
            max_status_check_interval=arguments.max_status_check_interval,
            max_iterations=arguments.max_iterations,
            poll=arguments.poll,
            timeout=arguments.timeout,
            cancel_on_timeout=arguments.cancel_on_timeout,
            on_progress=arguments.on_progress,
        )
        outcomes = OutcomePolicy.of(
            arguments.retry_on, arguments.treat_as_error, arguments.on_resubmit
        )
        deadline = Deadline.after(waiting.timeout) if waiting.timeout is not None else None
        job, created = await record_requests(
            jobs,
            requests,
            hyperparameters,
            reuse=arguments.reuse,
            max_cost=arguments.max_cost,
        )
        if deadline is not None:
            deadline.target = job.job_id  # until the batch id is known
        announce = None
        if arguments.on_submitted is not None:
            callback = arguments.on_submitted

            def announce(handle: str) -> None:
                callback(handle, created)

        rounds = resubmit_rounds(arguments.resubmit)
        return cls(job, waiting, rounds, announce, deadline, outcomes)


async def invoke(
    jobs: Orchestrator,
    requests: Mapping[str, LMInput],
    hyperparameters: dict[str, Any] | None,
    arguments: InvokeArguments,
) -> dict[str, LMOutput]:
    """Create, wait, collect and resubmit (see :meth:`BatchOperations.invoke`)."""
    jobs.require("invoke")
    if arguments.progress:
        from lmbatch._progress_display import chain, progress_display

        with progress_display() as display:
            shown = replace(
                arguments,
                progress=False,
                on_progress=chain(display.on_progress, arguments.on_progress),
                on_resubmit=chain(display.on_resubmit, arguments.on_resubmit),
            )
            return await invoke(jobs, requests, hyperparameters, shown)
    started = await Invocation.start(jobs, requests, hyperparameters, arguments)
    with (
        deadline_scope(started.deadline),
        requests_at_hand(jobs, started.job.job_id, replanner(jobs, requests, hyperparameters)),
    ):
        return await complete_job(
            jobs,
            started.job,
            started.waiting,
            started.rounds,
            on_submitted=started.announce,
            outcomes=started.outcomes,
        )


async def invoke_iter(
    jobs: Orchestrator,
    requests: Mapping[str, LMInput],
    hyperparameters: dict[str, Any] | None,
    arguments: InvokeArguments,
) -> AsyncIterator[tuple[str, LMOutput]]:
    """:func:`invoke`, streamed (see :meth:`BatchOperations.invoke_iter`)."""
    jobs.require("invoke")
    started = await Invocation.start(jobs, requests, hyperparameters, arguments)
    job = started.job
    pairs = iter_complete_job(
        jobs,
        job,
        started.waiting,
        started.rounds,
        on_submitted=started.announce,
        outcomes=started.outcomes,
    )
    replan = replanner(jobs, requests, hyperparameters)
    try:
        while True:
            # The scopes are entered anew for each step: a generator's consumer runs
            # between steps, and may close it from another context.
            with deadline_scope(started.deadline), requests_at_hand(jobs, job.job_id, replan):
                try:
                    pair = await pairs.__anext__()
                except StopAsyncIteration:
                    return
            yield pair
    finally:
        await pairs.aclose()


async def complete_job(
    jobs: Orchestrator,
    job: JobRecord,
    waiting: Waiting,
    resubmit_rounds: int,
    on_submitted: Callable[[str], None] | None = None,
    outcomes: OutcomePolicy | None = None,
) -> dict[str, LMOutput]:
    """Submit what is left of ``job``, wait, collect, resubmit what is worth it.

    The collected twin of :func:`iter_complete_job` (one implementation of the rounds,
    so ``invoke`` and ``invoke_iter`` cannot drift apart).
    """
    return {
        key: output
        async for key, output in iter_complete_job(
            jobs, job, waiting, resubmit_rounds, on_submitted=on_submitted, outcomes=outcomes
        )
    }


async def iter_complete_job(
    jobs: Orchestrator,
    job: JobRecord,
    waiting: Waiting,
    resubmit_rounds: int,
    on_submitted: Callable[[str], None] | None = None,
    outcomes: OutcomePolicy | None = None,
) -> AsyncGenerator[tuple[str, LMOutput], None]:
    """:func:`complete_job`, streamed: every key's final outcome, yielded once.

    A round's outcome is final unless its key goes into a later round. Later rounds
    that already exist (a re-run re-attaching, rounds made by :func:`lmbatch.retry`)
    are known before the round is read, and the outcomes of their keys are skipped;
    they are followed whatever ``resubmit_rounds`` (which bounds the rounds made, and
    paid for, by this call). Otherwise the outcomes worth resubmitting are held (few,
    and small: failures) until the next round is made from them, and the rest are
    yielded at once. Memory: one batch's key map and the keys of later rounds, never
    the results. When some key failed, the first round's spooled input is kept (for
    :func:`lmbatch.retry`); the rest of the family's is deleted at the end.
    """
    check_job_endpoint(jobs, job)  # nothing is sent or read on another endpoint
    policy = outcomes or OutcomePolicy()
    name = jobs.name
    job, handle = await _run_job(jobs, job, waiting, on_submitted)
    current = job
    rounds_left = max(0, resubmit_rounds)
    # Keys already yielded that a later round carries anyway (only when another
    # process made that round from results that differ from ours): skipped there.
    settled: set[str] = set()
    failed = False
    while True:
        # Rounds already made after this one (by an earlier run, another process, or
        # lmbatch.retry) are followed whatever the rounds left: they cost nothing more.
        # A key is taken from the last of them that carries it (a retry round carries
        # keys its parent round may not).
        later = job_family(jobs, current)[1:]
        existing = later[:1]
        redone = _job_keys(jobs, existing[0]) if existing else set()
        beyond = set().union(*(_job_keys(jobs, after) for after in later[1:]))
        held: dict[str, LMOutput] = {}
        reasons: Counter[str] = Counter()
        async for key, output in iter_results(jobs, handle):
            if key in redone or key in settled or key in beyond:
                if key in redone:
                    reasons[resubmit_reason(output)] += 1
                continue
            if current is not job:
                details = {**output.finish_details, "lmbatch_round": current.round}
                output = output.model_copy(update={"finish_details": details})
            if rounds_left and not existing and should_resubmit(output, policy.retry_on):
                held[key] = output
                continue
            final = policy.final(output, name)
            failed = failed or final.error is not None
            yield key, final
        child = None
        if existing:
            child = existing[0]
        elif rounds_left:
            child = child_job(jobs, current, set(held))
        if child is None:
            for key, output in held.items():
                final = policy.final(output, name)
                failed = failed or final.error is not None
                yield key, final
            break
        if not existing:
            # Made from ``held`` (or, in a race, by another process from its own
            # reading): a held key it does not carry keeps this round's outcome.
            carried = _job_keys(jobs, child)
            for key, output in held.items():
                if key not in carried:
                    final = policy.final(output, name)
                    failed = failed or final.error is not None
                    yield key, final
                else:
                    reasons[resubmit_reason(output)] += 1
            settled.update(carried.difference(held))
            held.clear()
        policy.announce(current, child, reasons)
        logger.info(
            "resubmitting %d request(s) of job %s as job %s (round %d)",
            child.request_count,
            current.job_id,
            child.job_id,
            child.round,
        )
        current, handle = await _run_job(jobs, child, waiting)
        rounds_left = max(0, rounds_left - 1)
    for finished in job_family(jobs, job):
        if failed and finished.parent_job_id is None:
            # Kept while keys failed: lmbatch.retry resubmits them from the first
            # round's input (every later round's lines are copies of its lines).
            continue
        discard_spool(jobs, finished.job_id)


async def _run_job(
    jobs: Orchestrator,
    job: JobRecord,
    waiting: Waiting,
    on_submitted: Callable[[str], None] | None = None,
) -> tuple[JobRecord, str]:
    """Submit what is left of ``job`` and wait until it ends; return it and its handle.

    A batch found after an interrupted create is checked against its chunk's request
    ids once it ends; one that is not the chunk's is dropped and the chunk sent again.
    """
    while True:
        job = await submit_pending(jobs, job, waiting)
        handle = handle_of(job)
        if on_submitted is not None:
            on_submitted(handle)
            on_submitted = None
        info = await jobs.wait(handle, waiting)
        if await requeue_refused(jobs, job, info):
            continue  # a batch failed unrun for a full vendor queue: its chunk is sent again
        if not await settle_adopted(jobs, job):
            return job, handle


def _job_keys(jobs: Orchestrator, job: JobRecord) -> set[str]:
    """The caller's keys in ``job``."""
    return {key for _, key in jobs.store.iter_keys(job.job_id)}
