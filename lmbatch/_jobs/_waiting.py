"""Waiting for a batch to end: polling with backoff, bounded three ways.

A wait ends when the batch (every batch of a job) is terminal, or raises when the poll
policy's ``max_iterations`` or the caller's ``timeout`` is reached
(:class:`BatchTimeoutError`, optionally cancelling the batch), or when a batch runs well
past the vendor's completion window (:class:`BatchOverdueError`). A transient error
while polling retries the poll; waiting never resubmits anything. With webhook wakes on
(:mod:`lmbatch._jobs._wakes`), a pause ends early when the vendor's webhook says a
batch ended.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from lmbatch._errors import BatchOverdueError, BatchTimeoutError, ProviderError
from lmbatch._jobs._deadline import Deadline, current_deadline, deadline_scope, suspended_deadline
from lmbatch._jobs._poll_policy import OVERDUE_MARGIN_SECONDS, Waiting
from lmbatch._jobs._wakes import WakeWatch

if TYPE_CHECKING:
    from lmbatch._jobs._orchestrator import Orchestrator
    from lmbatch._status import BatchInfo

__all__ = ["wait"]

logger = logging.getLogger("lmbatch")


async def wait(jobs: Orchestrator, batch_id: str, waiting: Waiting) -> BatchInfo:
    """Poll until terminal; transient errors retry the poll only.

    Bounded three ways: ``max_iterations``, the caller's deadline (the one in force,
    else ``waiting.timeout`` from now; every status check gets only the time left),
    and the vendor's completion window (:class:`BatchOverdueError`).
    """
    deadline = current_deadline()
    if deadline is None and waiting.timeout is not None:
        deadline = Deadline.after(waiting.timeout)
    if deadline is not None:
        deadline.target = batch_id
    with deadline_scope(deadline):
        try:
            return await _poll(jobs, batch_id, waiting, deadline)
        except BatchTimeoutError:
            if waiting.cancel_on_timeout:
                with suspended_deadline():  # the cancel must still go out
                    await jobs.cancel(batch_id)
            raise


async def _poll(
    jobs: Orchestrator, batch_id: str, waiting: Waiting, deadline: Deadline | None
) -> BatchInfo:
    poll = waiting.poll
    delay = poll.first_delay()
    iterations = 0
    watch = WakeWatch.of(jobs)
    while True:
        iterations += 1
        if watch is not None:
            watch.before_poll()
        try:
            info = await jobs.info(batch_id)
        except ProviderError as exc:
            if not exc.is_transient:
                raise
            logger.warning("status check of %s failed (%s); will retry", batch_id, exc)
        else:
            if waiting.on_progress is not None:
                waiting.on_progress(info)
            if info["status"].is_terminal:
                return info
            _check_overdue(jobs, batch_id, info)
            if watch is not None:
                watch.follow(info)
        out_of_iterations = poll.max_iterations is not None and iterations >= poll.max_iterations
        out_of_time = deadline is not None and deadline.remaining() < delay
        if out_of_iterations or out_of_time:
            why = (
                f"{iterations} status checks"
                if out_of_iterations or deadline is None
                else f"{deadline.timeout:g} s"
            )
            raise BatchTimeoutError(
                f"batch {batch_id} did not finish within {why}; it is "
                + ("being cancelled" if waiting.cancel_on_timeout else "still running")
                + f"; retrieve it later with retrieve({batch_id!r})",
                batch_id=batch_id,
            )
        if watch is None:
            await asyncio.sleep(delay)
        elif await watch.sleep(delay):
            continue  # woken: check now, and keep the pause as it was for the next one
        delay = poll.next_delay(delay)


def _check_overdue(jobs: Orchestrator, batch_id: str, info: BatchInfo) -> None:
    """Raise :class:`BatchOverdueError` if a running batch is long past its window."""
    now = time.time()
    for part in info.get("batches") or [info]:
        if part["status"].is_terminal:
            continue
        ends = _window_end(jobs, part)
        if ends is None or now < ends + OVERDUE_MARGIN_SECONDS:
            continue
        since = datetime.fromtimestamp(ends, tz=UTC).isoformat(timespec="seconds")
        raise BatchOverdueError(
            f"batch {part['id']} is still {part['provider_status']!r} although its "
            f"completion window ended at {since} (more than "
            f"{OVERDUE_MARGIN_SECONDS / 3600:g} h ago); the provider should have ended "
            f"it, so lmbatch stopped waiting for {batch_id}. It was left as it is: "
            f"cancel({part['id']!r}) it, then retrieve({batch_id!r}) what finished",
            batch_id=batch_id,
            overdue_batch_id=part["id"],
            provider_status=part["provider_status"],
        )


def _window_end(jobs: Orchestrator, info: BatchInfo) -> float | None:
    """Unix time by which the vendor should have ended a batch, when known."""
    expires = info.get("expires_at")
    if expires is not None:
        return expires.timestamp()
    created = info["created_at"]
    window = jobs.provider.completion_window
    if created is None or window is None:
        return None
    return created.timestamp() + window
