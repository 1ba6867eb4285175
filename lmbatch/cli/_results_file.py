"""Writing results: one JSON line per key, to a file or stdout."""

from __future__ import annotations

import itertools
import os
import shutil
import sqlite3
import sys
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from lmbatch._outputs import LMOutput
from lmbatch._private import open_private
from lmbatch.cli._errors import EXIT_ERROR, CLIError
from lmbatch.cli._render import result_record, to_json

__all__ = ["ParkedResults", "ResultsSummary", "ResultsWriter"]


class ResultsSummary:
    """Counts of outcomes written: ``ok`` and one per error kind."""

    def __init__(self) -> None:
        self.outcomes: Counter[str] = Counter()

    def add(self, output: LMOutput) -> None:
        """Count one outcome."""
        self.count(outcome_of(output))

    def count(self, outcome: str) -> None:
        """Count one outcome by name (``ok`` or an error kind)."""
        self.outcomes[outcome] += 1

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

    def check(self) -> None:
        """Refuse a results path that could not be written, before anything is sent.

        A batch can take a day: finding out at the end that ``-o`` names a missing or
        read-only folder would waste it. The file is written as ``OUT.partial`` and then
        renamed, so its folder must exist and be writable.

        Raises:
            CLIError: Naming ``--output`` and the reason (exit status 2).
        """
        if self.path is None:
            return
        path = self.path
        folder = path.parent if str(path.parent) else Path(".")
        if path.is_dir():
            raise CLIError(
                f"--output {path}: is a folder; name a file, e.g. -o {path / 'results.jsonl'}"
            )
        if not folder.is_dir():
            raise CLIError(
                f"--output {path}: the folder {folder} does not exist; create it first "
                f"(mkdir -p {folder}) or name another file"
            )
        if not os.access(folder, os.W_OK | os.X_OK):
            raise CLIError(f"--output {path}: the folder {folder} is not writable")
        if path.exists() and not os.access(path, os.W_OK):
            raise CLIError(f"--output {path}: the file exists and is not writable")

    def _open(self) -> IO[str]:
        if self._partial is None:
            return sys.stdout
        try:
            return open_private(self._partial, "w", encoding="utf-8")
        except OSError as exc:
            raise CLIError(
                f"--output {self.path}: cannot write it: {exc.strerror}", exit_code=EXIT_ERROR
            ) from None

    def write_all(self, pairs: Iterable[tuple[str, LMOutput]]) -> None:
        """Write every ``(key, output)`` pair, in order."""
        handle = self._open()
        try:
            for key, output in pairs:
                self._write(handle, key, output)
        except BaseException as exc:
            self._discard(handle)
            self._failed_writing(exc)
            raise
        self._commit(handle)

    async def write_stream(self, pairs: AsyncIterator[tuple[str, LMOutput]]) -> None:
        """Write pairs as they stream in (for results too large to hold)."""
        handle = self._open()
        try:
            async for key, output in pairs:
                self._write(handle, key, output)
        except BaseException as exc:
            self._discard(handle)
            self._failed_writing(exc)
            raise
        self._commit(handle)

    def write_lines(self, lines: Iterable[tuple[str, str]]) -> None:
        """Write ``(outcome, line)`` pairs of ready-made result lines, in order."""
        handle = self._open()
        try:
            for outcome, line in lines:
                handle.write(line + "\n")
                self.summary.count(outcome)
        except BaseException as exc:
            self._discard(handle)
            self._failed_writing(exc)
            raise
        self._commit(handle)

    def _write(self, handle: IO[str], key: str, output: LMOutput) -> None:
        record = result_record(key, output)
        handle.write(to_json(record) + "\n")
        self.summary.add(output)
        if len(self.records) < 1000:  # kept for a results table, not for huge batches
            self.records.append(record)

    def _failed_writing(self, exc: BaseException) -> None:
        """Turn a failed write of the results file (a full disk...) into a CLIError."""
        if isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError) and self.path:
            raise CLIError(
                f"--output {self.path}: cannot write it: {exc.strerror or exc}",
                exit_code=EXIT_ERROR,
            ) from None

    def _discard(self, handle: IO[str]) -> None:
        if self._partial is not None:
            handle.close()
            self._partial.unlink(missing_ok=True)

    def _commit(self, handle: IO[str]) -> None:
        if self._partial is None or self.path is None:
            handle.flush()
            return
        try:
            handle.close()
            os.replace(self._partial, self.path)
        except OSError as exc:
            self._partial.unlink(missing_ok=True)
            raise CLIError(
                f"--output {self.path}: cannot write it: {exc.strerror}", exit_code=EXIT_ERROR
            ) from None


def outcome_of(output: LMOutput) -> str:
    """``ok``, or the kind of the output's error."""
    return "ok" if output.error is None else output.error.kind


class ParkedResults:
    """Result lines parked on disk until they can be written in the request file's order.

    Results arrive in the order the vendor returns them, round after round, but a
    results file follows the request file. Holding every outcome until the end cost
    about 2 KB per request (2 GB for a million); each is parked instead as its finished
    JSON line in a temporary SQLite file, and read back in order through one join (a
    million lines: a few seconds, and constant memory).

    Args:
        directory: Where to make the temporary folder (private, removed by
            :meth:`close`); the system's temporary directory when None.
    """

    _BATCH = 2_000

    def __init__(self, directory: Path | None = None) -> None:
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        self._folder = Path(tempfile.mkdtemp(prefix="results-", dir=directory))
        try:
            self._db = sqlite3.connect(self._folder / "results.sqlite3")
            # A scratch file: nothing to recover after a crash, so no journal, no syncs.
            self._db.execute("PRAGMA journal_mode = OFF")
            self._db.execute("PRAGMA synchronous = OFF")
            # Appended as they come (cheap), indexed once at the end (a sort).
            self._db.execute("CREATE TABLE results (key BLOB, outcome TEXT, line BLOB)")
        except BaseException:
            shutil.rmtree(self._folder, ignore_errors=True)
            raise
        self._pending: list[tuple[bytes, str, bytes]] = []

    def add(self, key: str, output: LMOutput) -> None:
        """Park the result line of one key (each key once)."""
        line = to_json(result_record(key, output))
        # Bytes, so that a key or text with a lone surrogate comes back exactly.
        self._pending.append((_blob(key), outcome_of(output), _blob(line)))
        if len(self._pending) >= self._BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._db.executemany("INSERT INTO results VALUES (?, ?, ?)", self._pending)
            self._pending.clear()

    def in_order(self, keys: Iterable[str]) -> Iterator[tuple[str, str]]:
        """``(outcome, line)`` of each of ``keys`` that has a result, in that order."""
        self._flush()
        db = self._db
        db.execute("CREATE TABLE wanted (position INTEGER PRIMARY KEY, key BLOB)")
        ordered = iter(keys)
        while batch := [(_blob(key),) for key in itertools.islice(ordered, self._BATCH)]:
            db.executemany("INSERT INTO wanted (key) VALUES (?)", batch)
        db.execute("CREATE INDEX results_by_key ON results (key)")
        rows = db.execute(
            "SELECT results.outcome, results.line FROM wanted "
            "JOIN results ON results.key = wanted.key ORDER BY wanted.position"
        )
        for outcome, line in rows:
            yield outcome, bytes(line).decode("utf-8", "surrogatepass")

    def close(self) -> None:
        """Delete the parked lines."""
        self._db.close()
        shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> ParkedResults:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _blob(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")
