"""Reading a file of requests (JSONL or CSV) into ``{key: LMInput}``.

Every problem is reported as one line naming the file and the line, before anything is
sent anywhere.

JSONL: one JSON object per line::

    {"key": "q1", "input": "What is the capital of France?"}
    {"key": "q2", "input": "Translate 'cat' to German", "system": "Answer in one word"}
    {"key": "q3", "input": [{"role": "user", "content": "Hi"}]}

CSV: a header row with ``key`` and ``prompt`` columns (and optionally ``system``). CSV is
read strictly: a row with more or fewer cells than the header, a quoted field that is never
closed, or a NUL byte is an error naming the line where it starts, never a prompt that
silently swallows the rows after it.

Both formats take ``input`` or ``prompt`` for the request (one of them per line). Every
other field or column is an *extra*: it is not sent, but kept (:attr:`RequestFile.extras`)
so that ``lmbatch run`` can carry it into the results file beside the answer. A field
whose name is a near miss of ``key``, ``input``, ``prompt`` or ``system`` that the line
lacks (``sytem``) is refused rather than carried: it is almost surely a request field
spelt wrong.

Attachment ``path`` parts are read relative to the request file's folder (the working
directory for stdin) and must stay inside it, or inside a folder the user allowed with
``--allow-path``: a request file from elsewhere must not be able to send
``../../.ssh/id_rsa`` or ``/etc/passwd`` to a vendor. (Python callers building
:class:`~lmbatch.Attachment` objects in code are trusted: that is their own code.)
"""

from __future__ import annotations

import base64
import binascii
import csv
import difflib
import io
import json
import sys
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lmbatch._errors import ValidationError
from lmbatch._inputs import normalize_input
from lmbatch._json import json_problem
from lmbatch._messages import Attachment, LMInput, Message
from lmbatch.cli._errors import CLIError

__all__ = ["FileFormat", "RequestFile", "read_request_file"]

FileFormat = Literal["jsonl", "csv"]
STDIN = "-"
#: The fields of a request; ``input`` and ``prompt`` are two names of one field.
_REQUEST_FIELDS = ("key", "input", "prompt", "system")
#: The largest integer a results table keeps as an integer column (int64).
_INT64 = 2**63
_SUFFIX_FORMATS: dict[str, FileFormat] = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}


@dataclass
class RequestFile:
    """The requests read from one file, in file order.

    Attributes:
        name: The file name as given (``<stdin>`` for standard input).
        requests: ``{key: LMInput}``, ready for :meth:`lmbatch.BatchOperations.create`.
        line_of: The line each key was read from.
        extras: The extra fields of each key that has any (``{key: {field: value}}``):
            what a line holds besides key, input/prompt and system.
    """

    name: str
    requests: dict[str, LMInput] = field(default_factory=dict)
    line_of: dict[str, int] = field(default_factory=dict)
    extras: dict[str, dict[str, Any]] = field(default_factory=dict)
    _types: dict[str, str | None] = field(default_factory=dict, repr=False)

    def add(
        self, line: int, key: str, value: LMInput, extras: dict[str, Any] | None = None
    ) -> None:
        """Record one request; a key seen before is an error naming both lines."""
        if key in self.requests:
            raise CLIError(
                f"{self.name}:{line}: duplicate key {key!r} (first used on line "
                f"{self.line_of[key]}); keys must be unique"
            )
        self.requests[key] = value
        self.line_of[key] = line
        if extras:
            self.extras[key] = extras
            for name, cell in extras.items():
                self._types[name] = _merged_type(self._types.get(name), _column_type(cell))

    @property
    def extra_columns(self) -> dict[str, str]:
        """Every extra field's name, in the order first seen, with the column type a
        results table gives it (``string``, ``int64``, ``float64``, ``bool``, or
        ``json`` for mixed or nested values; ``string`` when every value is null)."""
        return {name: kind or "string" for name, kind in self._types.items()}


def _column_type(value: Any) -> str | None:
    """The results-table column type one extra value needs (None for null)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64" if -_INT64 <= value < _INT64 else "json"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    return "json"


def _merged_type(known: str | None, new: str | None) -> str | None:
    """One column type for values of types ``known`` and ``new`` (None: only nulls)."""
    if known is None or known == new or new is None:
        return known or new
    if {known, new} == {"int64", "float64"}:
        return "float64"
    return "json"


def _misspelt_field(where: str, name: str, present: Collection[str]) -> None:
    """Refuse an extra field that is a near miss of a request field the line lacks.

    ``sytem`` without ``system`` is a misspelling (the system message would silently
    not be sent); ``prompt2`` beside ``prompt`` is a column of its own.
    """
    given = {field.lower() for field in present}
    if given & {"input", "prompt"}:
        given |= {"input", "prompt"}
    absent = [field for field in _REQUEST_FIELDS if field not in given]
    lowered = name.strip().lower()
    close = difflib.get_close_matches(lowered, absent, n=1, cutoff=0.8)
    if close:
        raise CLIError(
            f"{where}: unknown field {name!r}; did you mean {close[0]!r}? (fields besides "
            f"key, input or prompt, and system are not sent but carried to the results, "
            f"so a misspelt one is refused)"
        )


@dataclass(frozen=True)
class _AttachmentFolders:
    """Where attachment paths of a request file are read from, and may be read from."""

    base: Path
    allowed: tuple[Path, ...]

    @classmethod
    def of(cls, base: Path, allow_paths: Iterable[str | Path]) -> _AttachmentFolders:
        roots = (base, *(Path(folder).expanduser() for folder in allow_paths))
        return cls(base, tuple(root.resolve() for root in roots))

    def resolve(self, where: str, given: str) -> Path:
        """The file ``given`` names, once it is known to lie in an allowed folder."""
        # resolve() follows symlinks and "..": a link in the folder pointing out of it
        # is outside too.
        file = (self.base / Path(given).expanduser()).resolve()
        if not any(file.is_relative_to(root) for root in self.allowed):
            raise CLIError(
                f"{where}: attachment path {given!r} is outside the request file's folder "
                f"({self.base}); to read attachments from another folder, pass "
                "--allow-path DIR"
            )
        return file


def read_request_file(
    path: str, file_format: FileFormat | None = None, allow_paths: Iterable[str | Path] = ()
) -> RequestFile:
    """Read and validate every request of ``path`` (``-`` reads JSONL from stdin).

    Args:
        path: The file to read.
        file_format: ``"jsonl"`` or ``"csv"``; guessed from the suffix when None.
        allow_paths: Folders attachment ``path`` parts may also be read from, besides
            the request file's own folder (the working directory for stdin).

    Raises:
        CLIError: The file is missing, unreadable, or a line is invalid (the message
            names the file and line), or an attachment path lies outside the allowed
            folders.
    """
    if path == STDIN:
        folders = _AttachmentFolders.of(Path.cwd(), allow_paths)
        result = _read_jsonl("<stdin>", sys.stdin.buffer.read(), folders)
    else:
        file = Path(path)
        chosen = file_format or _format_of(file)
        try:
            data = file.read_bytes()
        except FileNotFoundError:
            raise CLIError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise CLIError(f"{path}: is a directory, not a file of requests") from None
        except OSError as exc:
            raise CLIError(f"{path}: cannot read it: {exc.strerror}") from None
        if chosen == "jsonl":
            result = _read_jsonl(path, data, _AttachmentFolders.of(file.parent, allow_paths))
        else:
            result = _read_csv(path, data, file.parent)
    if not result.requests:
        raise CLIError(f"{result.name}: no requests in the file")
    return result


def _format_of(file: Path) -> FileFormat:
    found = _SUFFIX_FORMATS.get(file.suffix.lower())
    if found is None:
        raise CLIError(
            f"{file}: cannot tell the format from the suffix {file.suffix or '(none)'!r}; "
            "name it .jsonl or .csv, or pass --format jsonl|csv"
        )
    return found


# -- JSONL -------------------------------------------------------------------------------


def _read_jsonl(name: str, data: bytes, base_dir: _AttachmentFolders) -> RequestFile:
    result = RequestFile(name)
    for number, raw in enumerate(data.splitlines(), start=1):
        where = f"{name}:{number}"
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            raise CLIError(f"{where}: not UTF-8 text") from None
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CLIError(f"{where}: not valid JSON ({exc.msg}, column {exc.colno})") from None
        except RecursionError:
            raise CLIError(f"{where}: the line is nested too deeply to read") from None
        if "\\u" in text:
            _check_escapes(where, record)
        if not isinstance(record, dict):
            raise CLIError(
                f'{where}: expected a JSON object like {{"key": ..., "input": ...}}, '
                f"got {_json_type(record)}"
            )
        key = _read_key(where, record)
        value = _read_input(where, key, record, base_dir)
        extras = {name: cell for name, cell in record.items() if name not in _REQUEST_FIELDS}
        result.add(number, key, value, extras)
    return result


def _check_escapes(where: str, record: Any) -> None:
    """Refuse ``\\ud800``-style escapes of half a character (a lone surrogate).

    JSON lets them through, but no provider takes them: UTF-8 cannot encode them.
    """
    problem = json_problem(record)
    if problem is not None:
        raise CLIError(f"{where}: the line {problem}")


def _read_key(where: str, record: dict[str, Any]) -> str:
    for name in record:
        if name not in _REQUEST_FIELDS:
            _misspelt_field(where, name, record)
    if "key" not in record:
        raise CLIError(f'{where}: missing "key"')
    key = record["key"]
    if isinstance(key, int) and not isinstance(key, bool):
        key = str(key)
    if not isinstance(key, str) or not key:
        raise CLIError(f'{where}: "key" must be a non-empty string, got {json.dumps(key)}')
    return key


def _read_input(
    where: str, key: str, record: dict[str, Any], base_dir: _AttachmentFolders
) -> LMInput:
    if "input" in record and "prompt" in record:
        raise CLIError(
            f'{where}: both "input" and "prompt" for key {key!r}; they are two names of '
            "the request, give one"
        )
    name = "prompt" if "prompt" in record else "input"
    if name not in record:
        raise CLIError(f'{where}: missing "input" (or "prompt") for key {key!r}')
    system = record.get("system")
    if system is not None and not isinstance(system, str):
        raise CLIError(f'{where}: "system" must be a string, got {_json_type(system)}')
    value = _from_json(where, record[name], base_dir)
    return _validated(where, key, value, system)


def _from_json(where: str, value: Any, base_dir: _AttachmentFolders) -> Any:
    """Accept the JSON spellings people write: ``content`` for ``contents``, file parts."""
    if not isinstance(value, list):
        return value
    converted: list[Any] = []
    for item in value:
        if isinstance(item, dict) and "role" in item:
            message = dict(item)
            if "content" in message and "contents" not in message:
                content = message.pop("content")
                message["contents"] = content if isinstance(content, list) else [content]
            message["contents"] = [
                _part(where, part, base_dir) for part in message.get("contents") or []
            ]
            converted.append(message)
        else:
            converted.append(_part(where, item, base_dir))
    return converted


def _part(where: str, part: Any, base_dir: _AttachmentFolders) -> Any:
    if not (isinstance(part, dict) and part.get("type") == "attachment"):
        return part
    part = dict(part)
    if "path" in part:
        file = base_dir.resolve(where, str(part.pop("path")))
        try:
            return Attachment.from_path(file, part.get("mime_type"))
        except (OSError, ValueError) as exc:
            raise CLIError(f"{where}: attachment {file}: {exc}") from None
    if isinstance(part.get("data"), str):
        try:
            part["data"] = base64.b64decode(part["data"], validate=True)
        except (binascii.Error, ValueError):
            raise CLIError(f'{where}: attachment "data" must be base64') from None
    return part


def _validated(where: str, key: str, value: Any, system: str | None) -> LMInput:
    try:
        messages = normalize_input(key, value)
    except ValidationError as exc:
        raise CLIError(f"{where}: {exc}") from None
    if system is None:
        return value if isinstance(value, str) else messages
    if not system.strip():
        raise CLIError(f'{where}: "system" is empty for key {key!r}')
    return [Message.system(system), *messages]


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


# -- CSV ---------------------------------------------------------------------------------


def _read_csv(name: str, data: bytes, base_dir: Path) -> RequestFile:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CLIError(f"{name}:{line}: not UTF-8 text") from None
    if "\x00" in text:
        # A NUL is no text anyone typed: the file is damaged or not UTF-8 CSV at all
        # (UTF-16 from a spreadsheet, say). Never send it on as part of a prompt.
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise CLIError(f"{name}:{line}: contains a NUL byte; the file is damaged or not CSV text")
    # strict: a stray quote is an error, not a field that swallows the rest of the file.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows = _numbered_rows(name, reader)
    first = next(rows, None)
    if first is None:
        raise CLIError(f"{name}: the file is empty; it needs a header row with key,prompt")
    header_line, header = first
    columns, extra_columns = _csv_columns(f"{name}:{header_line}", header)
    prompt = "prompt" if "prompt" in columns else "input"
    result = RequestFile(name)
    for number, row in rows:
        if not any(cell.strip() for cell in row):
            continue
        where = f"{name}:{number}"
        if len(row) != len(header):
            # A missing or extra cell means a prompt with an unquoted comma, or a cell
            # lost: reading on would send a cut-off prompt, or the wrong one.
            raise CLIError(
                f"{where}: the row has {len(row)} cell{'s' if len(row) != 1 else ''} but "
                f"the header has {len(header)} columns; quote a prompt that holds commas"
            )
        cells = {column: row[index] for column, index in columns.items()}
        key = cells["key"].strip()
        if not key:
            raise CLIError(f"{where}: the key column is empty")
        system = cells.get("system") or None
        extras = {column: row[index] for column, index in extra_columns.items()}
        result.add(number, key, _validated(where, key, cells[prompt], system), extras)
    return result


def _csv_columns(where: str, header: list[str]) -> tuple[dict[str, int], dict[str, int]]:
    """``{column name: index}`` of the request columns of the header row, and of the
    other (extra) columns; a name given twice is an error."""
    columns: dict[str, int] = {}
    extras: dict[str, int] = {}
    for index, column in enumerate(header):
        name = column.strip().lower()
        if name in _REQUEST_FIELDS:
            if name in columns:
                raise CLIError(f"{where}: the header names column {name!r} twice")
            columns[name] = index
        elif column.strip():  # an unnamed column (a trailing comma) carries nothing
            if column in extras:
                raise CLIError(f"{where}: the header names column {column!r} twice")
            extras[column] = index
    for column in extras:
        _misspelt_field(where, column, columns)
    if "input" in columns and "prompt" in columns:
        raise CLIError(
            f"{where}: both an 'input' and a 'prompt' column; they are two names of the "
            "request, keep one"
        )
    has = f"(the header has: {', '.join(header) or 'nothing'})"
    if "key" not in columns:
        raise CLIError(
            f"{where}: missing column 'key' {has}; or run the file as a table, each row "
            "keyed by a hash of its columns: lmbatch run FILE --prompt '{prompt}'"
        )
    if "prompt" not in columns and "input" not in columns:
        raise CLIError(f"{where}: missing column 'prompt' (or 'input') {has}")
    return columns, extras


def _numbered_rows(name: str, reader: Any) -> Iterator[tuple[int, list[str]]]:
    """``(line, row)`` pairs; ``line`` is where the row starts (rows may span lines)."""
    start = reader.line_num + 1
    try:
        for row in reader:
            yield start, row
            start = reader.line_num + 1
    except csv.Error as exc:
        problem = _csv_problem(str(exc), start, reader.line_num)
        raise CLIError(f"{name}:{start}: {problem}") from None


def _csv_problem(error: str, start: int, stopped: int) -> str:
    """Words for a ``csv.Error`` met reading the row that starts on line ``start``."""
    if error == "unexpected end of data" or error.endswith("expected after '\"'"):
        if error == "unexpected end of data":
            where = " (it runs to the end of the file)"
        else:
            where = "" if stopped <= start else f" (the reader stumbled on line {stopped})"
        return (
            "a quoted field starts on this line and is never closed properly; close it, "
            'and write a quote inside a quoted field as ""' + where
        )
    if error.startswith("field larger than field limit"):
        return f"a field is longer than {csv.field_size_limit():,} characters (an unclosed quote?)"
    return f"not valid CSV ({error})"
