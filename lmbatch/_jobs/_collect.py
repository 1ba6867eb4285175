"""Collecting results: exactly one outcome per submitted key, priced, in the ledger.

A batch's result lines are read in full (:class:`~lmbatch._jobs._downloads.ResultDownload`
retries a short download rather than report finished requests ``missing``), checked
against a structured-output schema, priced, and mapped back from request ids to the
caller's keys. Every submitted key the vendor returned nothing for gets an outcome too
(:func:`unanswered`). A batch found after an interrupted create is proven the chunk's
own before any of its results is used.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from lmbatch._errors import BatchNotFinishedError, LMBatchError
from lmbatch._jobs._downloads import ResultDownload
from lmbatch._jobs._ledger import CostTally, batch_pricer
from lmbatch._jobs._reconcile import verify_parts
from lmbatch._jobs._targets import Target, resolve
from lmbatch._keys import strip_job_tag
from lmbatch._outputs import ErrorKind, LMOutput
from lmbatch._results import StructuredOutputValidator
from lmbatch._status import BatchInfo, BatchStatus

if TYPE_CHECKING:
    from lmbatch._jobs._orchestrator import Orchestrator
    from lmbatch._store import JobRecord

__all__ = ["iter_results", "unanswered"]

logger = logging.getLogger("lmbatch")

#: The batches behind a target: each one's info, and its job and chunk when recorded.
_BatchParts = list[tuple[BatchInfo, "JobRecord | None", "int | None"]]


async def iter_results(jobs: Orchestrator, batch_id: str) -> AsyncIterator[tuple[str, LMOutput]]:
    """Stream ``(key, LMOutput)`` pairs (see :meth:`BatchOperations.iter_results`)."""
    jobs.require("retrieve")
    target = resolve(jobs, batch_id)
    parts = await _terminal_parts(jobs, target)
    # A batch found after an interrupted create is proven the chunk's before any use.
    await verify_parts(jobs, parts)
    for info, job, chunk_index in parts:
        async for pair in _iter_batch_results(jobs, info, job, chunk_index):
            yield pair


async def _terminal_parts(jobs: Orchestrator, target: Target) -> _BatchParts:
    """Infos of the batches behind ``target``, all terminal, or raise."""
    if target.is_job:
        assert target.job is not None
        job = target.job
        if any(chunk.batch_id is None for chunk in job.chunks):
            raise BatchNotFinishedError(
                f"job {job.job_id} has batches that were never submitted; "
                f"run lmbatch.resume({job.job_id!r})",
                batch_id=job.job_id,
                status=BatchStatus.IN_PROGRESS,
            )
        ids = [(chunk.batch_id, chunk.index) for chunk in job.chunks if chunk.batch_id]
        parts: _BatchParts = [(await jobs.fetch(bid), job, index) for bid, index in ids]
    else:
        parts = [(await jobs.fetch(target.id), target.job, target.chunk_index)]
    for info, _, _ in parts:
        if not info["status"].is_terminal:
            raise BatchNotFinishedError(
                f"batch {info['id']} is {info['status'].value} "
                f"({info['provider_status']}); results are available once it ends",
                batch_id=target.id,
                status=info["status"],
            )
    return parts


async def _iter_batch_results(
    jobs: Orchestrator, info: BatchInfo, job: JobRecord | None, chunk_index: int | None
) -> AsyncIterator[tuple[str, LMOutput]]:
    provider = jobs.provider
    context = job.context if job is not None else {}
    keymap = dict(jobs.store.iter_keys(job.job_id, chunk_index)) if job is not None else None
    model = jobs.response_models.get(job.job_id) if job is not None else None
    validator = StructuredOutputValidator.from_context(context, model)
    keep_raw = jobs.options.keep_raw
    # Retried and checked against the vendor's counts: raises rather than leave
    # requests the vendor finished "missing" (which would be resubmitted, paid twice).
    download = ResultDownload(jobs, info, context, keymap, job.job_id if job is not None else None)
    pricer = batch_pricer(provider, job, info)  # one price lookup per batch
    tally = CostTally()
    async for record in download.records():
        custom_id, output = record
        assert custom_id is not None  # unreadable lines are counted, not yielded
        if validator is not None:
            output = validator.check(output)
        if output.error is None and not keep_raw:
            output.raw = None  # the payload is mostly what outputs already hold
        if pricer is not None:
            output.cost = pricer.cost_of(output)
        tally.add(output.cost)
        key = keymap[custom_id] if keymap is not None else strip_job_tag(custom_id)
        yield key, output
    if keymap is not None:
        for custom_id, key in keymap.items():
            if custom_id not in download.seen:
                missing = unanswered(jobs, info, download.unreadable)
                if pricer is not None:
                    missing.cost = pricer.cost_of(missing)
                tally.add(missing.cost)
                yield key, missing
    if job is not None and chunk_index is not None:
        # Every result was read: the batch's line in the ledger (replaced, not
        # added to, when the results are read again).
        tally.record(provider, job, chunk_index, info["id"])
    try:
        await jobs.call(provider.after_results(info, context))
    except LMBatchError as exc:
        # Housekeeping (deleting uploaded files...) must never cost the caller results
        # that were all read.
        logger.warning("batch %s: clean-up after reading results failed: %s", info["id"], exc)


def unanswered(jobs: Orchestrator, info: BatchInfo, unreadable: int) -> LMOutput:
    """The outcome of a submitted request the vendor returned nothing for."""
    if info["status"] is BatchStatus.FAILED:
        first = info["errors"][0] if info["errors"] else None
        return LMOutput.failure(
            "errored",
            first["message"] if first else "the batch failed",
            code=first["code"] if first else "batch_failed",
            provider=jobs.name,
            transient=first.get("transient", False) if first else False,
        )
    ended: dict[BatchStatus, ErrorKind] = {
        BatchStatus.EXPIRED: "expired",
        BatchStatus.CANCELLED: "cancelled",
    }
    kind = ended.get(info["status"])
    if kind is not None and kind not in jobs.provider.result_line_states and not unreadable:
        # A vendor that writes no line for what an ended batch never ran (it does not
        # declare the state in result_line_states): the batch's end says why (expired
        # is resubmitted, cancelled is not, as with vendors that write such lines).
        return LMOutput.failure(
            kind,
            f"the batch was {kind} before this request ran",
            code=f"batch_{kind}",
            provider=jobs.name,
        )
    message = "the provider returned no result for this request"
    if unreadable:
        message += f" ({unreadable} result line(s) of the batch could not be read)"
    return LMOutput.failure(
        "invalid_response" if unreadable else "missing",
        message,
        code="unreadable_result" if unreadable else "missing_result",
        provider=jobs.name,
    )
