"""Finding the batch of an interrupted create, and proving it is the chunk's own.

A chunk left *submitting* (its create call may or may not have made a batch) is reconciled
before anything is sent again. The rule: **never use a batch that is not proven to be the
chunk's own.**

* Every request id ends with its job's random tag (:mod:`lmbatch._keys`), so a batch's
  results prove whose it is: an id of the chunk's key map means the batch was made from
  the chunk's input; ids without the job's tag mean it was not.
* Candidates are the vendor's batches created since the chunk's create was first
  attempted, judged by the **vendor's clock**: the batches' ``created_at`` against the
  vendor time read from an HTTP ``Date`` header just before the create (core notes it in
  the store). Batches the store holds, or that were proven not to be the chunk's, are
  never candidates. Batches stamped with lmbatch metadata (providers with
  ``stamps_batch_metadata``, e.g. OpenAI) are matched on the stamp.
* A candidate that has ended is identified by its first result line. One that has not
  is *adopted* only when nothing else fits: it is the only batch that fits the chunk, and
  no other uncertain chunk (of this job or of another job in the store) could claim it.
* An adopted batch's results are checked against the chunk's ids before any result is
  used (:func:`settle_adopted` in ``invoke``/``resume``, :func:`verify_parts` in
  ``retrieve``/``iter_results``). A mismatch disowns it: it is remembered as not the
  chunk's, and the chunk is sent again.
* When several candidates fit and none can be proven yet, ``invoke`` and ``resume`` wait
  for them to end (their results then tell them apart). Without a wait, or past its
  limits, :class:`~lmbatch.SubmissionAmbiguousError` names the candidates and the
  commands that settle it (``lmbatch resolve JOB_ID --chunk N --adopt ID`` /
  ``--not-created``); lmbatch never guesses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import time
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from lmbatch._attempts import CHUNK_METADATA_KEY, JOB_ID_METADATA_KEY
from lmbatch._errors import (
    BatchNotFinishedError,
    LMBatchError,
    OperationUnsupportedError,
    ProviderError,
    SubmissionAmbiguousError,
)
from lmbatch._jobs._claims import owner_alive
from lmbatch._jobs._spool import prepared_chunk
from lmbatch._status import BatchInfo, BatchStatus
from lmbatch._store import CHUNK_SUBMITTING, JobRecord

if TYPE_CHECKING:
    from lmbatch._jobs._orchestrator import Orchestrator
    from lmbatch._jobs._poll_policy import Waiting
    from lmbatch._planning import PreparedBatch

__all__ = [
    "attempt_create",
    "parse_http_date",
    "reconcile_chunks",
    "settle_adopted",
    "vendor_offset",
    "verify_parts",
]

logger = logging.getLogger("lmbatch")

#: Tolerance around a window start read from the vendor's clock: the ``Date`` header's
#: whole seconds, the round trip, the vendor's own rounding.
WINDOW_SLACK_SECONDS = 30.0
#: Tolerance when the vendor's clock could not be read before the create: this machine's
#: clock, corrected by the offset read while reconciling, may have moved since.
UNKNOWN_CLOCK_SLACK_SECONDS = 15 * 60.0
#: How long a reading of the vendor's clock is reused.
CLOCK_READING_SECONDS = 600.0
#: Differences between two readings of the vendor's clock that are only reading noise.
_CLOCK_NOISE_SECONDS = 2.0
#: Most pages of the vendor's batch list read while looking for candidates.
MAX_LIST_PAGES = 50

# What a batch's first result id says about it, besides "chunk N of this job".
_FOREIGN = -1  # it holds none of the job's requests
_UNPROVEN = -2  # nothing readable (yet)

_VERIFIED, _NOT_OURS, _UNPROVABLE = "verified", "not ours", "unprovable"


# ------------------------------------------------------------------ the vendor's clock


def parse_http_date(value: str | None) -> float | None:
    """Unix time of an HTTP ``Date`` header value, or None if absent or unreadable."""
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


async def vendor_offset(jobs: Orchestrator) -> float | None:
    """The vendor's clock minus this machine's, in seconds, or None if it cannot be read.

    Read from the ``Date`` header of a cheap call (:meth:`BatchOperations.vendor_date`)
    and reused for :data:`CLOCK_READING_SECONDS`.
    """
    cached = jobs.vendor_clock
    now = time.monotonic()
    if cached is not None and now - cached[1] < CLOCK_READING_SECONDS:
        return cached[0]
    before = time.time()
    try:
        header = await jobs.call(jobs.provider.vendor_date())
    except LMBatchError as exc:
        logger.warning("could not read the clock of %s (%s)", jobs.name, exc)
        return None
    vendor = parse_http_date(header)
    if vendor is None:
        return None
    # The header has whole seconds: the vendor's time was within [vendor, vendor + 1).
    offset = vendor + 0.5 - (before + time.time()) / 2
    jobs.vendor_clock = (offset, now)
    return offset


async def attempt_create(jobs: Orchestrator, prepared: PreparedBatch) -> str:
    """Send one chunk's create call, noting when it went out (and, while it runs, that it
    still runs), so an interrupted one can be reconciled by the vendor's clock."""
    store, job_id, index = jobs.store, prepared.job_id, prepared.chunk_index
    started = time.time()
    offset = await vendor_offset(jobs)
    store.record_attempt(job_id, index, started, offset)
    beat = asyncio.ensure_future(_heartbeat(jobs, job_id, index))
    try:
        return await jobs.provider.submit_batch(prepared)
    finally:
        beat.cancel()
        store.touch_attempt(job_id, index, time.time())  # the call ended: nothing in flight


async def _heartbeat(jobs: Orchestrator, job_id: str, index: int) -> None:
    """Note now and then that a create call is still running (it may upload for minutes)."""
    interval = min(5.0, max(0.05, jobs.options.create_settle_seconds / 4))
    while True:
        await asyncio.sleep(interval)
        jobs.store.touch_attempt(job_id, index, time.time())


def _window_start(jobs: Orchestrator, job: JobRecord, index: int, offset: float | None) -> float:
    """Vendor time before which no batch can be the chunk's."""
    attempt = jobs.store.create_attempt(job.job_id, index)
    started, recorded = (attempt[0], attempt[1]) if attempt is not None else (job.created_at, None)
    if recorded is not None:
        return started + recorded - WINDOW_SLACK_SECONDS
    return started + (offset or 0.0) - UNKNOWN_CLOCK_SLACK_SECONDS


def _settle_remaining(
    jobs: Orchestrator, job: JobRecord, index: int, offset: float | None
) -> float:
    """Seconds until the chunk's interrupted create can be declared to have made nothing.

    Counted from the call's last sign of life, by the vendor's clock when both readings
    exist (so a corrected local clock changes nothing).
    """
    attempt = jobs.store.create_attempt(job.job_id, index)
    if attempt is None:
        return 0.0  # no create call was ever sent
    _, then, last_seen = attempt
    elapsed = time.time() - last_seen
    # Readings of a Date header (whole seconds) differ by up to ~1 s anyway; a larger
    # difference means this machine's clock was moved since.
    if then is not None and offset is not None and abs(offset - then) > _CLOCK_NOISE_SECONDS:
        elapsed += offset - then
    return max(0.0, jobs.options.create_settle_seconds - elapsed)


# ------------------------------------------------------------------ reconciliation


async def reconcile_chunks(
    jobs: Orchestrator,
    job: JobRecord,
    indexes: list[int],
    waiting: Waiting | None = None,
) -> None:
    """Settle chunks whose create call may or may not have made a batch.

    Each ends *submitted* (its batch found: adopted, to be verified before use) or
    *planned* (no batch can be its own: it will be sent).

    Args:
        waiting: How long to wait for candidate batches to end when only their results
            can tell them apart (``invoke``/``resume``); None raises at once.

    Raises:
        SubmissionAmbiguousError: lmbatch cannot prove which batch, if any, is a chunk's.
    """
    if _searches_itself(jobs):
        for index in indexes:
            await _reconcile_with_provider_search(jobs, job, index, waiting)
        return
    await _Reconciliation(jobs, job, indexes, waiting).run()


def _searches_itself(jobs: Orchestrator) -> bool:
    """Whether the provider overrides ``find_submitted_batch`` (core's search otherwise).

    Told by the function's qualified name, so that core's orchestration does not import
    the provider interface's class at run time.
    """
    method = type(jobs.provider).find_submitted_batch
    return method.__qualname__ != "BatchOperations.find_submitted_batch"


async def _reconcile_with_provider_search(
    jobs: Orchestrator, job: JobRecord, index: int, waiting: Waiting | None
) -> None:
    """A provider that finds its own batches: its answer is still held to core's rules."""
    found = await jobs.call(jobs.provider.find_submitted_batch(prepared_chunk(jobs, job, index)))
    if found is None:
        quiet = _settle_remaining(jobs, job, index, await vendor_offset(jobs))
        if quiet > 0:
            if waiting is None:
                raise _ambiguity(jobs, job, index, [], "its create call was quiet too briefly")
            await asyncio.sleep(quiet)  # a batch still being made may show up: ask again
            found = await jobs.call(
                jobs.provider.find_submitted_batch(prepared_chunk(jobs, job, index))
            )
    if found is None:
        jobs.store.reset_chunk(job.job_id, index)
        return
    holder = jobs.store.find_batch(
        found, provider=jobs.name, endpoint=jobs.provider.endpoint_identity
    )
    if holder is not None or jobs.store.is_foreign(job.job_id, index, found):
        why = (
            f"the job store holds it for job {holder[0].job_id} chunk {holder[1]}"
            if holder is not None
            else "it was proven not to be this chunk's"
        )
        raise _ambiguity(jobs, job, index, [], f"the provider pointed at batch {found}, but {why}")
    jobs.store.adopt_batch(job.job_id, index, found)


class _Reconciliation:
    """One reconciliation of a job's uncertain chunks (they are settled together)."""

    def __init__(
        self,
        jobs: Orchestrator,
        job: JobRecord,
        indexes: list[int],
        waiting: Waiting | None,
    ) -> None:
        self.jobs = jobs
        self.store = jobs.store
        self.job = job
        self.tag = jobs.store.job_tag(job.job_id)
        self.pending = set(indexes)
        self.sizes = {chunk.index: chunk.request_count for chunk in job.chunks}
        self.waiting = waiting
        self.identities: dict[str, int] = {}  # batch id -> owner chunk / _FOREIGN
        self.started = time.monotonic()
        self.polls = 0
        self.delay = waiting.poll.first_delay() if waiting is not None else 0.0

    async def run(self) -> None:
        while True:
            self._drop_settled()
            if not self.pending:
                return
            offset = await vendor_offset(self.jobs)
            windows = {i: _window_start(self.jobs, self.job, i, offset) for i in self.pending}
            listing = await self._list_since(min(windows.values()))
            unproven = await self._sort_out(listing)
            if not self.pending:
                return
            if self.jobs.provider.stamps_batch_metadata:
                # Ours would carry the stamp: no stamped batch (once settled), no batch.
                ambiguous: dict[int, list[BatchInfo]] = {}
                for index in sorted(self.pending):
                    if _settle_remaining(self.jobs, self.job, index, offset) > 0:
                        ambiguous[index] = []
                    else:
                        self._not_created(index)
            else:
                ambiguous = self._decide(unproven, windows, offset)
            if not ambiguous:
                return
            await self._wait_for(ambiguous, offset)

    def _drop_settled(self) -> None:
        """Forget chunks another process settled (or took over) meanwhile."""
        current = self.store.get_job(self.job.job_id)
        if current is None:  # pragma: no cover - the store never forgets jobs
            self.pending.clear()
            return
        self.pending = {
            c.index
            for c in current.chunks
            if c.index in self.pending
            and c.state == CHUNK_SUBMITTING
            and c.batch_id is None
            and not owner_alive(current.job_id, c, self.store)
        }

    async def _list_since(self, since: float) -> list[BatchInfo]:
        """The vendor's batches created since ``since`` (its clock) that the store lacks."""
        found: list[BatchInfo] = []
        cursor: str | None = None
        try:
            for _ in range(MAX_LIST_PAGES):
                page = await self.jobs.call(self.jobs.provider.list_batches_page(cursor))
                for info in page.batches:
                    created = info["created_at"]
                    if created is not None and created.timestamp() < since:
                        return found  # newest first: the rest are older still
                    known = self.store.find_batch(
                        info["id"],
                        provider=self.jobs.name,
                        endpoint=self.jobs.provider.endpoint_identity,
                    )
                    if known is None:
                        found.append(info)
                if page.next_cursor is None:
                    return found
                cursor = page.next_cursor
        except OperationUnsupportedError:
            index = min(self.pending)
            raise _ambiguity(
                self.jobs, self.job, index, [], f"provider {self.jobs.name!r} cannot list batches"
            ) from None
        index = min(self.pending)
        raise _ambiguity(
            self.jobs,
            self.job,
            index,
            [],
            f"more than {MAX_LIST_PAGES} pages of batches were created since its create call",
        )

    async def _sort_out(self, listing: list[BatchInfo]) -> list[BatchInfo]:
        """Adopt what is proven (stamps, results); return candidates not proven either way."""
        stamped: dict[int, list[BatchInfo]] = {}
        unproven: list[BatchInfo] = []
        for info in listing:
            batch_id = info["id"]
            stamp = info["metadata"].get(JOB_ID_METADATA_KEY)
            if stamp is not None:
                chunk = info["metadata"].get(CHUNK_METADATA_KEY, "")
                if stamp == self.job.job_id and chunk.isdigit() and int(chunk) in self.pending:
                    stamped.setdefault(int(chunk), []).append(info)
                continue  # stamped for another job or chunk: never ours
            if self.jobs.provider.stamps_batch_metadata or not self._could_be_any(info):
                continue
            owner = self.identities.get(batch_id)
            if owner is None and info["status"].is_terminal:
                owner = await self._first_result_owner(info)
                if owner != _UNPROVEN:
                    self.identities[batch_id] = owner
            if owner is None or owner == _UNPROVEN:
                unproven.append(info)
            elif owner in self.pending:
                self._adopt(owner, batch_id, "its results hold the chunk's requests")
            else:
                reason = (
                    "its results hold none of the job's requests"
                    if owner == _FOREIGN
                    else f"its results hold requests of chunk {owner}"
                )
                for index in self.pending:
                    self.store.record_foreign(self.job.job_id, index, batch_id, reason)
        for index, infos in sorted(stamped.items()):
            if len(infos) > 1:
                logger.warning(
                    "job %s chunk %d: %d batches carry its stamp; the oldest is used",
                    self.job.job_id,
                    index,
                    len(infos),
                )
            oldest = min(infos, key=lambda i: i["created_at"].timestamp() if i["created_at"] else 0)
            self._adopt(index, oldest["id"], "it carries the chunk's metadata")
        return unproven

    def _could_be_any(self, info: BatchInfo) -> bool:
        return any(self._fits(index, info, None) for index in self.pending)

    def _fits(self, index: int, info: BatchInfo, since: float | None) -> bool:
        total = info["request_counts"]["total"]
        if total and total != self.sizes[index]:
            return False
        created = info["created_at"]
        if since is not None and created is not None and created.timestamp() < since:
            return False
        return not self.store.is_foreign(self.job.job_id, index, info["id"])

    async def _first_result_owner(self, info: BatchInfo) -> int:
        """The chunk of this job the batch's first result belongs to (or _FOREIGN/_UNPROVEN)."""
        jobs = self.jobs
        records = jobs.provider.iter_result_records(info, self.job.context).__aiter__()
        try:
            while True:
                try:
                    record = await jobs.call(records.__anext__())
                except StopAsyncIteration:
                    return _UNPROVEN
                if record.custom_id is not None:
                    return self._owner_of(record.custom_id)
        except ProviderError as exc:
            logger.warning("could not read the results of batch %s: %s", info["id"], exc)
            return _UNPROVEN
        finally:
            close = getattr(records, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()

    def _owner_of(self, custom_id: str) -> int:
        if self.tag and not custom_id.endswith(self.tag):
            return _FOREIGN
        chunk = self.store.chunk_of(self.job.job_id, custom_id)
        if chunk is not None:
            return chunk
        return _UNPROVEN if self.tag else _FOREIGN

    def _decide(
        self, unproven: list[BatchInfo], windows: dict[int, float], offset: float | None
    ) -> dict[int, list[BatchInfo]]:
        """Settle every chunk the evidence allows; return the rest with their candidates.

        A chunk no batch fits made none, once its create call has been quiet for
        ``create_settle_seconds``; until then it is returned with no candidates.
        """
        contested = self._contested(unproven)
        fits = {i: [b for b in unproven if self._fits(i, b, windows[i])] for i in self.pending}
        taken: set[str] = set()
        progress = True
        while progress:
            progress = False
            for index in sorted(self.pending):
                options = [b for b in fits[index] if b["id"] not in taken]
                if not options:
                    if _settle_remaining(self.jobs, self.job, index, offset) > 0:
                        continue
                    self._not_created(index)
                    progress = True
                    break
                if len(options) > 1 or options[0]["id"] in contested:
                    continue
                only = options[0]["id"]
                shared = any(
                    only in {b["id"] for b in fits[other]}
                    for other in self.pending
                    if other != index
                )
                if not shared and self._adopt(index, only, "the only batch that fits"):
                    taken.add(only)
                    progress = True
                    break
        return {i: [b for b in fits[i] if b["id"] not in taken] for i in self.pending}

    def _contested(self, unproven: list[BatchInfo]) -> set[str]:
        """Candidates another uncertain chunk in the store (not reconciled here) could claim."""
        others = [
            (job_id, chunk)
            for job_id, chunk in self.store.uncertain_chunks(self.jobs.name)
            if not (job_id == self.job.job_id and chunk.index in self.pending)
        ]
        if not others:
            return set()
        offset = self.jobs.vendor_clock[0] if self.jobs.vendor_clock else None
        contested: set[str] = set()
        for job_id, chunk in others:
            other_job = self.store.get_job(job_id)
            if other_job is None:  # pragma: no cover - the store never forgets jobs
                continue
            since = _window_start(self.jobs, other_job, chunk.index, offset)
            for info in unproven:
                total, created = info["request_counts"]["total"], info["created_at"]
                if (not total or total == chunk.request_count) and (
                    created is None or created.timestamp() >= since
                ):
                    contested.add(info["id"])
        return contested

    def _adopt(self, index: int, batch_id: str, why: str) -> bool:
        try:
            self.store.adopt_batch(self.job.job_id, index, batch_id)
        except LMBatchError:
            return False  # recorded meanwhile (by its creator, or another reconciliation)
        logger.info(
            "job %s chunk %d: taking batch %s as its own (%s); its results are checked "
            "against the chunk's requests before use",
            self.job.job_id,
            index,
            batch_id,
            why,
        )
        self.pending.discard(index)
        return True

    def _not_created(self, index: int) -> None:
        logger.info(
            "job %s chunk %d: no batch can be its own; its create did not happen",
            self.job.job_id,
            index,
        )
        self.store.reset_chunk(self.job.job_id, index)
        self.pending.discard(index)

    async def _wait_for(self, ambiguous: dict[int, list[BatchInfo]], offset: float | None) -> None:
        """Wait until a candidate ends (its results then tell) or a quiet create settles.

        Waiting for a create to settle (at most ``create_settle_seconds``) is always
        allowed; waiting for candidates to end (hours, maybe) only with ``waiting``.
        """
        waiting = self.waiting
        running = {
            b["id"]
            for options in ambiguous.values()
            for b in options
            if not b["status"].is_terminal
        }
        needs_end = sorted(i for i, options in ambiguous.items() if options)
        if needs_end and (waiting is None or not running):
            index = needs_end[0]
            raise _ambiguity(self.jobs, self.job, index, [b["id"] for b in ambiguous[index]])
        if needs_end:
            assert waiting is not None
            pause = self.delay
        else:
            pause = max(
                min(_settle_remaining(self.jobs, self.job, i, offset) for i in ambiguous), 0.001
            )
        elapsed = time.monotonic() - self.started
        out_of_time = waiting is not None and (
            (waiting.timeout is not None and elapsed + pause > waiting.timeout)
            or (
                waiting.poll.max_iterations is not None
                and self.polls >= waiting.poll.max_iterations
            )
        )
        if out_of_time:
            index = needs_end[0] if needs_end else min(ambiguous)
            quiet = self.jobs.options.create_settle_seconds
            raise _ambiguity(
                self.jobs,
                self.job,
                index,
                [b["id"] for b in ambiguous[index]],
                "the candidates did not end while waiting"
                if needs_end
                else (
                    "no batch is listed yet, and one the call made may be listed within "
                    f"create_settle_seconds={quiet:g} of its last sign of life; run again "
                    "after that"
                ),
            )
        if self.polls == 0:
            logger.info(
                "job %s: waiting to tell which batch, if any, an interrupted create made",
                self.job.job_id,
            )
        self.polls += 1
        await asyncio.sleep(pause)
        if not needs_end:
            return
        for batch_id in sorted(running):
            info = await self.jobs.call(self.jobs.provider.fetch_batch(batch_id))
            if info["status"].is_terminal:
                break
        assert waiting is not None
        self.delay = waiting.poll.next_delay(self.delay)


def _ambiguity(
    jobs: Orchestrator,
    job: JobRecord,
    index: int,
    candidates: list[str],
    reason: str = "",
) -> SubmissionAmbiguousError:
    base, store = f"lmbatch resolve {job.job_id} --chunk {index}", _store_option(jobs)
    commands = [f"{base} --adopt {batch_id}{store}" for batch_id in candidates]
    commands.append(f"{base} --not-created{store}")
    message = (
        f"chunk {index} of job {job.job_id}: its create call was interrupted and lmbatch "
        "cannot prove which batch, if any, it made"
    )
    if reason:
        message += f" ({reason})"
    if candidates:
        message += f"; {len(candidates)} batch(es) could be it: {', '.join(candidates)}"
        message += (
            f". lmbatch never guesses: once they have ended their results tell them apart "
            f"(run `lmbatch resume {job.job_id}` then), or settle it now"
        )
    else:
        message += ". lmbatch never guesses; settle it"
    message += ": " + " or ".join(f"`{command}`" for command in commands)
    message += (
        f" (from Python: lmbatch.resolve({job.job_id!r}, chunk={index}, adopt=BATCH_ID) "
        "or not_created=True)"
    )
    return SubmissionAmbiguousError(
        message,
        job_id=job.job_id,
        chunk_index=index,
        candidates=candidates,
        commands=commands,
        provider=jobs.name,
    )


def _store_option(jobs: Orchestrator) -> str:
    """``--store PATH`` when the CLI would not find the store on its own."""
    from lmbatch._store import default_store_path

    path = jobs.store.path
    if path == ":memory:" or path == str(default_store_path()):
        return ""
    return f" --store {shlex.quote(path)}"


# ------------------------------------------------------------------ verification


async def _verdict(jobs: Orchestrator, job: JobRecord, index: int, info: BatchInfo) -> str:
    """Read an adopted batch's result ids (only the ids) against the chunk's key map."""
    tag = jobs.store.job_tag(job.job_id)
    own = {custom_id for custom_id, _ in jobs.store.iter_keys(job.job_id, index)}
    mine = siblings = strangers = 0
    async for record in jobs.stream_records(info, job.context):
        custom_id = record.custom_id
        if custom_id is None:
            continue
        if custom_id in own:
            mine += 1
        elif tag and custom_id.endswith(tag):
            siblings += 1
        else:
            strangers += 1
    if mine and not siblings:
        return _VERIFIED
    if not mine and (siblings or strangers):
        return _NOT_OURS
    return _UNPROVABLE


def _unverified(jobs: Orchestrator, job_id: str, index: int, batch_id: str) -> bool:
    adoption = jobs.store.adoption(job_id, index)
    return adoption is not None and adoption == (batch_id, False)


async def settle_adopted(jobs: Orchestrator, job: JobRecord) -> bool:
    """Verify the job's adopted batches that have ended; True if one was disowned.

    A disowned chunk is *planned* again: the caller submits it and waits once more.

    Raises:
        SubmissionAmbiguousError: A batch's results prove nothing either way.
    """
    current = jobs.store.get_job(job.job_id) or job
    disowned = False
    for chunk in current.chunks:
        if chunk.batch_id is None or not _unverified(jobs, job.job_id, chunk.index, chunk.batch_id):
            continue
        info = await jobs.fetch(chunk.batch_id)
        if not info["status"].is_terminal:
            continue
        disowned |= await _settle(jobs, current, chunk.index, info)
    return disowned


async def _settle(jobs: Orchestrator, job: JobRecord, index: int, info: BatchInfo) -> bool:
    verdict = await _verdict(jobs, job, index, info)
    if verdict == _VERIFIED:
        jobs.store.mark_verified(job.job_id, index)
        return False
    if verdict == _NOT_OURS:
        logger.warning(
            "job %s chunk %d: batch %s holds other requests; it is not the chunk's and the "
            "chunk will be sent again",
            job.job_id,
            index,
            info["id"],
        )
        jobs.store.disown_batch(
            job.job_id, index, info["id"], "its results hold none of the chunk's requests"
        )
        return True
    raise _ambiguity(
        jobs, job, index, [info["id"]], f"the results of batch {info['id']} prove nothing"
    )


async def verify_parts(
    jobs: Orchestrator, parts: list[tuple[BatchInfo, JobRecord | None, int | None]]
) -> None:
    """Before results are read: prove every adopted batch among ``parts`` the chunk's own.

    Raises:
        BatchNotFinishedError: A batch turned out not to be its chunk's (the chunk is to be
            sent again: ``lmbatch.resume(job_id)``).
        SubmissionAmbiguousError: A batch's results prove nothing either way.
    """
    for info, job, index in parts:
        if job is None or index is None or not _unverified(jobs, job.job_id, index, info["id"]):
            continue
        if await _settle(jobs, job, index, info):
            raise BatchNotFinishedError(
                f"batch {info['id']} was taken for chunk {index} of job {job.job_id} after an "
                "interrupted create, but its results hold other requests: none of them is "
                f"used. The chunk's requests are sent again by lmbatch.resume({job.job_id!r}) "
                f"(or `lmbatch resume {job.job_id}`)",
                batch_id=job.job_id,
                status=BatchStatus.IN_PROGRESS,
            )
