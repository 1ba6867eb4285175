"""``lmbatch.map``: a prompt over every row of a table, answered as one batch job.

The rows are read twice and never held whole (unless the caller's table is in memory
anyway):

1. Indexing: each row's key is computed (a column, a function, or by default a hash of
   the row) and recorded in a scratch SQLite file beside the job store's spool. Two rows
   with the same explicit key are refused here, naming both rows.
2. Planning and the job: the requests are a lazy mapping over the rows
   (:class:`_RowRequests`); :meth:`BatchOperations.invoke_iter` encodes them straight
   to the spool and streams each key's outcome back once, re-attaching to the job a
   re-run of the same rows and settings already made. Outcomes are parked in the
   scratch file as they arrive.
3. Output: the rows are read again in order and written, a batch at a time, with the
   result columns joined from the parked outcomes.

Identical rows get the same default key, so they are asked once and each gets the
answer: nothing is paid twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import sqlite3
import string
import tempfile
from collections.abc import (
    AsyncIterator,
    Callable,
    ItemsView,
    Iterator,
    KeysView,
    Mapping,
)
from pathlib import Path
from typing import Any

from lmbatch._errors import ValidationError
from lmbatch._messages import LMInput, Message
from lmbatch._outputs import LMOutput
from lmbatch._status import BatchInfo
from lmbatch._tables import (
    ColumnSpec,
    SourceBatch,
    TableSink,
    TableSource,
    file_sink,
    format_of,
    sink_for,
    source_for,
)

__all__ = ["MapSpec", "RowIndex", "map", "map_sync", "run_map"]

_Operations = Any  # lmbatch.BatchOperations (imported lazily: it pulls in asyncio, SQLite)

#: The result columns besides the answer itself, in order, with how each is read from
#: an :class:`LMOutput`.
_OUTCOME_COLUMNS: tuple[tuple[str, str, Callable[[LMOutput], Any]], ...] = (
    ("ok", "bool", lambda output: output.error is None),
    (
        "error",
        "string",
        lambda output: (
            f"{output.error.kind}: {output.error.message}" if output.error is not None else None
        ),
    ),
    # The same words on every provider (stop, length, content_filter, tool_calls,
    # refusal), as in results files; the vendor's own word stays in finish_details.
    ("finish_reason", "string", lambda output: output.finish_reason),
    ("model", "string", lambda output: output.finish_details.get("model")),
    (
        "input_tokens",
        "int64",
        lambda output: output.token_usage.input_tokens if output.token_usage else None,
    ),
    (
        "output_tokens",
        "int64",
        lambda output: output.token_usage.output_tokens if output.token_usage else None,
    ),
    # USD, batch discount applied; None where the price is not known.
    ("cost", "float64", lambda output: float(output.cost.total) if output.cost else None),
)


# -- prompts and keys ---------------------------------------------------------------------


class _Template:
    """A ``str.format`` template whose fields name columns: ``"Classify: {review}"``."""

    def __init__(self, text: str, what: str) -> None:
        self.text = text
        self.what = what
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise ValidationError(f"{what} template {text!r}: {exc}") from None
        self.fields: list[str] = []
        for _, field, _, _ in parsed:
            if field is None:
                continue
            root = field.split(".", 1)[0].split("[", 1)[0]
            if not root or root.isdigit():
                raise ValidationError(
                    f"{what} template {text!r}: every field must name a column, like "
                    "{review}; write a literal brace as {{ or }}"
                )
            if root not in self.fields:
                self.fields.append(root)

    def check_columns(self, columns: list[str], label: str) -> None:
        """Refuse a template naming a column the table does not have (row 0 lacks it)."""
        for field in self.fields:
            if field not in columns:
                raise ValidationError(self._missing(field, 0, columns, label))

    def _missing(self, field: str, position: int, columns: Any, label: str) -> str:
        return (
            f"the {self.what} template names column {field!r}, which row {position} of "
            f"{label} does not have (its columns: {', '.join(str(c) for c in columns) or 'none'})"
        )

    def render(self, row: Mapping[str, Any], position: int, label: str) -> str:
        for field in self.fields:
            if field not in row:
                raise ValidationError(self._missing(field, position, list(row), label))
        try:
            return self.text.format_map(row)
        except (KeyError, IndexError, AttributeError, ValueError, TypeError) as exc:
            raise ValidationError(
                f"row {position} of {label}: cannot fill the {self.what} template: {exc}"
            ) from None


PromptFn = Callable[[dict[str, Any]], LMInput]
KeyFn = Callable[[dict[str, Any]], Any]


def _canonical(value: Any) -> Any:
    """What ``json`` cannot write, written stably (numpy scalars as Python numbers)."""
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, bytes | bytearray):
        try:
            return item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, bytes | bytearray):
        return f"bytes:{bytes(value).hex()}"
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    return f"{type(value).__name__}:{value}"


def row_hash_key(row: Mapping[str, Any]) -> str:
    """The default key of a row: a hash of its columns and values, stable across runs."""
    text = json.dumps(
        [[str(name), value] for name, value in row.items()],
        ensure_ascii=False,
        default=_canonical,
        separators=(",", ":"),
    )
    return "row-" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:40]


class MapSpec:
    """How rows become requests and keys, and which result columns they get.

    Args:
        prompt: A template with ``{column}`` fields, or a function row → ``LMInput``.
        system: A system message template (or text) sent before each prompt.
        key: A column name or a function row → key; None hashes the row.
        response_schema: The structured output's schema (its fields become columns).
        parse: ``parse(row, output)`` → mapping of extra columns.
    """

    def __init__(
        self,
        prompt: str | PromptFn,
        *,
        system: str | None = None,
        key: str | KeyFn | None = None,
        response_schema: Any = None,
        parse: Callable[[dict[str, Any], LMOutput], Mapping[str, Any]] | None = None,
        parse_columns: list[str] | None = None,
    ) -> None:
        if isinstance(prompt, str):
            self.template: _Template | None = _Template(prompt, "prompt")
            self.prompt_fn: PromptFn | None = None
        elif callable(prompt):
            self.template = None
            self.prompt_fn = prompt
        else:
            raise ValidationError(
                f"prompt must be a template string or a function of the row, not "
                f"{type(prompt).__name__}"
            )
        self.system = _Template(system, "system") if system is not None else None
        if key is not None and not (isinstance(key, str) or callable(key)):
            raise ValidationError(
                f"key must be a column name or a function of the row, not {type(key).__name__}"
            )
        self.key = key
        self.parse = parse
        self.fields = _schema_columns(response_schema) if response_schema is not None else None
        self.parse_columns = parse_columns

    @property
    def explicit_keys(self) -> bool:
        """Whether keys come from the caller (and must then be unique)."""
        return self.key is not None

    def result_columns(self) -> list[ColumnSpec]:
        """The columns added to every row, in order (``parse`` columns come later)."""
        answer = self.fields if self.fields is not None else [ColumnSpec("text", "string")]
        return [*answer, *(ColumnSpec(name, kind) for name, kind, _ in _OUTCOME_COLUMNS)]

    def check_columns(self, columns: list[str] | None, label: str) -> None:
        """Refuse, before anything is read or sent, what the table's columns rule out."""
        if columns is None:
            return
        for template in (self.template, self.system):
            if template is not None:
                template.check_columns(columns, label)
        if isinstance(self.key, str) and self.key not in columns:
            raise ValidationError(
                f"key column {self.key!r} is not a column of {label} "
                f"(its columns: {', '.join(columns) or 'none'})"
            )
        clashes = [c.name for c in self.result_columns() if c.name in columns]
        if clashes:
            raise ValidationError(
                f"{label} already has column(s) {', '.join(repr(c) for c in clashes)}, which "
                "the results would overwrite; rename or drop them first"
            )

    def key_of(self, row: dict[str, Any], position: int, label: str) -> str:
        """The request key of one row."""
        if self.key is None:
            return row_hash_key(row)
        if isinstance(self.key, str):
            if self.key not in row:
                raise ValidationError(f"row {position} of {label} has no key column {self.key!r}")
            value = row[self.key]
        else:
            value = self.key(row)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value:
            raise ValidationError(
                f"row {position} of {label}: the key must be a non-empty string (or an "
                f"integer), got {value!r}"
            )
        return value

    def request_of(self, row: dict[str, Any], position: int, label: str) -> LMInput:
        """The request one row becomes."""
        if self.template is not None:
            prompt: LMInput = self.template.render(row, position, label)
        else:
            assert self.prompt_fn is not None
            prompt = self.prompt_fn(row)
        instructions = self.system.render(row, position, label) if self.system else ""
        if not instructions.strip():  # an empty system cell: no system message
            return prompt
        system = Message.system(instructions)
        if isinstance(prompt, str):
            return [system, Message.user(prompt)]
        if isinstance(prompt, Message):
            return [system, prompt]
        return [system, *prompt]

    def values(self, row: dict[str, Any], output: LMOutput) -> dict[str, Any]:
        """The result columns of one row."""
        values: dict[str, Any] = {}
        if self.fields is None:
            values["text"] = output.text
        else:
            data = output.structured_output if output.error is None else None
            for column in self.fields:
                values[column.name] = data.get(column.name) if isinstance(data, dict) else None
        for name, _, read in _OUTCOME_COLUMNS:
            values[name] = read(output)
        if self.parse is not None:
            extra = self.parse(row, output)
            if not isinstance(extra, Mapping):
                raise ValidationError(
                    f"parse(row, output) must return a mapping of column → value, not "
                    f"{type(extra).__name__}"
                )
            clash = [name for name in extra if name in values or name in row]
            if clash:
                raise ValidationError(
                    f"parse(row, output) returned column(s) {', '.join(repr(c) for c in clash)}, "
                    "which the row or its results already have"
                )
            if self.parse_columns is None:
                self.parse_columns = list(extra)
            elif list(extra) != self.parse_columns:
                raise ValidationError(
                    f"parse(row, output) must return the same columns for every row: got "
                    f"{list(extra)}, first {self.parse_columns}"
                )
            values.update(extra)
        return values


# -- structured output columns -----------------------------------------------------------


def _schema_columns(response_schema: Any) -> list[ColumnSpec]:
    """One column per top-level field of the response schema, typed after it."""
    from lmbatch._hyperparameters import normalize_response_schema

    normalized = normalize_response_schema(response_schema)
    assert normalized is not None
    schema = normalized.json_schema
    definitions = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties:
        raise ValidationError(
            "response_schema: an object schema with properties is needed to make columns"
        )
    return [ColumnSpec(name, _column_type(sub, definitions, 0)) for name, sub in properties.items()]


def _column_type(schema: Any, definitions: dict[str, Any], depth: int) -> Any:
    """A column type for a JSON schema: typed where JSON Schema is plain, else JSON text."""
    if not isinstance(schema, dict) or depth > 20:
        return "json"
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.rsplit("/", 1)[-1] in definitions:
        return _column_type(definitions[ref.rsplit("/", 1)[-1]], definitions, depth + 1)
    options = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(options, list):
        kinds = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
        return _column_type(kinds[0], definitions, depth + 1) if len(kinds) == 1 else "json"
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if len(kinds) == 1 else None
    if kind is None and "enum" in schema:
        values = schema["enum"]
        if all(isinstance(v, str) for v in values):
            return "string"
        return "json"
    simple = {"string": "string", "integer": "int64", "number": "float64", "boolean": "bool"}
    if kind in simple:
        return simple[kind]
    if kind == "array":
        return ("list", _column_type(schema.get("items"), definitions, depth + 1))
    if kind == "object":
        properties = schema.get("properties")
        if isinstance(properties, dict) and properties:
            return (
                "struct",
                tuple(
                    (name, _column_type(sub, definitions, depth + 1))
                    for name, sub in properties.items()
                ),
            )
    return "json"


# -- the scratch index --------------------------------------------------------------------


class RowIndex:
    """Keys of the rows, in row order, and the outcomes parked for them, on disk.

    A scratch SQLite file in a private temporary folder (beside the job store's spool):
    a million rows cost disk, not memory. Removed by :meth:`close`.
    """

    _BATCH = 2000

    def __init__(self, directory: Path | None = None) -> None:
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(prefix="map-", dir=directory))
        try:
            self.db = sqlite3.connect(self.folder / "rows.sqlite3")
            # A scratch file: nothing to recover after a crash, so no journal, no syncs.
            self.db.execute("PRAGMA journal_mode = OFF")
            self.db.execute("PRAGMA synchronous = OFF")
            self.db.execute(
                "CREATE TABLE rows (position INTEGER PRIMARY KEY, key BLOB, first INTEGER)"
            )
            self.db.execute(
                "CREATE TABLE keys (key BLOB PRIMARY KEY, position INTEGER) WITHOUT ROWID"
            )
            self.db.execute("CREATE TABLE results (key BLOB PRIMARY KEY, output BLOB)")
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise
        self.unique = 0
        self.rows = 0
        self._pending: list[tuple[bytes, bytes]] = []

    def add(self, position: int, key: str, *, explicit: bool, label: str) -> None:
        """Record the key of the row at ``position`` (rows come in order)."""
        blob = _blob(key)
        try:
            self.db.execute("INSERT INTO keys VALUES (?, ?)", (blob, position))
        except sqlite3.IntegrityError:
            if explicit:
                (first,) = self.db.execute(
                    "SELECT position FROM keys WHERE key = ?", (blob,)
                ).fetchone()
                raise ValidationError(
                    f"rows {first} and {position} of {label} have the same key {key!r}; "
                    "keys must be unique"
                ) from None
            first_row = 0  # the same row again: asked once, answered for both
        else:
            first_row = 1
            self.unique += 1
        self.db.execute("INSERT INTO rows VALUES (?, ?, ?)", (position, blob, first_row))
        self.rows += 1

    def first_flags(self) -> Iterator[tuple[str, bool]]:
        """``(key, first)`` of every row, in row order."""
        for blob, first in self.db.execute("SELECT key, first FROM rows ORDER BY position"):
            yield _text(blob), bool(first)

    def unique_keys(self) -> Iterator[str]:
        """Each key once, in the order of the rows that first have it."""
        for (blob,) in self.db.execute("SELECT key FROM rows WHERE first = 1 ORDER BY position"):
            yield _text(blob)

    def position_of(self, key: str) -> int | None:
        """The first row with ``key``."""
        found = self.db.execute("SELECT position FROM keys WHERE key = ?", (_blob(key),)).fetchone()
        return None if found is None else int(found[0])

    def park(self, key: str, output: LMOutput) -> None:
        """Keep one key's outcome until the output is written."""
        self._pending.append((_blob(key), output.model_dump_json().encode()))
        if len(self._pending) >= self._BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self.db.executemany("INSERT OR REPLACE INTO results VALUES (?, ?)", self._pending)
            self._pending.clear()

    def outcomes(self) -> Iterator[LMOutput | None]:
        """The parked outcome of every row, in row order (None: never answered)."""
        self._flush()
        cursor = self.db.execute(
            "SELECT results.output FROM rows LEFT JOIN results ON results.key = rows.key "
            "ORDER BY rows.position"
        )
        for (data,) in cursor:
            yield None if data is None else LMOutput.model_validate_json(data)

    def close(self) -> None:
        """Delete the scratch file."""
        self.db.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def _blob(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _text(blob: bytes) -> str:
    return bytes(blob).decode("utf-8", "surrogatepass")


class _RowRequests(Mapping[str, LMInput]):
    """``{key: request}`` over the rows, built as it is read: nothing is held.

    ``items()`` reads the rows once, in order, rendering each request as it goes; that is
    how requests are planned. Looking up one key reads the table up to its row (rarely
    needed).
    """

    def __init__(self, source: TableSource, index: RowIndex, spec: MapSpec) -> None:
        self.source = source
        self.index = index
        self.spec = spec

    def __len__(self) -> int:
        return self.index.unique

    def __iter__(self) -> Iterator[str]:
        return self.index.unique_keys()

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.index.position_of(key) is not None

    def __getitem__(self, key: str) -> LMInput:
        position = self.index.position_of(key) if isinstance(key, str) else None
        if position is None:
            raise KeyError(key)
        for batch in self.source.batches():
            if batch.start <= position < batch.start + len(batch.rows):
                row = batch.rows[position - batch.start]
                return self.spec.request_of(row, position, self.source.label)
        raise KeyError(key)

    def keys(self) -> KeysView[str]:
        return KeysView(self)

    def items(self) -> ItemsView[str, LMInput]:
        return _RowItems(self)


class _RowItems(ItemsView[str, LMInput]):
    _mapping: _RowRequests

    def __iter__(self) -> Iterator[tuple[str, LMInput]]:
        requests = self._mapping
        label = requests.source.label
        flags = requests.index.first_flags()
        for batch in requests.source.batches():
            for offset, row in enumerate(batch.rows):
                key, first = next(flags)
                if first:
                    yield key, requests.spec.request_of(row, batch.start + offset, label)


# -- running -----------------------------------------------------------------------------


def index_rows(source: TableSource, spec: MapSpec, index: RowIndex) -> None:
    """Pass 1: check the columns, compute and record every row's key."""
    spec.check_columns(source.columns, source.label)
    label = source.label
    explicit = spec.explicit_keys
    for batch in source.batches():
        for offset, row in enumerate(batch.rows):
            position = batch.start + offset
            index.add(position, spec.key_of(row, position, label), explicit=explicit, label=label)
        index.db.commit()
    if index.rows == 0:
        raise ValidationError(f"{label} has no rows: nothing to send")


def write_rows(source: TableSource, spec: MapSpec, index: RowIndex, sink: TableSink) -> Any:
    """Pass 3: every row again, in order, with its result columns."""
    outcomes = index.outcomes()
    try:
        for batch in source.batches():
            new = _new_columns(batch, spec, outcomes, sink)
            sink.write(batch, new)
        return sink.finish()
    except BaseException:
        sink.abort()
        raise


def _new_columns(
    batch: SourceBatch, spec: MapSpec, outcomes: Iterator[LMOutput | None], sink: TableSink
) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {}
    for row in batch.rows:
        output = next(outcomes)
        if output is None:  # every key gets one outcome; this is only a safety net
            output = LMOutput.failure("missing", "no outcome was recorded for this row")
        values = spec.values(row, output)
        if not columns:
            columns = {name: [] for name in values}
            known = {c.name for c in sink.columns}
            sink.columns.extend(ColumnSpec(n, "infer") for n in values if n not in known)
        for name, value in values.items():
            columns[name].append(value)
    return columns


async def run_map(
    ops: _Operations,
    source: TableSource,
    spec: MapSpec,
    make_sink: Callable[[list[ColumnSpec]], TableSink],
    hyperparameters: dict[str, Any] | None,
    *,
    scratch: Path | None = None,
    on_outcome: Callable[[str, LMOutput], None] | None = None,
    **invoke_options: Any,
) -> Any:
    """Index the rows, run the job (streaming), write the output; return the sink's result."""
    index = RowIndex(scratch if scratch is not None else ops.store.spool_dir())
    try:
        index_rows(source, spec, index)
        requests = _RowRequests(source, index, spec)
        pairs: AsyncIterator[tuple[str, LMOutput]] = ops.invoke_iter(
            requests, hyperparameters, **invoke_options
        )
        async for key, output in pairs:
            index.park(key, output)
            if on_outcome is not None:
                on_outcome(key, output)
        return write_rows(source, spec, index, make_sink(spec.result_columns()))
    finally:
        index.close()


async def map(  # shadows the builtin on purpose: lmbatch.map
    rows: Any,
    prompt: str | PromptFn,
    *,
    provider: str | None = None,
    model: str | None = None,
    response_schema: Any = None,
    parse: Callable[[dict[str, Any], LMOutput], Mapping[str, Any]] | None = None,
    key: str | KeyFn | None = None,
    system: str | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
    output: str | os.PathLike[str] | None = None,
    operations: _Operations | None = None,
    store: Any = None,
    timeout: float | None = None,
    status_check_interval: float = 30.0,
    max_status_check_interval: float = 300.0,
    resubmit: int | bool = True,
    reuse: bool | float = True,
    on_progress: Callable[[BatchInfo], None] | None = None,
    **options: Any,
) -> Any:
    """Ask one prompt of every row of a table, as one batch job; get the table back.

    ``rows`` is any iterable of mappings (a list of dicts...), a pandas or polars
    ``DataFrame``, a pyarrow ``Table``, a Hugging Face ``datasets.Dataset``, or the path
    of a Parquet, CSV or JSONL file (then ``output`` names the file to write). The result
    is the same kind of table, rows in the same order, with the original columns and:

    * ``text`` (or, with ``response_schema``, one typed column per field of the schema),
    * ``ok``, ``error`` (``"kind: message"``), ``finish_reason`` (why generation
      stopped, the same words on every provider), ``model``, ``input_tokens``,
      ``output_tokens``, ``cost`` (USD, when the model's price is known),
    * the columns ``parse(row, output)`` returns, if given.

    Each row's request key is ``key`` (a column, or a function of the row) or, by
    default, a hash of the row; running the same call again re-attaches to the job
    already made for these rows and settings, paying nothing twice. Identical rows share
    the default key: they are asked once and each gets the answer. Explicit keys must be
    unique.

    Files and datasets are read a batch at a time, twice, and the outcomes parked on
    disk: memory stays flat however many rows there are. pyarrow (``lmbatch[data]``) is
    needed for every kind but plain rows, CSV and JSONL; pandas, polars and datasets only
    when passed.

    Args:
        rows: The table (see above).
        prompt: A template with ``{column}`` fields (``"Classify: {review}"``), or a
            function row → ``LMInput``.
        provider: Provider name (default: configured, see :func:`get_batch_operations`).
        model: Model name (default: configured).
        response_schema: A pydantic model class or a JSON object schema: the answer's
            fields become columns.
        parse: ``parse(row, output)`` → ``{column: value}`` of extra columns.
        key: The key column, or a function row → key (default: a hash of the row).
        system: A system message, also a template with ``{column}`` fields.
        hyperparameters: Generation settings (``max_tokens``, ``temperature``...).
        output: With a file path as ``rows``: the file to write (.parquet, .csv or
            .jsonl); returned.
        operations: A :class:`BatchOperations` to use instead of ``provider``/``model``.
        store: Job store (with ``provider``).
        timeout: Most seconds to wait (default: :meth:`BatchOperations.invoke`'s).
        status_check_interval: First pause between status checks.
        max_status_check_interval: Longest pause between status checks.
        resubmit: Resubmission rounds for transient failures (see ``invoke``).
        reuse: Re-attach to an earlier job of the same rows (see ``invoke``).
        on_progress: Called with the batch info after every status check.
        **options: Provider options (with ``provider``).

    Raises:
        ValidationError: A template names a column a row does not have (naming both),
            two rows have the same explicit key, or a row's request cannot be sent;
            nothing was sent.
        ConfigError: The table's library (or pyarrow) is needed and not installed.
    """
    from lmbatch._jobs._poll_policy import DEFAULT_TIMEOUT

    source = source_for(rows)
    is_file = isinstance(rows, os.PathLike)
    if is_file and output is None:
        raise ValidationError("with a file as rows, pass output= (the file to write)")
    if output is not None and not is_file:
        raise ValidationError("output= goes with a file path as rows")
    if output is not None:
        format_of(Path(output), "output")
    params = dict(hyperparameters or {})
    if response_schema is not None:
        if "response_schema" in params:
            raise ValidationError("pass response_schema once, not also in hyperparameters")
        params["response_schema"] = response_schema
    spec = MapSpec(
        prompt, system=system, key=key, response_schema=params.get("response_schema"), parse=parse
    )
    spec.check_columns(source.columns, source.label)
    owned = operations is None
    if operations is None:
        from lmbatch._config import get_batch_operations

        if model is not None:
            options["model"] = model
        operations = get_batch_operations(provider, store=store, **options)
    elif provider is not None or model is not None or options or store is not None:
        raise ValidationError("pass operations= or provider/model/options, not both")

    def make_sink(columns: list[ColumnSpec]) -> TableSink:
        if is_file:
            assert output is not None
            return file_sink(Path(output), columns, source)
        return sink_for(rows, columns)

    try:
        return await run_map(
            operations,
            source,
            spec,
            make_sink,
            params or None,
            timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
            status_check_interval=status_check_interval,
            max_status_check_interval=max_status_check_interval,
            resubmit=resubmit,
            reuse=reuse,
            on_progress=on_progress,
        )
    finally:
        if owned:
            await operations.aclose()


def map_sync(rows: Any, prompt: str | PromptFn, **kwargs: Any) -> Any:
    """:func:`map` for code that is not async: runs it to the end and returns its result.

    Takes the same arguments. Not for use inside a running event loop (``await
    lmbatch.map(...)`` there).
    """
    return asyncio.run(map(rows, prompt, **kwargs))
