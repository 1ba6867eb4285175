"""How often and how long lmbatch waits for a batch: the poll policy, in one place.

``invoke``, ``invoke_iter``, :func:`lmbatch.wait` and :func:`lmbatch.resume` take the same
waiting arguments: ``status_check_interval``, ``max_status_check_interval`` and
``max_iterations`` (or a :class:`PollPolicy` as ``poll=``), plus ``timeout``,
``cancel_on_timeout`` and ``on_progress``. :meth:`Waiting.of` reads them, once, into the
:class:`Waiting` that polling (:mod:`lmbatch._jobs._waiting`) and reconciliation
(:mod:`lmbatch._jobs._reconcile`) follow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lmbatch._errors import ValidationError

if TYPE_CHECKING:
    from lmbatch._status import BatchInfo

__all__ = ["DEFAULT_TIMEOUT", "OVERDUE_MARGIN_SECONDS", "PollPolicy", "Waiting"]

#: Seconds ``invoke``, ``lmbatch.wait`` and ``lmbatch.resume`` wait at most unless given a
#: ``timeout`` (None waits without limit): one full 24 h completion window, with room for
#: resubmission rounds, which are small.
DEFAULT_TIMEOUT = 48 * 3600.0
#: How long a batch may still run past its ``expires_at`` (or its creation plus the
#: provider's ``completion_window``) before waiting stops with ``BatchOverdueError``:
#: vendors end late batches as expired within minutes; this leaves ample room.
OVERDUE_MARGIN_SECONDS = 3 * 3600.0


@dataclass(frozen=True)
class PollPolicy:
    """How often lmbatch checks the status of a running batch.

    The first check is made at once. After each check that finds the batch still
    running, lmbatch pauses: ``interval`` seconds the first time, then ``backoff`` times
    longer after every pause, up to ``max_interval``. A check that fails with a
    transient error (rate limit, 5xx, lost connection) is tried again after the pause;
    waiting never resubmits anything.

    Give one as ``poll=`` to :meth:`~lmbatch.BatchOperations.invoke`,
    :meth:`~lmbatch.BatchOperations.invoke_iter`, :func:`lmbatch.wait` or
    :func:`lmbatch.resume`, instead of their ``status_check_interval``,
    ``max_status_check_interval`` and ``max_iterations`` arguments (the same three
    numbers)::

        steady = lmbatch.PollPolicy(interval=60, backoff=1)  # every minute
        results = await ops.invoke(requests, poll=steady)

    Attributes:
        interval: Seconds of the first pause (default 30; negative counts as 0).
        max_interval: The longest pause, in seconds (default 300).
        backoff: How much each pause grows over the one before (default 1.5; at
            least 1, which keeps the pause at ``interval``).
        max_iterations: Most status checks before waiting gives up with
            :class:`~lmbatch.BatchTimeoutError` (default None: no limit; the call's
            ``timeout`` bounds waiting).
    """

    interval: float = 30.0
    max_interval: float = 300.0
    backoff: float = 1.5
    max_iterations: int | None = None

    def __post_init__(self) -> None:
        if not self.backoff >= 1:
            raise ValidationError(f"PollPolicy: backoff must be at least 1, not {self.backoff}")

    def first_delay(self) -> float:
        """The pause after the first check that finds the batch running."""
        return max(0.0, self.interval)

    def next_delay(self, delay: float) -> float:
        """The pause that follows a pause of ``delay`` seconds."""
        # A positive interval never decays to a busy loop of zero-second pauses.
        floor = 0.001 if self.interval > 0 else 0.0
        return min(max(delay * self.backoff, floor), self.max_interval)


_DEFAULT_POLL = PollPolicy()


@dataclass(frozen=True)
class Waiting:
    """What one call waits with: its poll policy and its limits.

    Attributes:
        poll: How often to check.
        timeout: Most seconds to wait, from the start of the call (None: no limit).
        cancel_on_timeout: Cancel the batch when waiting gives up.
        on_progress: Called with the batch info after every status check.
    """

    poll: PollPolicy = field(default_factory=PollPolicy)
    timeout: float | None = None
    cancel_on_timeout: bool = False
    on_progress: Callable[[BatchInfo], None] | None = None

    @classmethod
    def of(
        cls,
        *,
        status_check_interval: float = _DEFAULT_POLL.interval,
        max_status_check_interval: float = _DEFAULT_POLL.max_interval,
        max_iterations: int | None = None,
        poll: PollPolicy | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        cancel_on_timeout: bool = False,
        on_progress: Callable[[BatchInfo], None] | None = None,
    ) -> Waiting:
        """The waiting arguments of the user API, read in the one place they are read.

        Raises:
            ValidationError: ``poll`` is given together with a different
                ``status_check_interval``, ``max_status_check_interval`` or
                ``max_iterations`` (which one would win is not obvious).
        """
        given = (status_check_interval, max_status_check_interval, max_iterations)
        if poll is None:
            poll = PollPolicy(
                interval=status_check_interval,
                max_interval=max_status_check_interval,
                max_iterations=max_iterations,
            )
        elif given != (_DEFAULT_POLL.interval, _DEFAULT_POLL.max_interval, None):
            raise ValidationError(
                "pass either poll=PollPolicy(...) or status_check_interval / "
                "max_status_check_interval / max_iterations, not both"
            )
        return cls(poll, timeout, cancel_on_timeout, on_progress)
