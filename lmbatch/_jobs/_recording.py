"""Recording a job: validate and plan the caller's requests, record the intent, spool.

Before anything is sent, the requests are validated, encoded and split into chunks (a
plan), and the job (fingerprint, chunk sizes, key map) is recorded in the job store with
the chunks' encoded input spooled beside it: a job on record can always be submitted,
resumed or resubmitted from the store alone. :func:`record_job` is the one place a job
is created, for a caller's requests (round 1) and for a resubmission round alike.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from lmbatch._errors import ValidationError
from lmbatch._estimate import parse_max_cost
from lmbatch._jobs._batches import has_ended
from lmbatch._jobs._budget import check_budget, keep_budget
from lmbatch._jobs._queue import planning_caps
from lmbatch._jobs._spool import adopt_plan_chunk, discard_spool, plan_chunk_file, requests_at_hand
from lmbatch._jobs._submission import submit_pending
from lmbatch._jobs._targets import handle_of
from lmbatch._keys import CustomIdMapper, new_job_tag
from lmbatch._planning import BatchPlan, plan_batches, spool_error
from lmbatch._private import make_private_dir

if TYPE_CHECKING:
    from lmbatch._hyperparameters import Hyperparameters
    from lmbatch._jobs._orchestrator import Orchestrator
    from lmbatch._messages import LMInput
    from lmbatch._store import JobRecord

__all__ = [
    "REUSE_WINDOW_SECONDS",
    "create",
    "prepare",
    "record_job",
    "record_requests",
    "replanner",
    "spool_or_forget",
]

logger = logging.getLogger("lmbatch")

#: How old a job may be for ``invoke`` to re-attach to it instead of submitting again.
REUSE_WINDOW_SECONDS = 7 * 24 * 3600


async def create(
    jobs: Orchestrator,
    requests: Mapping[str, LMInput],
    hyperparameters: dict[str, Any] | None,
    *,
    reuse: bool | float,
    on_submitted: Callable[[str, bool], None] | None,
    max_cost: float | Decimal | str | None,
    detach: bool = False,
) -> str:
    """Record the requests as a job (or re-attach to one) and submit it; return its id.

    With ``detach``, nothing is sent: the job is handed to the workers
    (:mod:`lmbatch.worker`), which submit it. See :meth:`BatchOperations.create`.
    """
    job, created = await record_requests(
        jobs, requests, hyperparameters, reuse=reuse, max_cost=max_cost, unless_ended=True
    )
    if detach:
        from lmbatch._worker_queue import queue_for_workers

        queue_for_workers(jobs.store, job.job_id)
        if on_submitted is not None:
            on_submitted(job.job_id, created)
        return job.job_id
    with requests_at_hand(jobs, job.job_id, replanner(jobs, requests, hyperparameters)):
        handle = handle_of(await submit_pending(jobs, job))
    if on_submitted is not None:
        on_submitted(handle, created)
    return handle


async def record_requests(
    jobs: Orchestrator,
    requests: Mapping[str, LMInput],
    hyperparameters: dict[str, Any] | None,
    *,
    reuse: bool | float,
    max_cost: float | Decimal | str | None,
    unless_ended: bool = False,
) -> tuple[JobRecord, bool]:
    """Validate, plan and record the caller's requests; return ``(job, created)``.

    The budget (``max_cost``) is checked before anything is recorded. With ``reuse``, a
    job of the same requests and settings is re-attached to; with ``unless_ended`` too,
    only if it has not ended (its results are there to read; a new submission is what
    ``create`` asks for).
    """
    budget = parse_max_cost(max_cost)
    params, plan = prepare(jobs, requests, hyperparameters)
    try:
        checked = check_budget(jobs, requests, params, budget)
        job, created = record_job(jobs, plan, params, reuse_within=reuse_window(reuse))
        if not created and unless_ended and await has_ended(jobs, job):
            job, created = record_job(jobs, plan, params)
    finally:
        plan.cleanup()
    keep_budget(jobs, job, params, budget, checked)
    if not created:
        logger.info("re-attaching to job %s (same requests and settings)", job.job_id)
    return job, created


def reuse_window(reuse: bool | float) -> float | None:
    """Seconds within which a job of the same requests is re-attached to (None: never)."""
    if reuse is True:
        return REUSE_WINDOW_SECONDS
    if reuse is False:
        return None
    if reuse < 0:
        raise ValidationError(f"reuse must be True, False or a number of seconds >= 0, not {reuse}")
    return float(reuse)


def replanner(
    jobs: Orchestrator, requests: Mapping[str, LMInput], hyperparameters: dict[str, Any] | None
) -> Callable[[], BatchPlan]:
    """A fresh plan of the caller's requests, to rebuild damaged spool files."""
    return lambda: prepare(jobs, requests, hyperparameters)[1]


def prepare(
    jobs: Orchestrator, requests: Mapping[str, LMInput], hyperparameters: dict[str, Any] | None
) -> tuple[Hyperparameters, BatchPlan]:
    """Validate, encode and split the caller's requests into a plan (nothing recorded)."""
    provider = jobs.provider
    provider.check_ready()  # before anything is validated, recorded or sent
    if not isinstance(requests, Mapping):
        raise ValidationError(
            f"requests must be a dict of key → input, not {type(requests).__name__}"
        )
    if not requests:
        raise ValidationError("requests is empty: nothing to submit")
    for key in requests:
        if not isinstance(key, str):
            raise ValidationError(f"keys must be strings, got {type(key).__name__} {key!r}")
    params = provider._checked_hyperparameters(hyperparameters)
    # A fresh tag on every request id: a batch holding them is this job's and no other's.
    tag = new_job_tag(provider.limits)
    # No chunk larger than the vendor's batch queue: it could never be sent.
    limits, max_tokens = planning_caps(jobs)
    plan = plan_batches(
        requests,
        CustomIdMapper(requests.keys(), provider.limits, tag),
        params,
        limits=limits,
        encode=provider.encode_request,
        check=provider.validate_request,
        # Settings are part of the identity even where an encoding would drop them.
        fingerprint_salt="\x00".join(
            [
                provider.name,
                str(provider.settings.model),
                json.dumps(params.fingerprint_data(), sort_keys=True, default=str),
            ]
        ),
        spool_root=jobs.store.spool_dir(),
        tag=tag,
        max_tokens=max_tokens,
    )
    return params, plan


def round_tag(jobs: Orchestrator, parent_tag: str) -> str:
    """The tag of a resubmission round's request ids: its own, never the parent's."""
    return new_job_tag(jobs.provider.limits) if parent_tag else ""


def record_job(
    jobs: Orchestrator,
    plan: BatchPlan,
    params: Hyperparameters | None = None,
    *,
    reuse_within: float | None = None,
    parent: JobRecord | None = None,
) -> tuple[JobRecord, bool]:
    """Record a job's intent and spool its input; return ``(job, created)``.

    Args:
        plan: The job's requests, planned.
        params: The hyperparameters of a first round (its context, e.g. the response
            schema, is recorded with it).
        reuse_within: Seconds: a job of the same requests and settings created that
            recently is returned instead, so a re-run re-attaches rather than pays twice.
        parent: The job whose outcomes this one resubmits (a next round): its model,
            context and connection are the new job's.
    """
    provider, store = jobs.provider, jobs.store
    models = jobs.response_models
    if parent is not None:
        model, context, round_ = parent.model, parent.context, parent.round + 1
        endpoint, connection = parent.endpoint, parent.connection
        response_model = models.get(parent.job_id)
    else:
        assert params is not None
        model, context, round_ = provider.settings.model, _context(jobs, params), 1
        endpoint, connection = provider.endpoint_identity, provider.connection
        schema = params.response_schema
        response_model = schema.model if schema is not None else None
    job_id, created = store.create_job(
        job_id="lmbjob_" + uuid.uuid4().hex,
        provider=provider.name,
        model=model,
        fingerprint=plan.fingerprint,
        request_count=plan.request_count,
        context=context,
        chunk_sizes=plan.chunk_sizes,
        keys=plan.keys,
        reuse_after=time.time() - reuse_within if reuse_within is not None else None,
        parent_job_id=parent.job_id if parent is not None else None,
        round=round_,
        endpoint=endpoint,
        connection=connection,
        tag=plan.tag,
    )
    if response_model is not None:
        models[job_id] = response_model
    job = store.get_job(job_id)
    assert job is not None
    spool_or_forget(jobs, job, plan, created)
    return job, created


def _context(jobs: Orchestrator, params: Hyperparameters) -> dict[str, Any]:
    """What a first round's results need to be read: the provider's facts, the schema."""
    context = dict(jobs.provider.batch_context(params))
    if params.response_schema is not None:
        context["response_schema"] = params.response_schema.json_schema
        context["response_model"] = params.response_schema.model_path
    return context


def spool_or_forget(jobs: Orchestrator, job: JobRecord, plan: BatchPlan, created: bool) -> None:
    """Spool the plan; if that fails (a full disk...), forget a job made just now.

    A job on record without its input would be a half-written job: nothing could
    submit it, and ``create`` would leave it behind on every failed try.
    """
    store = jobs.store
    try:
        spool_plan(jobs, job, plan)
    except OSError as exc:
        if created and store.forget_unsubmitted_job(job.job_id):
            discard_spool(jobs, job.job_id)
        raise spool_error(store.spool_dir(), exc) from exc


def spool_plan(jobs: Orchestrator, job: JobRecord, plan: BatchPlan) -> None:
    """Move the plan's files into the job's spool, for chunks not yet submitted.

    A job recorded by an earlier run (re-attached, or made by a concurrent process)
    may lack spooled input; a plan of the same requests has the same bytes and the
    same chunking, so it can stand in.
    """
    store = jobs.store
    spool = store.spool_dir(job.job_id)
    make_private_dir(spool)
    if plan.chunk_sizes != [chunk.request_count for chunk in job.chunks]:
        return
    for chunk in job.chunks:
        if chunk.batch_id is None:
            # Checksummed; replaces a spooled file only if it is missing or damaged.
            adopt_plan_chunk(
                store, job.job_id, chunk.index, plan_chunk_file(plan, job, chunk.index)
            )
