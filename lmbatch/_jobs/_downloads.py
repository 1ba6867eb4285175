"""Reading a batch's results in full: downloads retried and checked against the vendor's counts.

A results download can end early and still look fine: an empty ``200``, a body cut at a
line boundary, a connection dropped mid-stream. Read as is, every request whose line did
not arrive would come back ``missing``, and ``invoke`` would submit (and pay for) it again
although the vendor answered it. So a download is compared with the vendor's own request
counts: a terminal batch that reports ``n`` requests finished must give ``n`` result lines.
When it gives fewer, or fails with a transient error, it is read again (a few times, with
pauses), skipping the lines already handed out so nothing is yielded twice. A download that
stays short raises :class:`ResultsIncompleteError` rather than hand out outcomes that would
be resubmitted: nothing is paid twice, nothing is lost, and the results can be read later.

Requests the counts do not report finished (a batch that failed, a request the vendor lost
and never counted) keep coming back ``missing``, to be resubmitted as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Container, Mapping
from typing import TYPE_CHECKING, Any, cast

from lmbatch._errors import ProviderError, ResultsIncompleteError
from lmbatch._outputs import LMOutput
from lmbatch._status import BatchInfo

if TYPE_CHECKING:
    from lmbatch._jobs._orchestrator import Orchestrator
    from lmbatch._operations import ResultRecord

__all__ = ["ResultDownload"]

logger = logging.getLogger("lmbatch")

#: The request-count states a result line of each kind is counted under: succeeded and
#: errored are one group, because vendors do not always agree with their own lines on which
#: of the two a request was (an OpenAI "completed" batch may hold error lines it counted as
#: completed).
_FINISHED = "finished"
_GROUPS = {
    "succeeded": _FINISHED,
    "errored": _FINISHED,
    "expired": "expired",
    "cancelled": "cancelled",
}


def _group(output: LMOutput) -> str | None:
    """The count group a decoded line belongs to; None when its kind cannot be told."""
    if output.error is None:
        return _FINISHED
    return _GROUPS.get(output.error.kind)


class ResultDownload:
    """One batch's result lines, read in full or not at all.

    Args:
        jobs: The orchestrator (its guarded ``stream_records``, and the provider's
            ``result_line_states`` and ``result_download_delays`` are used).
        info: The batch's terminal info: its request counts say how many lines to expect.
        context: What the provider needs to read the results.
        known: The custom ids submitted in this batch, when known: lines for other ids
            are ignored (and not counted).
        job_id: The lmbatch job the batch belongs to, named in errors.

    After :meth:`records` is exhausted, ``seen`` holds every custom id yielded and
    ``unreadable`` the lines of the last reading that could not be read at all.
    """

    def __init__(
        self,
        jobs: Orchestrator,
        info: BatchInfo,
        context: dict[str, Any],
        known: Container[str] | None = None,
        job_id: str | None = None,
    ) -> None:
        self.jobs = jobs
        self.info = info
        self.context = context
        self.known = known
        self.job_id = job_id
        self.seen: set[str] = set()
        self.unreadable = 0
        counts = cast("Mapping[str, int]", info["request_counts"])
        self.expected: dict[str, int] = {}
        for state in jobs.provider.result_line_states:
            group = _GROUPS[state]
            self.expected[group] = self.expected.get(group, 0) + counts[state]
        self._read: dict[str, int] = dict.fromkeys(self.expected, 0)
        # Lines with a custom id but an unreadable body: they count for any group.
        self._untyped = 0

    @property
    def expected_total(self) -> int:
        """Result lines the vendor's counts promise."""
        return sum(self.expected.values())

    @property
    def missing_lines(self) -> int:
        """Promised lines not read, after counting unreadable lines for whatever they were."""
        deficit = sum(max(0, want - self._read[group]) for group, want in self.expected.items())
        return max(0, deficit - self.unreadable - self._untyped)

    async def records(self) -> AsyncIterator[ResultRecord]:
        """Every readable result line for a known, not yet seen custom id, once.

        Raises:
            ResultsIncompleteError: The download stayed short of the vendor's counts after
                every attempt (nothing of what it lacks is handed out).
            ProviderError: A download failed for good (not transient).
        """
        delays = tuple(self.jobs.provider.result_download_delays)
        batch_id = self.info["id"]
        failure: ProviderError | None = None
        for attempt in range(len(delays) + 1):
            if attempt:
                await asyncio.sleep(max(0.0, delays[attempt - 1]))
            failure = None
            self.unreadable = 0
            try:
                async for record in self.jobs.stream_records(self.info, self.context):
                    custom_id = record.custom_id
                    if custom_id is None:
                        self.unreadable += 1
                        if not attempt:
                            logger.warning("batch %s: a result line could not be read", batch_id)
                        continue
                    if self.known is not None and custom_id not in self.known:
                        if not attempt:
                            logger.warning(
                                "batch %s: result for unknown id %r ignored", batch_id, custom_id
                            )
                        continue
                    if custom_id in self.seen:
                        if not attempt:  # later readings meet every line read before
                            logger.warning(
                                "batch %s: duplicate result for %r ignored", batch_id, custom_id
                            )
                        continue
                    self.seen.add(custom_id)
                    group = _group(record.output)
                    if group is None:
                        self._untyped += 1
                    elif group in self._read:
                        self._read[group] += 1
                    yield record
            except ProviderError as exc:
                if not exc.is_transient:
                    raise
                failure = exc
            if failure is None and not self.missing_lines:
                return
            if attempt < len(delays):
                logger.warning(
                    "batch %s: results download %s (%d of %d expected lines read); reading "
                    "it again in %g s",
                    batch_id,
                    f"failed: {failure}" if failure is not None else "came back short",
                    self.expected_total - self.missing_lines,
                    self.expected_total,
                    delays[attempt],
                )
        if not self.missing_lines:
            # The stream broke, but only after every line the counts promise had arrived.
            logger.warning("batch %s: results download ended with %s", batch_id, failure)
            return
        raise self._incomplete(len(delays) + 1, failure) from failure

    def _incomplete(self, attempts: int, failure: ProviderError | None) -> ResultsIncompleteError:
        batch_id = self.info["id"]
        cause = f" (last attempt: {failure})" if failure is not None else ""
        expected = self.expected_total
        read = expected - self.missing_lines
        owner = f" (lmbatch job {self.job_id})" if self.job_id else ""
        return ResultsIncompleteError(
            f"the results of batch {batch_id}{owner} came back short {attempts} times: the "
            f"provider reports {expected} requests finished but only {read} of their result "
            f"lines could be read{cause}. Nothing was resubmitted and nothing is lost: read them "
            f"later with retrieve({batch_id!r}) (command line: lmbatch results {batch_id}), "
            "or run the same invoke again, which re-attaches to the batch",
            batch_id=batch_id,
            expected=expected,
            read=read,
            provider=self.jobs.name,
        )
