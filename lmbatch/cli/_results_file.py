"""Writing results: one JSON line per key, to a file or stdout, or a CSV or Parquet table.

The format follows the output file's suffix: ``.csv`` and ``.parquet`` (``.pq``) give a
table with one row per key and the same fields as columns (nested ones as JSON text),
written by the table sinks of :mod:`lmbatch._tables` that ``lmbatch run --prompt`` uses;
anything else gives JSON lines. A request file's extra fields (see
:mod:`lmbatch.cli._request_file`) come right after ``key``.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import sqlite3
import sys
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from lmbatch._outputs import LMOutput
from lmbatch._private import open_private
from lmbatch._tables import (
    BATCH_ROWS,
    ColumnSpec,
    SourceBatch,
    TableSink,
    file_sink,
    optional_module,
)
from lmbatch.cli._errors import EXIT_ERROR, CLIError
from lmbatch.cli._render import RESULT_COLUMNS, result_record, to_json

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


_TABLE_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


class _TableOut:
    """A CSV or Parquet results file: result records as rows, a batch at a time."""

    def __init__(self, path: Path, extra_columns: Mapping[str, str]) -> None:
        columns = [ColumnSpec(name, kind) for name, kind in extra_columns.items()]
        columns += [ColumnSpec(name, kind) for name, kind in RESULT_COLUMNS.items()]
        self.sink: TableSink = file_sink(path, columns)
        self.rows: list[dict[str, Any]] = []
        self.start = 0

    def add(self, record: dict[str, Any]) -> None:
        self.rows.append(record)
        if len(self.rows) >= BATCH_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self.rows:
            return
        rows = self.rows
        new = {column.name: [row.get(column.name) for row in rows] for column in self.sink.columns}
        self.sink.write(SourceBatch(self.start, [{"key": row["key"]} for row in rows]), new)
        self.start += len(rows)
        self.rows = []

    def commit(self) -> None:
        self._flush()
        self.sink.finish()

    def discard(self) -> None:
        self.sink.abort()


class ResultsWriter:
    """Writes result lines to ``path`` (atomically, on success) or to stdout.

    A ``path`` ending in ``.csv`` or ``.parquet`` (``.pq``) gets a table of the same
    fields instead; any other name gets JSON lines.

    Args:
        path: The results file, or None for stdout.
        extra_columns: The request file's extra fields and their column types (see
            :attr:`RequestFile.extra_columns`), when results carry them.
    """

    def __init__(self, path: Path | None, extra_columns: Mapping[str, str] | None = None) -> None:
        self.path = path
        self.summary = ResultsSummary()
        self.records: list[dict[str, Any]] = []
        self.extra_columns = dict(extra_columns or {})
        self.table_format = _TABLE_SUFFIXES.get(path.suffix.lower()) if path is not None else None
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
        self.carry(self.extra_columns)
        if self.table_format == "parquet":
            # ConfigError naming the lmbatch[data] extra, before anything is sent.
            optional_module("pyarrow.parquet", f"--output {path} (a Parquet file)")

    def carry(self, extra_columns: Mapping[str, str]) -> None:
        """Write the request file's extra fields too; refuse one named like a result field.

        Raises:
            CLIError: An extra field would overwrite a result field (exit status 2).
        """
        clashes = [name for name in extra_columns if name in RESULT_COLUMNS]
        if clashes:
            raise CLIError(
                f"the request file has field(s) {', '.join(map(repr, clashes))}, which the "
                "results would overwrite; rename them (every field besides key, input or "
                "prompt, and system is carried into the results)"
            )
        self.extra_columns = dict(extra_columns)

    def _open(self) -> IO[str] | _TableOut:
        if self._partial is None:
            return sys.stdout
        if self.table_format is not None:
            assert self.path is not None
            return _TableOut(self.path, self.extra_columns)
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
                if isinstance(handle, _TableOut):
                    handle.add(json.loads(line))
                else:
                    handle.write(line + "\n")
                self.summary.count(outcome)
        except BaseException as exc:
            self._discard(handle)
            self._failed_writing(exc)
            raise
        self._commit(handle)

    def _write(self, handle: IO[str] | _TableOut, key: str, output: LMOutput) -> None:
        record = result_record(key, output)
        if isinstance(handle, _TableOut):
            handle.add(record)
        else:
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

    def _discard(self, handle: IO[str] | _TableOut) -> None:
        if isinstance(handle, _TableOut):
            handle.discard()
        elif self._partial is not None:
            handle.close()
            self._partial.unlink(missing_ok=True)

    def _commit(self, handle: IO[str] | _TableOut) -> None:
        if self._partial is None or self.path is None:
            assert not isinstance(handle, _TableOut)
            handle.flush()
            return
        try:
            if isinstance(handle, _TableOut):
                handle.commit()  # the sink writes OUT.partial, then renames it
                return
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

    def add(self, key: str, output: LMOutput, extra: Mapping[str, Any] | None = None) -> None:
        """Park the result line of one key (each key once), with the request's extra
        fields."""
        line = to_json(result_record(key, output, extra))
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
