"""The live progress display shown while waiting for a batch.

It goes to stderr and only appears when stderr is a terminal, so piping or redirecting
the output of ``lmbatch run`` never mixes progress bars into it.
"""

from __future__ import annotations

import time
from datetime import datetime
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TextColumn
from rich.text import Text

from lmbatch._status import BatchInfo
from lmbatch.cli._terminal import PlainWhenPipedConsole

__all__ = ["BatchProgress", "stderr_console"]


def stderr_console() -> Console:
    """A console on stderr: in a terminal, colours and word wrap (a hint never breaks
    mid-word); elsewhere, plain lines that are never wrapped."""
    console = PlainWhenPipedConsole(stderr=True, highlight=False)
    console.soft_wrap = not console.is_terminal
    return console


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class _CountsColumn(ProgressColumn):
    """``7/10`` once the vendor reports counts, ``-/-`` before."""

    def render(self, task: Task) -> Text:
        if task.total is None:
            return Text("  -/-", style="dim")
        return Text(f"{int(task.completed)}/{int(task.total)}", style="progress.download")


class _ElapsedColumn(ProgressColumn):
    """Time since the batch was created (or since waiting began)."""

    def render(self, task: Task) -> Text:
        started = task.fields.get("started_at") or time.time()
        return Text(_clock(time.time() - float(started)), style="progress.elapsed")


class _EtaColumn(ProgressColumn):
    """Estimated time left, shown only when the vendor's counts allow an estimate."""

    def render(self, task: Task) -> Text:
        if task.total is None or task.finished or not task.completed:
            return Text("")
        remaining = task.time_remaining
        if remaining is None:
            return Text("")
        return Text(f"ETA {_clock(remaining)}", style="progress.remaining")


def _done(info: BatchInfo) -> int:
    counts = info["request_counts"]
    return counts["succeeded"] + counts["errored"] + counts["expired"] + counts["cancelled"]


def _started_at(info: BatchInfo) -> float | None:
    created = info.get("created_at")
    return created.timestamp() if isinstance(created, datetime) else None


class BatchProgress:
    """Shows a batch's progress: one bar per vendor batch, with counts, elapsed and ETA.

    Use as a context manager and pass :meth:`update` as ``on_progress``. Does nothing
    when disabled, which is the default when stderr is not a terminal.

    Args:
        console: Where to draw (default: stderr).
        enabled: Force the display on or off (default: on when the console is a terminal).
    """

    def __init__(self, console: Console | None = None, *, enabled: bool | None = None) -> None:
        self.console = console or stderr_console()
        self.enabled = self.console.is_terminal if enabled is None else enabled
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self.last_info: BatchInfo | None = None

    def __enter__(self) -> BatchProgress:
        if self.enabled:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                _CountsColumn(),
                TextColumn("{task.fields[status]}", style="cyan"),
                _ElapsedColumn(),
                _EtaColumn(),
                console=self.console,
                transient=False,
            )
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def update(self, info: BatchInfo) -> None:
        """Record the latest status check (the ``on_progress`` callback)."""
        self.last_info = info
        if self._progress is None:
            return
        parts = info.get("batches") or []
        rows: list[tuple[str, BatchInfo]] = [(info["id"], info)]
        if len(parts) > 1:
            rows += [(f"  {part['id']}", part) for part in parts]
        for label, row in rows:
            self._show(label, row)

    def _show(self, label: str, info: BatchInfo) -> None:
        assert self._progress is not None
        total = info["request_counts"]["total"] or None
        status = info["status"].value
        vendor_status = info["provider_status"]
        if vendor_status and vendor_status != status and "batches" not in info:
            status = f"{status} ({vendor_status})"
        task = self._tasks.get(label)
        if task is None:
            self._tasks[label] = self._progress.add_task(
                label,
                total=total,
                completed=_done(info),
                status=status,
                started_at=_started_at(info),
            )
            return
        self._progress.update(task, total=total, completed=_done(info), status=status)
