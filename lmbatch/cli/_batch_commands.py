"""Commands on one batch or the batch list: submit, status, info, list, cancel, results."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.table import Table

from lmbatch._errors import BatchNotFinishedError
from lmbatch._operations import BatchOperations
from lmbatch._status import BatchInfo
from lmbatch._worker_queue import saved_outcomes
from lmbatch.cli._errors import CLIError, reporting_errors
from lmbatch.cli._exit_status import AllowFailuresOption, exit_for_failures
from lmbatch.cli._generation import load_schema, parse_assignments
from lmbatch.cli._jobs_command import LabelOption, record_label
from lmbatch.cli._options import (
    AllowPathOption,
    AllowUnknownModelOption,
    BatchIdArgument,
    FileArgument,
    FormatOption,
    JsonOption,
    ModelOption,
    OptionsOption,
    OutputOption,
    ParamOption,
    ProviderOption,
    SchemaOption,
    StoreOption,
    VerboseOption,
    with_unknown_model,
)
from lmbatch.cli._progress import stderr_console
from lmbatch.cli._provider_choice import operations_for
from lmbatch.cli._render import (
    batch_table,
    counts_summary,
    info_json,
    status_text,
    stdout_console,
    to_json,
)
from lmbatch.cli._request_file import RequestFile, read_request_file
from lmbatch.cli._results_file import ResultsWriter
from lmbatch.cli._session import run_with

__all__ = [
    "cancel_command",
    "hyperparameters_from",
    "info_command",
    "list_command",
    "results_command",
    "status_command",
    "submit_command",
]


def hyperparameters_from(params: list[str] | None, schema: str | None) -> dict[str, Any]:
    """``--param`` pairs and ``--schema`` as the ``hyperparameters`` dict core takes."""
    hyperparameters = parse_assignments(params, "--param")
    if schema is not None:
        if "response_schema" in hyperparameters:
            raise CLIError(
                "give the schema with --schema or with --param response_schema=, not both"
            )
        hyperparameters["response_schema"] = load_schema(schema)
    return hyperparameters


def describe_submission(ops: BatchOperations, batch_id: str, requests: RequestFile) -> str:
    """``submitted 12 requests from q.jsonl to openai (gpt-4.1-mini): batch_abc``."""
    count = len(requests.requests)
    model = f" ({ops.model})" if ops.model else ""
    kind = "job" if batch_id.startswith("lmbjob_") else "batch"
    return (
        f"submitted {count} request{'s' if count != 1 else ''} from {requests.name} "
        f"to {ops.name}{model}: {kind} {batch_id}"
    )


SubmitFreshOption = Annotated[
    bool,
    typer.Option(
        "--fresh",
        help="Submit even if the same requests are already running (by default the "
        "earlier job's id is printed instead of paying twice).",
    ),
]


def submit_command(
    file: FileArgument,
    provider: ProviderOption = None,
    model: ModelOption = None,
    option: OptionsOption = None,
    param: ParamOption = None,
    schema: SchemaOption = None,
    file_format: FormatOption = None,
    allow_path: AllowPathOption = None,
    store: StoreOption = None,
    fresh: SubmitFreshOption = False,
    allow_unknown_model: AllowUnknownModelOption = False,
    label: LabelOption = None,
    max_cost: Annotated[
        str | None,
        typer.Option(
            "--max-cost",
            metavar="USD",
            help="Budget in US dollars: refuse (before anything is sent) unless the "
            "upper-bound estimate fits (needs max_tokens: -P max_tokens=N).",
            show_default=False,
        ),
    ] = None,
    detach: Annotated[
        bool,
        typer.Option(
            "--detach",
            help="Record the job (checked, planned, stored) and print its id without "
            "calling the provider: workers (lmbatch worker) submit it and keep its results.",
        ),
    ] = False,
    json_output: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Submit a file of requests as a batch and print its id.

    The whole file is checked first: a bad line stops the command before anything is
    uploaded. Files too large for one vendor batch become an lmbatch job (several
    batches) whose id works with every other command.

    Submitting the same file again (same settings, provider and model) while the earlier
    job has not ended prints the earlier id instead of submitting twice ("reattached" in
    --json); --fresh submits again on purpose. Once the earlier job has ended, the file
    is submitted anew.

    Examples:

        lmbatch submit prompts.jsonl --provider openai --model gpt-4.1-mini

        lmbatch submit questions.csv -p anthropic -P max_tokens=300 -P temperature=0

        lmbatch submit people.jsonl --schema models:Person

        lmbatch submit prompts.jsonl -p openai -m gpt-4.1-mini --label nightly-2026-05-01

        lmbatch submit prompts.jsonl -p openai -m gpt-4.1-mini --detach
    """
    with reporting_errors(verbose=verbose, json_output=json_output):
        requests = read_request_file(
            file, file_format.value if file_format else None, allow_path or ()
        )
        hyperparameters = hyperparameters_from(param, schema)
        option = with_unknown_model(option, allow_unknown_model)
        ops = operations_for(provider=provider, model=model, options=option, store=store)

        created: list[bool] = []

        async def create(ops: BatchOperations) -> str:
            return await ops.create(
                requests.requests,
                hyperparameters,
                reuse=not fresh,
                on_submitted=lambda _, made: created.append(made),
                max_cost=max_cost,
                detach=detach,
            )

        batch_id = run_with(ops, create)
        record_label(ops, batch_id, label, requests.name)
        reattached = created == [False]
        if json_output:
            print(
                to_json(
                    {
                        "id": batch_id,
                        "provider": ops.name,
                        "model": ops.model,
                        "requests": len(requests.requests),
                        "reattached": reattached,
                        # Only when asked: the output of a plain submit stays as it was.
                        **({"detached": True} if detach else {}),
                    }
                )
            )
        else:
            if reattached:
                kind = "job" if batch_id.startswith("lmbjob_") else "batch"
                message = (
                    f"re-attached to the earlier job for these requests: {kind} {batch_id} "
                    "(it has not ended; nothing was submitted twice; --fresh submits again)"
                )
            elif detach:
                count = len(requests.requests)
                message = (
                    f"recorded {count} request{'s' if count != 1 else ''} from {requests.name} "
                    f"for {ops.name} as job {batch_id}, pending: a worker (lmbatch worker) "
                    "submits it"
                )
            else:
                message = describe_submission(ops, batch_id, requests)
            stderr_console().print(message)
            print(batch_id)


def _fetch_info(
    batch_id: str,
    provider: str | None,
    model: str | None,
    option: list[str] | None,
    store: str | None,
) -> BatchInfo:
    ops = operations_for(
        provider=provider, model=model, options=option, store=store, batch_id=batch_id
    )

    async def info(ops: BatchOperations) -> BatchInfo:
        return await ops.info(batch_id)

    return run_with(ops, info)


def status_command(
    batch_id: BatchIdArgument,
    provider: ProviderOption = None,
    model: ModelOption = None,
    option: OptionsOption = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Print the status of a batch: in_progress, finished, failed, cancelled, expired...

    Examples:

        lmbatch status batch_6812a0c4e5f8

        lmbatch status lmbjob_0f3c... --json
    """
    with reporting_errors(verbose=verbose, json_output=json_output):
        info = _fetch_info(batch_id, provider, model, option, store)
        if json_output:
            keys = ("id", "provider", "status", "provider_status", "request_counts")
            print(to_json({key: info[key] for key in keys}))  # type: ignore[literal-required]
        else:
            console = stdout_console()
            line = status_text(info["status"])
            line.append(f"  {counts_summary(info)}", style="")
            console.print(line)


def info_command(
    batch_id: BatchIdArgument,
    provider: ProviderOption = None,
    model: ModelOption = None,
    option: OptionsOption = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Show everything known of a batch: status, counts, errors, dates and its batches.

    For batches and jobs made by lmbatch it also shows what they cost (every
    resubmission round included), from the job store, as results were read. With
    --json the vendor's own payload is included under "raw".

    Examples:

        lmbatch info batch_6812a0c4e5f8

        lmbatch info lmbjob_0f3c... --json | jq .request_counts
    """
    with reporting_errors(verbose=verbose, json_output=json_output):
        info = _fetch_info(batch_id, provider, model, option, store)
        if json_output:
            print(to_json(info_json(info, raw=True), indent=2))
            return
        stdout_console().print(_info_view(info))


def _info_view(info: BatchInfo) -> Group:
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("id", info["id"])
    facts.add_row("provider", info["provider"])
    facts.add_row("status", status_text(info["status"]))
    facts.add_row("vendor status", info["provider_status"])
    facts.add_row("model", info.get("model") or "")
    facts.add_row("requests", counts_summary(info))
    for name in ("created_at", "ended_at", "expires_at"):
        value = info.get(name)
        if value is not None:
            facts.add_row(name.replace("_at", ""), str(value))
    for name, value in sorted(info["metadata"].items()):
        facts.add_row(f"metadata.{name}", value)
    _cost_rows(facts, info)
    parts: list[Any] = [facts]
    for error in info["errors"]:
        where = f" (line {error['line']})" if error.get("line") is not None else ""
        parts.append(f"[red]error[/red] {error.get('code') or ''}{where}: {error['message']}")
    batches = info.get("batches")
    if batches:
        parts.append(batch_table(batches, title="batches of this job"))
    return Group(*parts)


def _cost_rows(facts: Table, info: BatchInfo) -> None:
    """What the job cost (from the job store's ledger) and its budget."""
    from lmbatch._cost import usd

    if "cost" not in info:
        return  # not a batch lmbatch made: nothing recorded
    cost = info["cost"]
    line = usd(cost.total) if cost is not None else "unknown"
    note = info.get("cost_note")
    facts.add_row("cost", f"{line} ({note})" if note else line)
    budget = info.get("budget")
    if budget is not None:
        text = f"{usd(budget['max_cost'])}, {usd(budget['spent'])} spent"
        if budget.get("note"):
            text += f"; {budget['note']}"
        facts.add_row("max cost", text)


def list_command(
    provider: ProviderOption = None,
    model: ModelOption = None,
    option: OptionsOption = None,
    store: StoreOption = None,
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", min=1, help="Show at most this many.")
    ] = None,
    json_output: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """List the provider's batches, newest first (all pages).

    Examples:

        lmbatch list --provider openai

        lmbatch list -p anthropic -n 5 --json
    """
    with reporting_errors(verbose=verbose, json_output=json_output):
        ops = operations_for(provider=provider, model=model, options=option, store=store)

        async def list_batches(ops: BatchOperations) -> list[dict[str, Any]]:
            return await ops.list()

        batches = run_with(ops, list_batches)[:limit]
        if json_output:
            print(to_json([info_json(batch) for batch in batches]))
            return
        if not batches:
            stderr_console().print(f"no batches on {ops.name}")
            return
        stdout_console().print(batch_table(batches))  # type: ignore[arg-type]


def cancel_command(
    batch_id: BatchIdArgument,
    provider: ProviderOption = None,
    model: ModelOption = None,
    option: OptionsOption = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Ask the provider to cancel a batch (or every running batch of a job).

    Requests that finished before the cancel took effect keep their results; fetch them
    with "lmbatch results ID" once the batch is cancelled.

    Examples:

        lmbatch cancel batch_6812a0c4e5f8
    """
    with reporting_errors(verbose=verbose, json_output=json_output):
        ops = operations_for(
            provider=provider, model=model, options=option, store=store, batch_id=batch_id
        )

        async def cancel(ops: BatchOperations) -> None:
            await ops.cancel(batch_id)

        run_with(ops, cancel)
        if json_output:
            print(to_json({"id": batch_id, "cancel_requested": True}))
        else:
            stdout_console().print(
                f"cancel requested for {batch_id}; finished requests keep their results "
                f"(lmbatch results {batch_id})"
            )


def _how_to_wait(ops: BatchOperations, batch_id: str, output: Path | None) -> str | None:
    """The command that waits for a running batch and then writes its results."""
    job = ops.store.get_job(batch_id)
    if job is not None and any(chunk.batch_id is None for chunk in job.chunks):
        return None  # parts were never submitted: the error says how to resume
    out = f" -o {output}" if output is not None else ""
    return f"wait for it and write its results with: lmbatch wait {batch_id}{out}"


def results_command(
    batch_id: BatchIdArgument,
    output: OutputOption = None,
    provider: ProviderOption = None,
    model: ModelOption = None,
    option: OptionsOption = None,
    store: StoreOption = None,
    allow_failures: AllowFailuresOption = False,
    json_output: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Write the results of a finished batch: one JSON line per submitted key.

    Each line has "key", "ok", the answer ("text", "structured", "tool_calls",
    "refusal"), "error" (kind, code, message) and "usage". Failed, expired and cancelled
    requests get a line too. An -o ending in .csv or .parquet gets a table of the same
    fields instead.

    Exit status: 0 when every key is ok; 3 when some failed (every result is still
    written; --allow-failures makes it 0).

    Examples:

        lmbatch results batch_6812a0c4e5f8 -o results.jsonl

        lmbatch results batch_6812a0c4e5f8 | jq -r 'select(.ok) | .text'
    """
    with reporting_errors(verbose=verbose, json_output=json_output):
        ops = operations_for(
            provider=provider, model=model, options=option, store=store, batch_id=batch_id
        )
        writer = ResultsWriter(output)
        writer.check()

        async def write(ops: BatchOperations) -> None:
            # A job finished by workers: its final outcomes (every round) are in the store.
            saved = saved_outcomes(ops.store, batch_id)
            await writer.write_stream(saved if saved is not None else ops.iter_results(batch_id))

        try:
            run_with(ops, write)
        except BatchNotFinishedError as exc:
            note = _how_to_wait(ops, batch_id, output)
            if note is not None:
                exc.add_note(note)
            raise
        if output is None:
            sys.stdout.flush()
            stderr_console().print(writer.summary.describe())
        elif json_output:
            print(to_json({"id": batch_id, "output": str(output), **writer.summary.as_json()}))
        else:
            stderr_console().print(f"wrote {writer.summary.describe()} to {output}")
        exit_for_failures(writer.summary, allow_failures)
