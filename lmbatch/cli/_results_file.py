"""Writing results: one JSON line per key, to a file or stdout."""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import IO, Any

from lmbatch._outputs import LMOutput
from lmbatch._private import open_private
from lmbatch.cli._errors import CLIError
from lmbatch.cli._render import result_record, to_json

__all__ = ["ResultsSummary", "ResultsWriter"]


class ResultsSummary:
    """Counts of outcomes written: ``ok`` and one per error kind."""

    def __init__(self) -> None:
        self.outcomes: Counter[str] = Counter()

    def add(self, output: LMOutput) -> None:
        """Count one outcome."""
        self.outcomes["ok" if output.error is None else output.error.kind] += 1

    @property
    def total(self) -> int:
        """How many results were written."""
        return sum(self.outcomes.values())

    def describe(self) -> str:
        """``12 results: 11 ok, 1 errored``."""
        kinds = sorted(self.outcomes, key=lambda kind: (kind != "ok", kind))
        parts = ", ".join(f"{self.outcomes[kind]} {kind}" for kind in kinds)
        return f"{self.total} result{'s' if self.total != 1 else ''}: {parts or 'none'}"

    def as_json(self) -> dict[str, Any]:
        """The counts as JSON-able data."""
        return {"total": self.total, "outcomes": dict(self.outcomes)}


class ResultsWriter:
    """Writes result lines to ``path`` (atomically, on success) or to stdout.

    Args:
        path: The results file, or None for stdout.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.summary = ResultsSummary()
        self.records: list[dict[str, Any]] = []
        self._partial = path.with_name(path.name + ".partial") if path is not None else None

    def _open(self) -> IO[str]:
        if self._partial is None:
            return sys.stdout
        try:
            return open_private(self._partial, "w", encoding="utf-8")
        except OSError as exc:
            raise CLIError(f"--output {self.path}: cannot write it: {exc.strerror}") from None

    def write_all(self, pairs: Iterable[tuple[str, LMOutput]]) -> None:
        """Write every ``(key, output)`` pair, in order."""
        handle = self._open()
        try:
            for key, output in pairs:
                self._write(handle, key, output)
        except BaseException:
            self._discard(handle)
            raise
        self._commit(handle)

    async def write_stream(self, pairs: AsyncIterator[tuple[str, LMOutput]]) -> None:
        """Write pairs as they stream in (for results too large to hold)."""
        handle = self._open()
        try:
            async for key, output in pairs:
                self._write(handle, key, output)
        except BaseException:
            self._discard(handle)
            raise
        self._commit(handle)

    def _write(self, handle: IO[str], key: str, output: LMOutput) -> None:
        record = result_record(key, output)
        handle.write(to_json(record) + "\n")
        self.summary.add(output)
        if len(self.records) < 1000:  # kept for a results table, not for huge batches
            self.records.append(record)

    def _discard(self, handle: IO[str]) -> None:
        if self._partial is not None:
            handle.close()
            self._partial.unlink(missing_ok=True)

    def _commit(self, handle: IO[str]) -> None:
        if self._partial is None or self.path is None:
            handle.flush()
            return
        handle.close()
        os.replace(self._partial, self.path)
