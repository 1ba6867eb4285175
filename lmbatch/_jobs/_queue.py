"""Vendor batch queue limits: never send more than the vendor lets wait at once.

Vendors cap what waits in their batch queue: OpenAI the input tokens of a model's
unfinished batches ("batch queue limit"), Azure the same per deployment, Anthropic the
requests of an organisation's unfinished batches. A batch over the cap is failed by the
vendor (``token_limit_exceeded``). Here:

* the limit in effect for a job's model (:func:`queue_for`): the provider's declaration
  (:attr:`BatchOperations.queue_limits`), the user's ``queue_limit_tokens`` /
  ``queue_limit_requests`` options over it, and what a vendor's refusal said it was;
* chunks are planned no larger than the limit (:func:`planning_caps`);
* before a chunk is sent, its estimated tokens and requests are reserved in the job
  store (:func:`admit`), atomically across every process sharing the store; a chunk
  that does not fit is released (back to *planned*, nothing sent) and waits
  (:func:`wait_for_room`) until batches counted in its queue end;
* a batch seen ending releases its reservation (:func:`release_ended`, from
  :meth:`Orchestrator.fetch`), whichever process sees it;
* a batch the vendor failed because its queue was full (the provider's
  ``queue_full_codes``) is not an outcome: its chunk goes back to *planned* and is sent
  again once there is room (:func:`requeue_refused`), without a resubmission round.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import weakref
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from lmbatch._enqueued import line_tokens
from lmbatch._errors import BatchNotFoundError, ProviderError, StoreError
from lmbatch._jobs._deadline import Deadline, current_deadline
from lmbatch._jobs._spool import prepared_chunk
from lmbatch._limits import ProviderLimits, QueueLimit
from lmbatch._status import BatchStatus
from lmbatch._store import CHUNK_PLANNED

if TYPE_CHECKING:
    from lmbatch._jobs._orchestrator import Orchestrator
    from lmbatch._operations import BatchOperations
    from lmbatch._planning import PreparedBatch
    from lmbatch._status import BatchInfo
    from lmbatch._store import JobRecord
    from lmbatch._store_contract import QueueEntry

__all__ = [
    "MAX_QUEUE_REFUSALS",
    "Queue",
    "QueueFull",
    "admit",
    "jobs_queue",
    "planning_caps",
    "queue_for",
    "release_ended",
    "release_unsent",
    "requeue_refused",
    "wait_for_room",
]

logger = logging.getLogger("lmbatch")

#: Times one chunk's batch may be failed for a full queue and sent again; after that its
#: failure stands (its requests then follow the resubmission policy).
MAX_QUEUE_REFUSALS = 5
#: An entry older than this many completion windows is not counted any more: whatever
#: made it is long gone (a vendor ends every batch within its window).
_STALE_WINDOWS = 2.0
#: "Limit: 2,000,000 enqueued tokens" (OpenAI), "the configured limit of 2000000" (Azure).
_LIMIT_IN_MESSAGE = re.compile(r"[Ll]imit(?: of|:)\s*([\d,_]+)")

# What each provider instance learned, by queue name: the token limit a vendor's
# refusal named (kept with the instance: another account may have another limit).
_learned: weakref.WeakKeyDictionary[Orchestrator, dict[str, int]] = weakref.WeakKeyDictionary()
# Refusals of each chunk's batches seen by this process, by (store, job id, chunk).
_refusals: dict[tuple[str, str, int], int] = {}
# (store, job id, chunk, batch id) whose end was already released: released once.
_released: set[tuple[str, str, int, str]] = set()
# Estimated (tokens, requests) of chunks, by (store, job id, chunk): a chunk file is read
# once per process.
_loads: dict[tuple[str, str, int], tuple[int, int]] = {}


class QueueFull(Exception):
    """The chunk does not fit in its vendor queue now; it was released, nothing sent."""

    def __init__(self, queue: Queue) -> None:
        super().__init__(queue.name)
        self.queue = queue


@dataclass(frozen=True)
class Queue:
    """One vendor queue and the limit in effect for it.

    Attributes:
        name: Provider, endpoint identity and model (``*`` when the vendor's queue is
            shared by every model), the key of its entries in the job store.
        limit: The limit in effect.
    """

    name: str
    limit: QueueLimit


def declared_limit(provider: BatchOperations, model: str | None) -> QueueLimit | None:
    """The provider's declared limit for ``model`` (longest matching key), or None."""
    found: QueueLimit | None = _lookup(provider.queue_limits, model)
    return found


def _lookup(table: Any, model: str | None) -> Any:
    if not table:
        return None
    if model is not None and model in table:
        return table[model]
    best: tuple[int, Any] | None = None
    for key, value in table.items():
        if not key.endswith("*"):
            continue
        stem = key[:-1]
        if (model or "").startswith(stem) and (best is None or len(stem) > best[0]):
            best = (len(stem), value)
    return best[1] if best is not None else None


def _override(setting: int | dict[str, int] | None, model: str | None) -> int | None:
    """The user's option for ``model``: a number, 0 (no limit: -1 here), or None (unset)."""
    value = _lookup(setting, model) if isinstance(setting, dict) else setting
    if value is None:
        return None
    return -1 if value == 0 else int(value)


def queue_for(
    provider: BatchOperations, model: str | None, learned: dict[str, int] | None = None
) -> Queue | None:
    """The queue of ``model``'s batches on ``provider`` and its limit; None when unlimited.

    Args:
        learned: Token limits vendors' refusals named, by queue name (they win when lower).
    """
    declared = declared_limit(provider, model) or QueueLimit()
    settings = provider.settings
    tokens, requests = declared.tokens, declared.requests
    for name, value in (
        ("tokens", _override(settings.queue_limit_tokens, model)),
        ("requests", _override(settings.queue_limit_requests, model)),
    ):
        if value is None:
            continue
        if name == "tokens":
            tokens = None if value < 0 else value
        else:
            requests = None if value < 0 else value
    name = _queue_name(provider, model if declared.per_model else "*")
    known = (learned or {}).get(name)
    if known is not None:
        tokens = known if tokens is None else min(tokens, known)
    if tokens is None and requests is None:
        return None
    return Queue(name, replace(declared, tokens=tokens, requests=requests))


def _queue_name(provider: BatchOperations, model: str | None) -> str:
    return "\x1f".join([provider.name, provider.endpoint_identity, model or ""])


def jobs_queue(jobs: Orchestrator, model: str | None) -> Queue | None:
    """:func:`queue_for`, with what the provider instance learned from refusals."""
    return queue_for(jobs.provider, model, _learned.get(jobs))


def planning_caps(jobs: Orchestrator) -> tuple[ProviderLimits, int | None]:
    """The batch limits to plan chunks with, and the most tokens one chunk may hold.

    A chunk is never larger than the vendor's queue: it could never be sent. What a
    vendor's refusal said the limit is counts too (a resubmission round of the requests
    of a chunk too large for the queue is planned to fit).
    """
    provider = jobs.provider
    limits = provider.limits
    queue = jobs_queue(jobs, provider.settings.model)
    if queue is None:
        return limits, None
    requests = queue.limit.requests
    if requests is not None and requests < limits.max_requests_per_batch:
        # headroom 1: the queue limit is exact, not an encoding-dependent size.
        limits = replace(limits, max_requests_per_batch=requests)
    return limits, queue.limit.tokens


def _store_key(jobs: Orchestrator) -> str:
    return str(jobs.store.path)


def _load(jobs: Orchestrator, prepared: PreparedBatch) -> tuple[int, int]:
    """Estimated ``(tokens, requests)`` of a chunk (its spooled file read once)."""
    key = (_store_key(jobs), prepared.job_id, prepared.chunk_index)
    found = _loads.get(key)
    if found is None:
        tokens = 0
        with prepared.path.open("rb") as handle:
            for line in handle:
                if line.strip():
                    tokens += line_tokens(line)
        found = _loads[key] = (tokens, prepared.request_count)
    return found


def admit(jobs: Orchestrator, job: JobRecord, prepared: PreparedBatch) -> None:
    """Reserve room for a claimed chunk in its vendor queue before it is sent.

    Raises:
        QueueFull: It does not fit now: the caller releases its claim and waits.
    """
    queue = jobs_queue(jobs, job.model)
    if queue is None:
        return
    tokens, requests = _load(jobs, prepared)
    entry = jobs.store.reserve_queue(
        queue.name,
        job.job_id,
        prepared.chunk_index,
        tokens=tokens,
        requests=requests,
        max_tokens=queue.limit.tokens,
        max_requests=queue.limit.requests,
    )
    if entry is None:
        logger.info(
            "job %s chunk %d waits for room in the %s batch queue (%s)",
            job.job_id,
            prepared.chunk_index,
            jobs.name,
            _describe(queue.limit),
        )
        raise QueueFull(queue)


def release_unsent(jobs: Orchestrator, job_id: str, index: int) -> None:
    """A chunk's create is known not to have happened: its room is free again."""
    _quietly(jobs, lambda: jobs.store.release_queue(job_id, index))


def release_ended(jobs: Orchestrator, job: JobRecord, index: int, batch_id: str) -> None:
    """The chunk's batch ended (seen by this process): its room is free again.

    Only where a queue limit applies to the job's model (an entry left by a process that
    had one is released by whoever waits for room in that queue).
    """
    key = (_store_key(jobs), job.job_id, index, batch_id)
    if key in _released or jobs_queue(jobs, job.model) is None:
        return
    _released.add(key)
    _quietly(jobs, lambda: jobs.store.release_queue(job.job_id, index))


def _quietly(jobs: Orchestrator, write: Any) -> None:
    # A store that cannot be written (a read-only user asking for a status) only delays
    # the next chunk of a queue: the waiting process releases what ended itself.
    try:
        write()
    except StoreError as exc:
        logger.debug("could not update the queue entries in %s: %s", jobs.store.path, exc)


async def wait_for_room(jobs: Orchestrator, queue: Queue, deadline: Deadline | None) -> None:
    """Wait until a batch counted in ``queue`` ends (its room released), or it is empty.

    Every pass looks at the batches counted in the queue, in this process or any other
    sharing the store, and releases those that ended (or never will be made); between
    passes it sleeps ``in_flight_check_interval``.

    Raises:
        BatchTimeoutError: The caller's deadline passed (nothing was sent).
    """
    interval = jobs.options.in_flight_check_interval
    while True:
        entries = jobs.store.queue_entries(queue.name)
        if not entries or await _release_finished(jobs, entries):
            return
        await _pause(interval, deadline)


async def _pause(seconds: float, deadline: Deadline | None) -> None:
    """Sleep ``seconds``, or raise the deadline's error once it has passed."""
    if deadline is not None:
        left = deadline.remaining()
        if left <= 0:
            raise deadline.error()
        seconds = min(seconds, left)
    await asyncio.sleep(seconds)


async def _release_finished(jobs: Orchestrator, entries: list[QueueEntry]) -> bool:
    """Release the entries whose batch ended or will never exist; True if any was."""
    store = jobs.store
    window = jobs.provider.completion_window
    stale_before = time.time() - _STALE_WINDOWS * window if window else None
    records: dict[str, JobRecord | None] = {}
    released = False
    for entry in entries:
        if entry.job_id not in records:
            records[entry.job_id] = store.get_job(entry.job_id)
        job = records[entry.job_id]
        chunk = (
            job.chunks[entry.chunk_index]
            if job is not None and entry.chunk_index < len(job.chunks)
            else None
        )
        gone = chunk is None or chunk.state == CHUNK_PLANNED
        if not gone and stale_before is not None and entry.reserved_at < stale_before:
            gone = True
        if not gone and chunk is not None and chunk.batch_id is not None:
            gone = await _batch_ended(jobs, chunk.batch_id)
        if gone:
            store.release_queue(entry.job_id, entry.chunk_index, entry.reserved_at)
            released = True
    return released


async def _batch_ended(jobs: Orchestrator, batch_id: str) -> bool:
    try:
        info = await jobs.fetch(batch_id)
    except BatchNotFoundError:
        return True  # the vendor does not hold it: it takes no room
    except ProviderError as exc:
        logger.warning("status check of %s failed (%s); will retry", batch_id, exc)
        return False
    return info["status"].is_terminal


async def requeue_refused(jobs: Orchestrator, job: JobRecord, info: BatchInfo) -> bool:
    """Put back in the queue the chunks whose batch the vendor failed for a full queue.

    ``info`` is what waiting for ``job`` returned (its ended batches). Such a batch ran
    nothing and cost nothing; its chunk becomes *planned* again (the batch is forgotten
    there and never taken for it again) and is sent once there is room. True if any
    chunk was put back: the caller submits and waits again.
    """
    codes = jobs.provider.queue_full_codes
    if not codes:
        return False
    current = jobs.store.get_job(job.job_id) or job
    by_batch = {c.batch_id: c.index for c in current.chunks if c.batch_id is not None}
    requeued: list[Queue | None] = []
    for part in info.get("batches") or [info]:
        index = by_batch.get(part["id"])
        error = _queue_error(part, codes)
        if index is None or error is None:
            continue
        key = (_store_key(jobs), job.job_id, index)
        refusals = _refusals[key] = _refusals.get(key, 0) + 1
        if refusals > MAX_QUEUE_REFUSALS:
            logger.warning(
                "job %s chunk %d: batch %s was refused for a full %s batch queue %d times; "
                "its requests keep that failure",
                job.job_id,
                index,
                part["id"],
                jobs.name,
                refusals - 1,
            )
            continue
        limit = _learn(jobs, job, error.get("message") or "")
        tokens = _chunk_tokens(jobs, current, index)
        if limit is not None and tokens > limit and not _others_counted(jobs, job, index):
            # Refused with nothing else counted, and larger than the limit the vendor
            # named: it would be refused again. Its requests fail as the batch did, and a
            # resubmission round carries them in chunks planned to fit.
            logger.warning(
                "job %s chunk %d: about %s input tokens, more than the %s batch queue takes "
                "(%s); its requests are resubmitted in smaller chunks",
                job.job_id,
                index,
                f"{tokens:,}",
                jobs.name,
                f"{limit:,}",
            )
            continue
        logger.warning(
            "job %s chunk %d: %s failed batch %s because its batch queue is full (%s); the "
            "chunk is sent again once there is room",
            job.job_id,
            index,
            jobs.name,
            part["id"],
            error.get("message") or error.get("code"),
        )
        jobs.store.disown_batch(
            job.job_id,
            index,
            part["id"],
            f"the vendor failed it unrun: its batch queue was full ({error.get('code')}); "
            "the chunk was queued again",
        )
        release_unsent(jobs, job.job_id, index)
        requeued.append(jobs_queue(jobs, job.model))
    if not requeued:
        return False
    # Sent again once a batch counted in the queue ends; with none counted (the vendor's
    # queue holds batches lmbatch does not know of), after a pause.
    deadline = current_deadline()
    untracked = False
    for queue in {queue.name: queue for queue in requeued if queue is not None}.values():
        if jobs.store.queue_entries(queue.name):
            await wait_for_room(jobs, queue, deadline)
        else:
            untracked = True
    if untracked or None in requeued:
        await _pause(jobs.options.in_flight_check_interval, deadline)
    return True


def _queue_error(part: BatchInfo, codes: frozenset[str]) -> Any:
    if part["status"] is not BatchStatus.FAILED:
        return None
    return next((error for error in part["errors"] if error.get("code") in codes), None)


def _learn(jobs: Orchestrator, job: JobRecord, message: str) -> int | None:
    """Keep the token limit a vendor's refusal names, for this instance's later chunks.

    Returns the limit in effect for the job's queue afterwards (None: none known).
    """
    found = _LIMIT_IN_MESSAGE.search(message)
    if found is not None:
        try:
            limit = int(found[1].replace(",", "").replace("_", ""))
        except ValueError:
            limit = 0
        if limit > 0:
            queue = jobs_queue(jobs, job.model)
            name = queue.name if queue is not None else _queue_name(jobs.provider, job.model)
            learned = _learned.setdefault(jobs, {})
            known = learned.get(name)
            learned[name] = limit if known is None else min(known, limit)
    queue = jobs_queue(jobs, job.model)
    return queue.limit.tokens if queue is not None else None


def _chunk_tokens(jobs: Orchestrator, job: JobRecord, index: int) -> int:
    """A chunk's estimated input tokens (its spooled input read once)."""
    key = (_store_key(jobs), job.job_id, index)
    if key in _loads:
        return _loads[key][0]
    prepared = prepared_chunk(jobs, job, index)
    if not prepared.path.exists():
        return 0
    return _load(jobs, prepared)[0]


def _others_counted(jobs: Orchestrator, job: JobRecord, index: int) -> bool:
    """Whether the job's queue counts batches other than this chunk's."""
    queue = jobs_queue(jobs, job.model)
    if queue is None:
        return False
    return any(
        (entry.job_id, entry.chunk_index) != (job.job_id, index)
        for entry in jobs.store.queue_entries(queue.name)
    )


def _describe(limit: QueueLimit) -> str:
    parts = []
    if limit.tokens is not None:
        parts.append(f"{limit.tokens:,} tokens")
    if limit.requests is not None:
        parts.append(f"{limit.requests:,} requests")
    return "limit " + " and ".join(parts)
