"""The caller's deadline while waiting for a batch and collecting its results.

``invoke``, ``lmbatch.wait`` and ``lmbatch.resume`` take a ``timeout``. It must hold even
while one HTTP call hangs (an SDK allows 600 s per call and retries it), so the deadline
is kept in a context variable and every provider call made under it (each awaited
primitive, through the orchestrator's ``call``) is bounded by the time left. Submission is
exempt: it runs with the deadline suspended, since a create cut short on purpose would
leave its chunk uncertain; each create is bounded by the provider's own HTTP timeout.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator
from dataclasses import dataclass

from lmbatch._errors import BatchTimeoutError

__all__ = ["Deadline", "current_deadline", "deadline_scope", "suspended_deadline"]


@dataclass
class Deadline:
    """When waiting gives up, and what is being waited for (named in the error).

    Attributes:
        at: The ``time.monotonic()`` value at which to give up.
        timeout: The caller's timeout in seconds (for messages).
        target: The batch or job id being waited for, once known.
    """

    at: float
    timeout: float
    target: str | None = None

    @classmethod
    def after(cls, timeout: float, target: str | None = None) -> Deadline:
        """A deadline ``timeout`` seconds from now."""
        return cls(at=time.monotonic() + max(0.0, timeout), timeout=timeout, target=target)

    def remaining(self) -> float:
        """Seconds left (negative once passed)."""
        return self.at - time.monotonic()

    def error(self) -> BatchTimeoutError:
        """The error to raise once the deadline has passed."""
        target = self.target or "the batch"
        return BatchTimeoutError(
            f"batch {target} did not finish within {self.timeout:g} s (the call waiting "
            "for it or reading its results ran out of time); it is still running at the "
            f"provider: retrieve it later with retrieve({target!r}), or run the same call "
            "again",
            batch_id=self.target or "",
        )


_deadline: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "lmbatch_deadline", default=None
)


def current_deadline() -> Deadline | None:
    """The deadline in force in this task, if any."""
    return _deadline.get()


@contextlib.contextmanager
def deadline_scope(deadline: Deadline | None) -> Iterator[Deadline | None]:
    """Run the block under ``deadline`` (None: no deadline)."""
    token = _deadline.set(deadline)
    try:
        yield deadline
    finally:
        _deadline.reset(token)


@contextlib.contextmanager
def suspended_deadline() -> Iterator[None]:
    """Run the block with no deadline (submission, a cancel after a timeout)."""
    with deadline_scope(None):
        yield
