"""Tables in and out: reading rows from the kinds of table users hold, writing them back.

:func:`lmbatch.map` and ``lmbatch run --prompt`` read a table in batches of rows
(:class:`TableSource`) and write it back, batch by batch in the same order, with the
result columns added (:class:`TableSink`). Sources are read twice (once to plan the
requests, once to write the output), so a file or a Hugging Face dataset is never held
in memory whole.

No table library is imported here at module level: pyarrow, pandas, polars and datasets
are imported only when the caller hands over (or asks for) one of their objects, and a
missing one is a :class:`~lmbatch.ConfigError` naming the extra to install.
"""

from __future__ import annotations

import csv
import importlib
import json
import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, NamedTuple

from lmbatch._errors import ConfigError, ValidationError
from lmbatch._private import open_private

__all__ = [
    "BATCH_ROWS",
    "ColumnSpec",
    "SourceBatch",
    "TableSink",
    "TableSource",
    "file_sink",
    "file_source",
    "optional_module",
    "sink_for",
    "source_for",
]

#: Rows read, answered and written at a time.
BATCH_ROWS = 1000

TableFormat = Literal["parquet", "csv", "jsonl"]
_SUFFIXES: dict[str, TableFormat] = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


def optional_module(name: str, why: str) -> Any:
    """Import an optional dependency, or say which extra brings it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        package = name.split(".")[0]
        raise ConfigError(
            f"{why} needs {package}, which is not installed: pip install 'lmbatch[data]'"
            + ("" if package == "pyarrow" else f" {package}")
        ) from None


def _arrow() -> Any:
    return optional_module("pyarrow", "reading or writing this kind of table")


# -- column types --------------------------------------------------------------------------

#: A column type, independent of any table library: ``"string"``, ``"bool"``,
#: ``"int64"``, ``"float64"``, ``"json"`` (any JSON value, written as JSON text where
#: the table needs one type), ``"infer"`` (from the values of the first batch),
#: ``("list", item)`` or ``("struct", ((name, type), ...))``.
ColumnType = Any


@dataclass(frozen=True)
class ColumnSpec:
    """A result column: its name and type."""

    name: str
    type: ColumnType


def arrow_type(column_type: ColumnType) -> Any:
    """The pyarrow type of a column type (``"infer"`` has none: None)."""
    pa = _arrow()
    if column_type == "infer":
        return None
    if isinstance(column_type, tuple):
        if column_type[0] == "list":
            return pa.list_(arrow_type(column_type[1]))
        return pa.struct([pa.field(name, arrow_type(inner)) for name, inner in column_type[1]])
    return {
        "string": pa.string(),
        "json": pa.string(),
        "bool": pa.bool_(),
        "int64": pa.int64(),
        "float64": pa.float64(),
    }[column_type]


def _jsonable(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False, default=str) if value is not None else None


def arrow_values(values: list[Any], column_type: ColumnType) -> list[Any]:
    """Values ready for ``pyarrow.array`` of ``arrow_type(column_type)``."""
    if column_type == "json":
        return [_jsonable(value) for value in values]
    return values


class _ArrowColumns:
    """Turns result columns into pyarrow arrays of fixed types, batch after batch.

    ``"infer"`` columns (what ``parse`` returns) take the type pyarrow infers from the
    first batch, and keep it; a column that is all null there becomes JSON text.
    """

    def __init__(self, columns: Sequence[ColumnSpec]) -> None:
        self.columns = list(columns)
        self.types: dict[str, Any] = {}

    def arrays(self, new: Mapping[str, list[Any]]) -> list[Any]:
        pa = _arrow()
        known_names = {column.name for column in self.columns}
        # Columns ``parse`` returns are known once the first batch is answered.
        self.columns += [ColumnSpec(name, "infer") for name in new if name not in known_names]
        arrays = []
        for column in self.columns:
            values = new[column.name]
            known = self.types.get(column.name)
            if known is None:
                if column.type == "infer":
                    inferred = pa.array(values).type
                    if pa.types.is_null(inferred):
                        self.types[column.name] = pa.string()
                        column = ColumnSpec(column.name, "json")
                        self.columns = [
                            column if c.name == column.name else c for c in self.columns
                        ]
                    else:
                        self.types[column.name] = inferred
                else:
                    self.types[column.name] = arrow_type(column.type)
                known = self.types[column.name]
            try:
                arrays.append(pa.array(arrow_values(values, column.type), type=known))
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
                raise ValidationError(
                    f"result column {column.name!r}: a value does not fit its type {known} ({exc})"
                ) from None
        return arrays

    def fields(self) -> list[Any]:
        pa = _arrow()
        return [pa.field(column.name, self.types[column.name]) for column in self.columns]


# -- sources --------------------------------------------------------------------------------


class SourceBatch(NamedTuple):
    """Consecutive rows of a table.

    Attributes:
        start: Position of the first row (0-based) in the table.
        rows: The rows as ``{column: value}``.
        native: The same rows in the table's own form (a pyarrow ``RecordBatch``...),
            when the sink writes that form back.
    """

    start: int
    rows: list[dict[str, Any]]
    native: Any = None


class TableSource(ABC):
    """A table read in batches of rows, as many times as needed, always in one order."""

    #: What the table is, for messages (``data.parquet``, ``the DataFrame``...).
    label: str = "the rows"

    @property
    @abstractmethod
    def columns(self) -> list[str] | None:
        """The column names, when the table declares them (else rows may differ)."""

    @abstractmethod
    def batches(self) -> Iterator[SourceBatch]:
        """The rows, in order, a batch at a time."""


class _RowsSource(TableSource):
    """An iterable of mappings (read into a list once if it is not a sequence)."""

    label = "the rows"

    def __init__(self, rows: Iterable[Any]) -> None:
        self.rows: Sequence[Any] = rows if isinstance(rows, Sequence) else list(rows)
        for position, row in enumerate(self.rows):
            if not isinstance(row, Mapping):
                raise ValidationError(
                    f"row {position} is a {type(row).__name__}, not a mapping of column "
                    "names to values"
                )

    @property
    def columns(self) -> list[str] | None:
        return None

    def batches(self) -> Iterator[SourceBatch]:
        for start in range(0, len(self.rows), BATCH_ROWS):
            chunk = self.rows[start : start + BATCH_ROWS]
            yield SourceBatch(start, [dict(row) for row in chunk], chunk)


class _ArrowTableSource(TableSource):
    label = "the table"

    def __init__(self, table: Any) -> None:
        self.table = table

    @property
    def columns(self) -> list[str] | None:
        return list(self.table.column_names)

    def batches(self) -> Iterator[SourceBatch]:
        start = 0
        for batch in self.table.to_batches(max_chunksize=BATCH_ROWS):
            if batch.num_rows:
                yield SourceBatch(start, batch.to_pylist(), batch)
                start += batch.num_rows


class _PandasSource(TableSource):
    label = "the DataFrame"

    def __init__(self, frame: Any) -> None:
        self.frame = frame
        names = list(frame.columns)
        if not all(isinstance(name, str) for name in names):
            raise ValidationError(
                "the DataFrame's column names must be strings, got "
                + ", ".join(repr(name) for name in names if not isinstance(name, str))
            )
        if len(set(names)) != len(names):
            raise ValidationError("the DataFrame has two columns of the same name")

    @property
    def columns(self) -> list[str] | None:
        return list(self.frame.columns)

    def batches(self) -> Iterator[SourceBatch]:
        for start in range(0, len(self.frame), BATCH_ROWS):
            part = self.frame.iloc[start : start + BATCH_ROWS]
            yield SourceBatch(start, part.to_dict("records"), None)


class _PolarsSource(TableSource):
    label = "the DataFrame"

    def __init__(self, frame: Any) -> None:
        self.frame = frame

    @property
    def columns(self) -> list[str] | None:
        return list(self.frame.columns)

    def batches(self) -> Iterator[SourceBatch]:
        start = 0
        for part in self.frame.iter_slices(BATCH_ROWS):
            yield SourceBatch(start, part.to_dicts(), None)
            start += part.height


class _DatasetSource(TableSource):
    """A Hugging Face ``datasets.Dataset``: memory-mapped, read a batch at a time."""

    label = "the dataset"

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    @property
    def columns(self) -> list[str] | None:
        return list(self.dataset.column_names)

    def batches(self) -> Iterator[SourceBatch]:
        start = 0
        for part in self.dataset.iter(batch_size=BATCH_ROWS):
            names = list(part)
            count = len(part[names[0]]) if names else 0
            rows = [{name: part[name][i] for name in names} for i in range(count)]
            yield SourceBatch(start, rows, None)
            start += count


class _ParquetSource(TableSource):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.label = str(path)
        parquet = optional_module("pyarrow.parquet", "reading a Parquet file")
        try:
            self.file = parquet.ParquetFile(path)
        except OSError as exc:
            raise ValidationError(f"{path}: cannot read it as Parquet: {exc}") from None
        self.schema = self.file.schema_arrow

    @property
    def columns(self) -> list[str] | None:
        return list(self.schema.names)

    def batches(self) -> Iterator[SourceBatch]:
        start = 0
        for batch in self.file.iter_batches(batch_size=BATCH_ROWS):
            yield SourceBatch(start, batch.to_pylist(), batch)
            start += batch.num_rows


class _CsvSource(TableSource):
    """A CSV file with a header row; every cell is text, carried through as written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.label = str(path)
        with self._open() as handle:
            header = next(csv.reader(handle, strict=True), None)
        if not header:
            raise ValidationError(f"{path}: the file is empty; it needs a header row")
        if len(set(header)) != len(header):
            raise ValidationError(f"{path}: the header names a column twice")
        self.header = header

    def _open(self) -> IO[str]:
        try:
            return self.path.open(encoding="utf-8-sig", newline="")
        except OSError as exc:
            raise ValidationError(f"{self.path}: cannot read it: {exc.strerror}") from None

    @property
    def columns(self) -> list[str] | None:
        return list(self.header)

    def batches(self) -> Iterator[SourceBatch]:
        with self._open() as handle:
            reader = csv.reader(handle, strict=True)
            next(reader, None)
            rows: list[dict[str, Any]] = []
            start = 0
            try:
                for cells in reader:
                    if not any(cell.strip() for cell in cells):
                        continue
                    if len(cells) != len(self.header):
                        raise ValidationError(
                            f"{self.path}:{reader.line_num}: the row has {len(cells)} cells "
                            f"but the header has {len(self.header)} columns; quote a value "
                            "that holds commas"
                        )
                    rows.append(dict(zip(self.header, cells, strict=True)))
                    if len(rows) == BATCH_ROWS:
                        yield SourceBatch(start, rows)
                        start += len(rows)
                        rows = []
            except csv.Error as exc:
                raise ValidationError(
                    f"{self.path}:{reader.line_num}: not valid CSV ({exc})"
                ) from None
            except UnicodeDecodeError:
                raise ValidationError(f"{self.path}: not UTF-8 text") from None
            if rows:
                yield SourceBatch(start, rows)


class _JsonlSource(TableSource):
    """A JSONL file of objects, one row per line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.label = str(path)
        if not path.is_file():
            raise ValidationError(f"{path}: no such file")

    @property
    def columns(self) -> list[str] | None:
        return None

    def batches(self) -> Iterator[SourceBatch]:
        rows: list[dict[str, Any]] = []
        start = 0
        with self.path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    raise ValidationError(f"{self.path}:{number}: not valid JSON ({exc})") from None
                if not isinstance(row, dict):
                    raise ValidationError(f"{self.path}:{number}: expected a JSON object")
                rows.append(row)
                if len(rows) == BATCH_ROWS:
                    yield SourceBatch(start, rows)
                    start += len(rows)
                    rows = []
        if rows:
            yield SourceBatch(start, rows)


def _kind(rows: Any) -> str | None:
    """Which table library ``rows`` belongs to, without importing any of them."""
    module = type(rows).__module__.split(".")[0]
    name = type(rows).__name__
    if module == "pandas" and name == "DataFrame":
        return "pandas"
    if module == "polars" and name == "DataFrame":
        return "polars"
    if module == "pyarrow" and name == "Table":
        return "arrow"
    if module == "datasets" and name == "Dataset":
        return "dataset"
    return None


def source_for(rows: Any) -> TableSource:
    """The :class:`TableSource` that reads ``rows`` (any kind :func:`lmbatch.map` takes)."""
    if isinstance(rows, os.PathLike):
        return file_source(Path(rows))
    kind = _kind(rows)
    if kind == "pandas":
        _arrow()  # result columns are typed through pyarrow
        return _PandasSource(rows)
    if kind == "polars":
        _arrow()
        return _PolarsSource(rows)
    if kind == "arrow":
        return _ArrowTableSource(rows)
    if kind == "dataset":
        return _DatasetSource(rows)
    module = type(rows).__module__.split(".")[0]
    if module == "datasets":
        raise ValidationError(
            f"a datasets.{type(rows).__name__} cannot be mapped: pick a split first "
            "(dataset['train']); an IterableDataset cannot be read twice"
        )
    if isinstance(rows, str | bytes | Mapping) or not isinstance(rows, Iterable):
        raise ValidationError(
            "rows must be an iterable of mappings, a pandas or polars DataFrame, a pyarrow "
            f"Table, a datasets.Dataset or a file path, not {type(rows).__name__}"
        )
    return _RowsSource(rows)


def format_of(path: Path, what: str) -> TableFormat:
    """The table format a file name says, or a :class:`ValidationError`."""
    found = _SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise ValidationError(
            f"{what} {path}: cannot tell the format from the suffix "
            f"{path.suffix or '(none)'!r}; name it .parquet, .csv or .jsonl"
        )
    return found


def file_source(path: Path) -> TableSource:
    """A Parquet, CSV or JSONL file (by its suffix) as a :class:`TableSource`."""
    file_format = format_of(path, "input")
    if not path.is_file():
        raise ValidationError(f"{path}: no such file")
    if file_format == "parquet":
        return _ParquetSource(path)
    if file_format == "csv":
        return _CsvSource(path)
    return _JsonlSource(path)


# -- sinks ----------------------------------------------------------------------------------


class TableSink(ABC):
    """Receives the source's batches in order, each with its result columns."""

    def __init__(self, columns: Sequence[ColumnSpec]) -> None:
        self.columns = list(columns)

    @abstractmethod
    def write(self, batch: SourceBatch, new: dict[str, list[Any]]) -> None:
        """Write one batch of rows with its result columns (``{column: values}``)."""

    @abstractmethod
    def finish(self) -> Any:
        """Complete the output and return it."""

    def abort(self) -> None:  # noqa: B027 - most sinks hold nothing to undo
        """Give up: drop whatever was written."""


class _RowsSink(TableSink):
    """A list of dicts: each row's own columns, then the result columns."""

    def __init__(self, columns: Sequence[ColumnSpec]) -> None:
        super().__init__(columns)
        self.rows: list[dict[str, Any]] = []

    def write(self, batch: SourceBatch, new: dict[str, list[Any]]) -> None:
        names = [column.name for column in self.columns]
        for index, row in enumerate(batch.rows):
            out = dict(row)
            for name in names:
                out[name] = new[name][index]
            self.rows.append(out)

    def finish(self) -> list[dict[str, Any]]:
        return self.rows


class _ColumnsSink(TableSink):
    """Collects the result columns, to join them onto an in-memory table at the end."""

    def __init__(self, columns: Sequence[ColumnSpec], table: Any, kind: str) -> None:
        super().__init__(columns)
        self.table = table
        self.kind = kind
        self.arrow_columns = _ArrowColumns(columns)
        self.parts: list[Any] = []

    def write(self, batch: SourceBatch, new: dict[str, list[Any]]) -> None:
        pa = _arrow()
        arrays = self.arrow_columns.arrays(new)
        self.parts.append(
            pa.RecordBatch.from_arrays(arrays, schema=pa.schema(self.arrow_columns.fields()))
        )

    def _new_table(self) -> Any:
        pa = _arrow()
        if self.parts:
            return pa.Table.from_batches(self.parts)
        empty: dict[str, list[Any]] = {column.name: [] for column in self.columns}
        schema = pa.schema(
            [pa.field(c.name, arrow_type(c.type) or pa.string()) for c in self.columns]
        )
        return pa.Table.from_pydict(empty, schema=schema)

    def finish(self) -> Any:
        new = self._new_table()
        if self.kind == "arrow":
            table = self.table
            for field, column in zip(new.schema, new.columns, strict=True):
                table = table.append_column(field, column)
            return table
        if self.kind == "pandas":
            pd = optional_module("pandas", "a pandas result")
            pa = _arrow()
            # Nullable pandas types: an int column with a missing value stays int.
            nullable = {
                pa.int64(): pd.Int64Dtype(),
                pa.bool_(): pd.BooleanDtype(),
                pa.float64(): pd.Float64Dtype(),
            }
            frame = new.to_pandas(types_mapper=nullable.get)
            frame.index = self.table.index
            return pd.concat([self.table, frame], axis=1)
        if self.kind == "polars":
            pl = optional_module("polars", "a polars result")
            return self.table.hstack(pl.from_arrow(new).get_columns())
        # A datasets.Dataset: the result columns as a dataset of their own, joined on.
        datasets = optional_module("datasets", "a datasets result")
        features = datasets.Features.from_arrow_schema(new.schema)
        extra = datasets.Dataset(
            datasets.table.InMemoryTable(new), info=datasets.DatasetInfo(features=features)
        )
        return datasets.concatenate_datasets([self.table, extra], axis=1)


class _DatasetFileSink(_ColumnsSink):
    """A large dataset's result columns, streamed to an Arrow file beside its cache files.

    The output dataset memory-maps that file, as the input does its own: memory stays
    flat however many rows there are.
    """

    def __init__(self, columns: Sequence[ColumnSpec], table: Any, folder: Path) -> None:
        super().__init__(columns, table, "dataset")
        import uuid

        self.path = folder / f"cache-lmbatch-{uuid.uuid4().hex}.arrow"
        self.writer: Any = None
        self.handle: Any = None

    def write(self, batch: SourceBatch, new: dict[str, list[Any]]) -> None:
        pa = _arrow()
        arrays = self.arrow_columns.arrays(new)
        schema = pa.schema(self.arrow_columns.fields())
        if self.writer is None:
            self.handle = pa.OSFile(str(self.path), "wb")
            self.writer = pa.ipc.new_stream(self.handle, schema)
        self.writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))

    def finish(self) -> Any:
        if self.writer is None:
            return super().finish()
        self.writer.close()
        self.handle.close()
        datasets = optional_module("datasets", "a datasets result")
        extra = datasets.Dataset.from_file(str(self.path))
        return datasets.concatenate_datasets([self.table, extra], axis=1)

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.handle.close()
        self.path.unlink(missing_ok=True)


def sink_for(rows: Any, columns: Sequence[ColumnSpec]) -> TableSink:
    """The sink that gives back the same kind of table as ``rows``."""
    kind = _kind(rows)
    if kind == "dataset":
        cache_files = getattr(rows, "cache_files", None) or []
        if cache_files:
            return _DatasetFileSink(columns, rows, Path(cache_files[0]["filename"]).parent)
    if kind is not None:
        return _ColumnsSink(columns, rows, kind)
    return _RowsSink(columns)


class _FileSink(TableSink):
    """Writes to ``<path>.partial``, renamed to ``path`` once complete."""

    def __init__(self, path: Path, columns: Sequence[ColumnSpec]) -> None:
        super().__init__(columns)
        self.path = path
        self.partial = path.with_name(path.name + ".partial")

    def abort(self) -> None:
        self._close()
        self.partial.unlink(missing_ok=True)

    def finish(self) -> Path:
        self._close()
        os.replace(self.partial, self.path)
        return self.path

    @abstractmethod
    def _close(self) -> None: ...


def _cell(value: Any) -> str:
    """A value as CSV text: JSON for lists and objects, ``true``/``false``, empty for null."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


class _CsvSink(_FileSink):
    """CSV: the input's columns (its header, or the first row's), then the results."""

    def __init__(
        self, path: Path, columns: Sequence[ColumnSpec], header: list[str] | None = None
    ) -> None:
        super().__init__(path, columns)
        self.handle: IO[str] | None = None
        self.writer: Any = None
        self.own = header
        self.header: list[str] | None = None

    def write(self, batch: SourceBatch, new: dict[str, list[Any]]) -> None:
        if self.handle is None:
            self.handle = open_private(self.partial, "w", encoding="utf-8", newline="")
        names = [column.name for column in self.columns]
        if self.writer is None:
            self.writer = csv.writer(self.handle)
            if self.own is None:
                self.own = list(batch.rows[0]) if batch.rows else []
            self.header = [*self.own, *names]
            self.writer.writerow(self.header)
        own = self.own or []
        for index, row in enumerate(batch.rows):
            cells = [_cell(row.get(name)) for name in own]
            cells += [_cell(new[name][index]) for name in names]
            self.writer.writerow(cells)

    def _close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None

    def finish(self) -> Path:
        if self.handle is None:  # no rows: just the header
            self.handle = open_private(self.partial, "w", encoding="utf-8", newline="")
            names = [column.name for column in self.columns]
            csv.writer(self.handle).writerow([*(self.own or []), *names])
        return super().finish()


class _JsonlSink(_FileSink):
    def __init__(self, path: Path, columns: Sequence[ColumnSpec], handle: IO[str] | None = None):
        super().__init__(path, columns)
        self.handle = handle

    def write(self, batch: SourceBatch, new: dict[str, list[Any]]) -> None:
        if self.handle is None:
            self.handle = open_private(self.partial, "w", encoding="utf-8")
        names = [column.name for column in self.columns]
        for index, row in enumerate(batch.rows):
            out = dict(row)
            for name in names:
                out[name] = new[name][index]
            self.handle.write(json.dumps(out, ensure_ascii=False, default=str) + "\n")

    def _close(self) -> None:
        if self.handle is not None and self.handle is not sys.stdout:
            self.handle.close()
            self.handle = None

    def finish(self) -> Path:
        if self.handle is None:
            self.handle = open_private(self.partial, "w", encoding="utf-8")
        return super().finish()


class _StdoutJsonlSink(_JsonlSink):
    def __init__(self, columns: Sequence[ColumnSpec]) -> None:
        super().__init__(Path("-"), columns, sys.stdout)

    def finish(self) -> Path:
        sys.stdout.flush()
        return self.path

    def abort(self) -> None:
        pass


class _ParquetSink(_FileSink):
    """Parquet: the input's own column types (from its schema, or inferred once)."""

    def __init__(self, path: Path, columns: Sequence[ColumnSpec], schema: Any = None):
        super().__init__(path, columns)
        self.input_schema = schema
        self.arrow_columns = _ArrowColumns(columns)
        self.writer: Any = None

    def write(self, batch: SourceBatch, new: dict[str, list[Any]]) -> None:
        pa = _arrow()
        parquet = optional_module("pyarrow.parquet", "writing a Parquet file")
        native = batch.native
        if native is None or not isinstance(native, pa.RecordBatch):
            if self.input_schema is None:
                native = pa.RecordBatch.from_pylist(batch.rows)
                self.input_schema = native.schema
            else:
                native = pa.RecordBatch.from_pylist(batch.rows, schema=self.input_schema)
        arrays = self.arrow_columns.arrays(new)
        fields = [*native.schema, *self.arrow_columns.fields()]
        out = pa.RecordBatch.from_arrays([*native.columns, *arrays], schema=pa.schema(fields))
        if self.writer is None:
            self.writer = parquet.ParquetWriter(str(self.partial), out.schema)
        self.writer.write_batch(out)

    def _close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def finish(self) -> Path:
        if self.writer is None:  # no rows: an empty file with the result columns
            pa = _arrow()
            parquet = optional_module("pyarrow.parquet", "writing a Parquet file")
            fields = [
                *(self.input_schema or []),
                *(pa.field(c.name, arrow_type(c.type) or pa.string()) for c in self.columns),
            ]
            parquet.write_table(pa.schema(fields).empty_table(), str(self.partial))
        return super().finish()


def file_sink(
    path: Path | None, columns: Sequence[ColumnSpec], source: TableSource | None = None
) -> TableSink:
    """The sink writing ``path`` in the format its suffix says (JSONL on stdout for None).

    The rows' own columns follow ``source`` (its header, its Parquet schema) when given,
    else the first batch of rows.
    """
    if path is None:
        return _StdoutJsonlSink(columns)
    file_format = format_of(path, "output")
    if file_format == "parquet":
        _arrow()
        schema = source.schema if isinstance(source, _ParquetSource) else None
        return _ParquetSink(path, columns, schema)
    if file_format == "csv":
        return _CsvSink(path, columns, header=source.columns if source is not None else None)
    return _JsonlSink(path, columns)
