"""``progress=True`` from Python: the command line's progress bar, or plain lines.

With rich installed (the ``cli`` extra), the bar is the command line's own
(:class:`lmbatch.cli._progress.BatchProgress`: counts, status, elapsed, ETA), drawn in
terminals and notebooks alike. Without it, one plain line on stderr per change of status
or counts. Either way a resubmission round is announced on a line of its own. rich is
imported only when a display is made, never by ``import lmbatch``.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from lmbatch._jobs._resubmit_policy import ResubmissionRound
    from lmbatch._status import BatchInfo

__all__ = ["PlainProgress", "ProgressHandlers", "progress_display"]


@dataclass(frozen=True)
class ProgressHandlers:
    """The ``on_progress`` and ``on_resubmit`` callbacks a display listens with."""

    on_progress: Callable[[BatchInfo], None]
    on_resubmit: Callable[[ResubmissionRound], None]


def describe_counts(info: BatchInfo) -> str:
    """``7/10 done (1 errored)``, or ``-/-`` before the vendor reports counts."""
    counts = info["request_counts"]
    done = counts["succeeded"] + counts["errored"] + counts["expired"] + counts["cancelled"]
    if not counts["total"]:
        return "-/- done"
    failed = counts["errored"] + counts["expired"] + counts["cancelled"]
    return f"{done}/{counts['total']} done" + (f" ({failed} failed)" if failed else "")


def describe_resubmission(resubmission: ResubmissionRound) -> str:
    """``round 2: resubmitting 3 requests (2 expired, 1 errored) as job ...``."""
    count = resubmission["requests"]
    why = ", ".join(f"{n} {reason}" for reason, n in resubmission["reasons"].items())
    return (
        f"round {resubmission['round']}: resubmitting {count} "
        f"request{'s' if count != 1 else ''}"
        + (f" ({why})" if why else "")
        + f" as job {resubmission['job_id']}"
    )


class PlainProgress:
    """One line per change of a batch's status or counts, with the time elapsed."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.started = time.monotonic()
        self._last: tuple[str, str] | None = None

    def _elapsed(self) -> str:
        seconds = int(time.monotonic() - self.started)
        hours, rest = divmod(seconds, 3600)
        return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"

    def update(self, info: BatchInfo) -> None:
        """Print a line when the status or the counts changed since the last check."""
        now = (info["status"].value, describe_counts(info))
        if now == self._last:
            return
        self._last = now
        print(f"{info['id']}: {now[0]}, {now[1]}, {self._elapsed()}", file=self.stream)

    def resubmitting(self, resubmission: ResubmissionRound) -> None:
        """Announce a resubmission round."""
        self._last = None  # the next round's first check is always shown
        print(describe_resubmission(resubmission), file=self.stream)


@contextlib.contextmanager
def progress_display(*, rich: bool | None = None) -> Iterator[ProgressHandlers]:
    """A progress display for the block: rich's bar when installed, else plain lines.

    Args:
        rich: Force the kind (tests); default: the bar when rich can be imported.
    """
    if rich is None:
        try:
            import rich as _rich  # noqa: F401
        except ImportError:
            rich = False
        else:
            rich = True
    if not rich:
        plain = PlainProgress()
        yield ProgressHandlers(plain.update, plain.resubmitting)
        return
    from lmbatch.cli._progress import BatchProgress

    with BatchProgress(enabled=True) as bar:

        def announce(resubmission: ResubmissionRound) -> None:
            bar.console.print(describe_resubmission(resubmission))

        yield ProgressHandlers(bar.update, announce)


def chain(first: Callable[[Any], None], second: Callable[[Any], None] | None) -> Any:
    """A callback calling ``first`` then ``second`` (the caller's own, if any)."""
    if second is None:
        return first

    def both(value: Any) -> None:
        first(value)
        second(value)

    return both
