"""Waking a wait early when the vendor's webhook says a batch ended.

The webhook endpoint (:mod:`lmbatch.webhooks`) records a *wake* per batch in the job
store: a count that moves by one per batch event. A wait with
``wake_check_interval`` set (a provider option, for providers that declare
``webhook_secret_env``) reads the counts of the batches it waits on between two
polls, every ``wake_check_interval`` seconds, and polls the vendor as soon as one moves.
Reading the store costs no vendor call; polling stays the fallback, so a lost webhook
costs only latency. A vendor's status can lag its own webhook: when the check a wake
prompted still finds the batch running, it is checked again after
:data:`WAKE_RECHECKS` seconds, then the schedule resumes.

:class:`WakeWatch` is the whole protocol, usable by any loop that waits on batches
(``wait``, ``invoke``, a worker): call :meth:`WakeWatch.before_poll` right before a
status check, :meth:`WakeWatch.follow` with what the check found, and sleep with
:meth:`WakeWatch.sleep`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from lmbatch._errors import StoreError

if TYPE_CHECKING:
    from lmbatch._jobs._orchestrator import Orchestrator
    from lmbatch._status import BatchInfo

__all__ = ["WAKE_RECHECKS", "WakeWatch", "running_batch_ids"]

logger = logging.getLogger("lmbatch")

#: Pauses (seconds) before checking a woken batch again while the vendor still reports
#: it running (its status may lag the webhook), before the schedule resumes.
WAKE_RECHECKS = (2.0, 10.0, 30.0)


def running_batch_ids(info: BatchInfo) -> list[str]:
    """The vendor batch ids in ``info`` (one batch, or a job's) still running."""
    return [part["id"] for part in info.get("batches") or [info] if not part["status"].is_terminal]


class WakeWatch:
    """The wake counts of the batches one wait is on (see the module docs).

    Args:
        jobs: The orchestrator of the provider whose batches are watched.
        interval: Seconds between two reads of the store while sleeping.
    """

    def __init__(self, jobs: Orchestrator, interval: float) -> None:
        self._jobs = jobs
        self.interval = interval
        self._ids: list[str] = []
        # Counts as of the last status check: a count that differs is a wake since.
        self._seen: dict[str, int] = {}
        # Batches woken whose end no check has shown yet, and the re-checks left.
        self._woken: set[str] = set()
        self._rechecks: list[float] = []

    @classmethod
    def of(cls, jobs: Orchestrator) -> WakeWatch | None:
        """A watch when the provider takes webhooks and ``wake_check_interval`` is set."""
        interval = getattr(jobs.options, "wake_check_interval", None)
        if interval is None or jobs.provider.webhook_secret_env is None:
            return None
        return cls(jobs, interval)

    def _counts(self, ids: Iterable[str]) -> dict[str, int]:
        jobs = self._jobs
        return jobs.store.wake_counts(jobs.name, jobs.provider.endpoint_identity, ids)

    def before_poll(self) -> None:
        """Note the counts now: wakes after this are news for the next sleep."""
        if not self._ids:
            return
        try:
            self._seen = self._counts(self._ids)
        except StoreError as exc:
            logger.warning("could not read webhook wakes (%s); polling on schedule", exc)

    def follow(self, info: BatchInfo) -> None:
        """Watch the batches ``info`` shows running (a batch first seen has count 0)."""
        self.follow_ids(running_batch_ids(info))

    def follow_ids(self, batch_ids: Iterable[str]) -> None:
        """Watch these vendor batch ids (see :meth:`follow`)."""
        self._ids = list(batch_ids)
        self._woken &= set(self._ids)
        if not self._woken:
            self._rechecks = []

    def woken(self) -> bool:
        """Whether a watched batch got a batch event since the last status check."""
        if not self._ids:
            return False
        try:
            counts = self._counts(self._ids)
        except StoreError as exc:
            # The poll that follows the sleep still comes: the store failing is not a
            # reason to stop waiting, only to wait the slow way.
            logger.warning("could not read webhook wakes (%s); polling on schedule", exc)
            return False
        woken = {i for i in self._ids if counts.get(i, 0) != self._seen.get(i, 0)}
        if woken:
            self._woken |= woken
            self._rechecks = list(WAKE_RECHECKS)
        return bool(woken)

    async def sleep(self, delay: float) -> bool:
        """Sleep ``delay`` seconds, or less when a watched batch is woken.

        Returns:
            True when cut short by a wake, or by a re-check of a woken batch.
        """
        recheck = self._rechecks.pop(0) if self._rechecks else None
        cut = recheck is not None and recheck < delay
        ends = time.monotonic() + (min(delay, recheck) if recheck is not None else delay)
        while True:
            left = ends - time.monotonic()
            if left <= 0:
                return cut
            await asyncio.sleep(min(self.interval, left))
            if self.woken():
                logger.info("webhook woke %s; checking its status now", ", ".join(self._ids))
                return True
