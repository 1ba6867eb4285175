"""``lmbatch run`` over a table: a prompt template for every row, the rows written back.

``lmbatch run reviews.parquet --prompt 'Classify: {review}' -o out.parquet`` reads the
table (Parquet, CSV or JSONL), asks one request per row as one job, and writes every row
again in the same order with its columns carried through and the result columns added
(see :func:`lmbatch.map`); the output format comes from the output file's suffix (JSONL
on stdout without ``-o``). Memory stays flat: the table is read twice, a batch at a time,
and the outcomes are parked on disk.

Table mode is chosen by ``--prompt``, ``--prompt-file``, ``--system`` or
``--key-column``, or by a Parquet input; a CSV or JSONL request file is run as one (its
results file, in the format of ``-o``, carries its extra columns, see
:mod:`lmbatch.cli._results_file`). Without ``--prompt``, a ``prompt`` column is the
prompt; without ``--key-column``, a ``key`` column is the key, else a hash of the row.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from lmbatch._errors import ValidationError
from lmbatch._jobs._resubmit_policy import ResubmissionRound
from lmbatch._map import MapSpec, run_map
from lmbatch._operations import BatchOperations
from lmbatch._outputs import LMOutput
from lmbatch._tables import TableSource, file_sink, file_source, format_of
from lmbatch.cli._errors import CLIError
from lmbatch.cli._exit_status import exit_for_failures
from lmbatch.cli._jobs_command import record_label
from lmbatch.cli._progress import stderr_console
from lmbatch.cli._render import to_json
from lmbatch.cli._results_file import ResultsSummary
from lmbatch.cli._session import MAX_POLL_INTERVAL, run_with

__all__ = [
    "KeyColumnOption",
    "PromptFileOption",
    "PromptOption",
    "SystemOption",
    "TableRun",
    "run_table",
    "table_run",
    "wants_table",
]

PromptOption = Annotated[
    str | None,
    typer.Option(
        "--prompt",
        metavar="TEMPLATE",
        help="Table mode: the prompt of each row, with {column} fields, e.g. "
        "'Classify: {review}'. Columns of the input are carried through to the output.",
        show_default=False,
    ),
]
PromptFileOption = Annotated[
    Path | None,
    typer.Option(
        "--prompt-file",
        metavar="FILE",
        help="Table mode: read the prompt template from FILE.",
        show_default=False,
        dir_okay=False,
    ),
]
SystemOption = Annotated[
    str | None,
    typer.Option(
        "--system",
        metavar="TEMPLATE",
        help="Table mode: a system message for each row ({column} fields allowed).",
        show_default=False,
    ),
]
KeyColumnOption = Annotated[
    str | None,
    typer.Option(
        "--key-column",
        metavar="COLUMN",
        help="Table mode: the column holding each row's key (unique). Default: the key "
        "column if there is one, else a hash of the row (a re-run re-attaches).",
        show_default=False,
    ),
]


@dataclass
class TableRun:
    """A table to run: where it is read from, and how its rows become requests."""

    source: TableSource
    spec: MapSpec
    output: Path | None


def wants_table(
    file: str, output: Path | None, *, prompt: Any, prompt_file: Any, system: Any, key_column: Any
) -> bool:
    """Whether the options ask for table mode rather than a plain request file."""
    return (
        prompt is not None
        or prompt_file is not None
        or system is not None
        or key_column is not None
        or Path(file).suffix.lower() in (".parquet", ".pq")
    )


def table_run(
    file: str,
    output: Path | None,
    *,
    prompt: str | None,
    prompt_file: Path | None,
    system: str | None,
    key_column: str | None,
    schema: Any,
) -> TableRun:
    """The table run the options ask for, checked before anything is sent."""
    if file == "-":
        raise CLIError("a table is read twice (to send, then to write): give a file, not -")
    if prompt is not None and prompt_file is not None:
        raise CLIError("give the prompt with --prompt or --prompt-file, not both")
    if prompt_file is not None:
        try:
            prompt = prompt_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise CLIError(f"--prompt-file {prompt_file}: cannot read it: {exc.strerror}") from None
    try:
        if output is not None:
            format_of(output, "--output")  # known before anything is sent
        source = file_source(Path(file))
    except ValidationError as exc:
        raise CLIError(str(exc)) from None
    columns = source.columns
    if prompt is None:
        if columns is not None and "prompt" not in columns:
            raise CLIError(
                f"{file}: no prompt column; pass --prompt 'TEMPLATE' with {{column}} fields "
                f"(its columns: {', '.join(columns)})"
            )
        prompt = "{prompt}"
        if system is None and columns is not None and "system" in columns:
            system = "{system}"  # as in a CSV request file
    if key_column is None and columns is not None and "key" in columns:
        key_column = "key"
    try:
        spec = MapSpec(prompt, system=system, key=key_column, response_schema=schema)
        spec.check_columns(columns, source.label)
    except ValidationError as exc:
        raise CLIError(str(exc)) from None
    return TableRun(source, spec, output)


def run_table(
    table: TableRun,
    ops: BatchOperations,
    waiter: Any,
    hyperparameters: dict[str, Any],
    *,
    poll_interval: float,
    timeout: float | None,
    resubmit: int,
    fresh: bool,
    max_cost: str | None,
    json_output: bool,
    label: str | None = None,
    retry_on: Sequence[str] = (),
    treat_as_error: Sequence[str] = (),
    allow_failures: bool = False,
    describe_round: Callable[[ResubmissionRound], str] | None = None,
) -> None:
    """Run the table's job with a progress bar, then write its rows with their results.

    ``waiter`` is the command's ``_Waiter`` (progress display and Ctrl-C handling);
    ``label`` names the job (``lmbatch jobs``); ``retry_on``, ``treat_as_error`` and
    ``allow_failures`` are the request-file run's. Exits 3 when some rows failed,
    after writing every row, unless ``allow_failures``.
    """
    summary = ResultsSummary()
    source_label = table.source.label
    rounds: list[ResubmissionRound] = []

    def counted(_key: str, output: LMOutput) -> None:
        summary.add(output)

    def resubmitting(resubmission: ResubmissionRound) -> None:
        rounds.append(resubmission)
        if describe_round is not None:
            waiter.progress.console.print(describe_round(resubmission))

    async def run(ops: BatchOperations) -> tuple[str, Any, Any]:
        def submitted(batch_id: str, created: bool) -> None:
            waiter.batch_id = batch_id
            record_label(ops, batch_id, label, source_label)
            if created:
                kind = "job" if batch_id.startswith("lmbjob_") else "batch"
                model = f" ({ops.model})" if ops.model else ""
                message = (
                    f"submitted the rows of {source_label} to {ops.name}{model}: {kind} {batch_id}"
                )
            else:
                message = f"picked up the earlier job for these rows: {batch_id}"
            stderr_console().print(message)

        with waiter.progress:
            written = await run_map(
                ops,
                table.source,
                table.spec,
                lambda columns: file_sink(table.output, columns, table.source),
                hyperparameters or None,
                on_outcome=counted,
                status_check_interval=poll_interval,
                max_status_check_interval=max(poll_interval, MAX_POLL_INTERVAL),
                timeout=timeout,
                on_progress=waiter.progress.update,
                on_submitted=submitted,
                resubmit=resubmit,
                reuse=not fresh,
                max_cost=max_cost,
                retry_on=retry_on,
                treat_as_error=treat_as_error,
                on_resubmit=resubmitting,
            )
        assert waiter.batch_id is not None
        info = waiter.progress.last_info or await ops.info(waiter.batch_id)
        return waiter.batch_id, info, written

    try:
        batch_id, info, _ = run_with(ops, run)
    except KeyboardInterrupt:
        raise typer.Exit(waiter.interrupted(json_output)) from None
    status = info["status"].value
    console = stderr_console()
    if table.output is None:
        sys.stdout.flush()
        console.print(f"{batch_id}: {status}; {summary.describe()}")
    elif json_output:
        report = {"id": batch_id, "status": status, "output": str(table.output)}
        print(to_json({**report, **summary.as_json(), "rounds": rounds}))
    else:
        console.print(
            f"{batch_id}: {status}; {summary.describe()}; wrote the rows of {source_label} "
            f"to {table.output}"
        )
    exit_for_failures(summary, allow_failures)
