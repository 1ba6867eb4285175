"""Output that suits where it goes: a terminal, a pipe, or a pipe that was closed.

* In a terminal, messages are wrapped at word boundaries to its width, so a hint never
  breaks in the middle of a word (the terminal itself would cut at the last column).
  Anywhere else they stay one line each, for logs and ``grep``.
* Tables are drawn with rich in a terminal. Piped, they are plain lines of
  space-aligned columns, one row per line, never wrapped, so ids are never split and
  ``lmbatch list | grep ...`` works.
* When the reader of a pipe goes away (``lmbatch results ID | head``), the command ends
  quietly with status 141 (128 + SIGPIPE, as a shell reports a writer ended by the pipe),
  with no traceback.
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Iterable
from typing import Any, TextIO

from rich.console import Console, Group
from rich.errors import MarkupError
from rich.table import Table
from rich.text import Text

__all__ = [
    "EXIT_BROKEN_PIPE",
    "PlainWhenPipedConsole",
    "plain_lines",
    "silence_stdout",
    "terminal_width",
    "wrapped",
]

#: Exit status after the reader of stdout went away: 128 + SIGPIPE.
EXIT_BROKEN_PIPE = 141


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def terminal_width(stream: TextIO) -> int | None:
    """Columns of the terminal ``stream`` writes to (``$COLUMNS`` wins), else None."""
    if not _is_terminal(stream):
        return None
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(stream.fileno()).columns or None
    except (OSError, ValueError):
        return None


def wrapped(text: str, stream: TextIO) -> str:
    """``text`` wrapped at word boundaries when ``stream`` is a terminal, else as it is.

    Continuation lines are indented by two spaces; a word longer than the line (a long
    path or id) is kept whole.
    """
    width = terminal_width(stream)
    if width is None or len(text) <= width or width < 20:
        return text
    return textwrap.fill(
        text,
        width=width,
        subsequent_indent="  ",
        break_long_words=False,
        break_on_hyphens=False,
    )


def silence_stdout() -> None:
    """Point stdout at the null device, so that flushing it at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
    except (OSError, ValueError):  # not a real file (tests capture stdout)
        pass


def _plain(cell: Any) -> str:
    if isinstance(cell, Text):
        text = cell.plain
    elif isinstance(cell, str):
        try:
            text = Text.from_markup(cell).plain
        except MarkupError:
            text = cell
    else:
        text = str(cell)
    return " ".join(text.split())  # one row, one line


def _table_lines(table: Table) -> list[str]:
    columns = table.columns
    header = [_plain(column.header) for column in columns]
    cells = [[_plain(cell) for cell in column.cells] for column in columns]
    rows = [list(row) for row in zip(*cells, strict=True)] if cells else []
    if table.show_header:
        rows.insert(0, header)
    widths = [max((len(row[i]) for row in rows), default=0) for i in range(len(columns))]
    lines = [str(table.title)] if table.title else []
    for row in rows:
        lines.append(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return lines


def plain_lines(renderable: Any) -> list[str]:
    """A table, text or group of them as plain lines (no box drawing, no wrapping)."""
    if isinstance(renderable, Table):
        return _table_lines(renderable)
    if isinstance(renderable, Group):
        return [line for part in renderable.renderables for line in plain_lines(part)]
    if isinstance(renderable, Text):
        return renderable.plain.splitlines()
    if isinstance(renderable, str):
        try:
            return Text.from_markup(renderable).plain.splitlines()
        except MarkupError:
            return renderable.splitlines()
    return [str(renderable)]


class PlainWhenPipedConsole(Console):
    """A console that draws rich tables in a terminal and plain lines anywhere else.

    Made by :func:`~lmbatch.cli._render.stdout_console` and
    :func:`~lmbatch.cli._progress.stderr_console`, which also turn rich's word wrap on in
    a terminal (text breaks at spaces, never inside a word that fits on a line) and off
    anywhere else (one message, one line).
    """

    def print(self, *objects: Any, **kwargs: Any) -> None:
        """Print like :meth:`rich.console.Console.print`; piped, tables become lines."""
        has_tables = any(isinstance(o, Table | Group) for o in objects)
        if self.is_terminal or not has_tables:
            super().print(*objects, **kwargs)
            return
        lines: Iterable[str] = (line for o in objects for line in plain_lines(o))
        self.file.write("".join(f"{line}\n" for line in lines))
        self.file.flush()
