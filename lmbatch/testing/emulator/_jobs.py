"""What every vendor's batch records share: the lifecycle contract and result-line writing."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, Any, Protocol, TypeVar

from lmbatch.testing._directives import KeyFault

T = TypeVar("T")


class Job(Protocol):
    """A batch record the emulator drives through its lifecycle.

    A vendor's `EmulatorVendor.jobs` hands these to the host, which steps them on polls
    (`EmulatorState.polled`), on time, or when a test calls ``advance`` / ``finish`` /
    ``expire``.

    Attributes:
        id: The batch id clients use.
        polls: Polls counted towards the next step (maintained by the host).
        last_step_at: ``time.monotonic()`` of the last step (maintained by the host).
    """

    id: str
    polls: int
    last_step_at: float

    @property
    def terminal(self) -> bool:
        """Whether the batch has reached a final state."""
        ...

    def step(self) -> None:
        """Advance one lifecycle step (no-op when terminal)."""
        ...

    def expire(self, finished: int) -> None:
        """End the batch as expired with the first ``finished`` runnable requests done."""
        ...


def write_result_line(out: IO[str], record: dict[str, Any], fault: KeyFault) -> None:
    """Write one JSONL result line, applying the omit / malformed / duplicate faults.

    Args:
        out: The result file, open for writing text.
        record: The line's JSON object.
        fault: The request's scripted faults.
    """
    if fault.omit:
        return
    line = json.dumps(record, separators=(",", ":"))
    if fault.malformed:
        # Cut mid-object so the line is no longer JSON but still names the custom_id.
        line = line[: max(1, len(line) // 2)]
    out.write(line + "\n")
    if fault.duplicate:
        out.write(line + "\n")


def runnable_prefix(ids: Iterable[str], expiring: set[str], finished: int) -> set[str]:
    """The first ``finished`` ids in input order, skipping those scripted to expire.

    Args:
        ids: Request ids in input order.
        expiring: Ids scripted never to run.
        finished: How many requests ran.

    Returns:
        The ids that ran.
    """
    chosen: set[str] = set()
    for custom_id in ids:
        if len(chosen) >= finished:
            break
        if custom_id not in expiring:
            chosen.add(custom_id)
    return chosen


@dataclass
class RunProgress:
    """How far a running batch has got: the counts a vendor reports while it runs.

    The vendor-neutral part of `EmulatorSettings.progress_steps`: a batch spends ``steps``
    lifecycle steps running; after each but the last it reports the first share of its
    runnable requests done (input order, those scripted to fail counted failed; the
    answers themselves are made when it ends). A vendor only maps these counts (or
    `fraction`, for a vendor that reports a percentage) to its wire shape. Get one from
    `EmulatorState.run_progress`.

    Attributes:
        steps: Lifecycle steps the batch spends running (1: nothing is reported before
            it ends).
        done: Running steps taken so far.
    """

    steps: int = 1
    done: int = 0

    def step(self) -> bool:
        """Take one running step; True when that was the last (the batch ends now)."""
        self.done += 1
        return self.done >= self.steps

    @property
    def fraction(self) -> float:
        """The share of the run done, from 0 (not started) to 1 (every step taken)."""
        return min(self.done, self.steps) / self.steps

    def counts(self, requests: Iterable[T], fault: Callable[[T], KeyFault]) -> tuple[int, int]:
        """``(succeeded, failed)`` so far among ``requests`` (input order), by their faults.

        Args:
            requests: The requests (ids or records) in input order, those the vendor counts.
            fault: A request's scripted faults: ``expire`` never runs, an ``error_status``
                fails.
        """
        runnable = [request for request in requests if not fault(request).expire]
        done = runnable[: len(runnable) * min(self.done, self.steps) // self.steps]
        failed = sum(1 for request in done if fault(request).error_status is not None)
        return len(done) - failed, failed
