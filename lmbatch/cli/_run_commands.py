"""Commands that wait for a batch: run (submit, wait, write) and wait (for an existing id)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from lmbatch import resume
from lmbatch._errors import ConfigError
from lmbatch._jobs._deadline import Deadline, deadline_scope
from lmbatch._jobs._poll_policy import DEFAULT_TIMEOUT
from lmbatch._jobs._resubmit_policy import DEFAULT_RESUBMIT_ROUNDS, ResubmissionRound
from lmbatch._operations import BatchOperations
from lmbatch._outputs import LMOutput
from lmbatch._status import BatchInfo
from lmbatch.cli._batch_commands import describe_submission, hyperparameters_from
from lmbatch.cli._errors import (
    EXIT_INTERRUPTED,
    CLIError,
    print_interrupted,
    reporting_errors,
)
from lmbatch.cli._estimate_command import CountWithVendorOption, MaxCostOption, dry_run
from lmbatch.cli._exit_status import AllowFailuresOption, exit_for_failures
from lmbatch.cli._generation import parse_assignments
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
    PollIntervalOption,
    ProviderOption,
    SchemaOption,
    StoreOption,
    VerboseOption,
    with_unknown_model,
)
from lmbatch.cli._progress import BatchProgress, stderr_console
from lmbatch.cli._provider_choice import operations_for, store_path
from lmbatch.cli._render import counts_summary, to_json
from lmbatch.cli._request_file import read_request_file
from lmbatch.cli._results_file import ParkedResults, ResultsWriter
from lmbatch.cli._session import MAX_POLL_INTERVAL, run_with, wait_until_done
from lmbatch.cli._table_input import (
    KeyColumnOption,
    PromptFileOption,
    PromptOption,
    SystemOption,
    run_table,
    table_run,
    wants_table,
)

__all__ = ["OnInterrupt", "resume_command", "run_command", "wait_command"]


class OnInterrupt(StrEnum):
    """What Ctrl-C does to the batch being waited for."""

    ASK = "ask"
    CANCEL = "cancel"
    LEAVE = "leave"


OnInterruptOption = Annotated[
    OnInterrupt,
    typer.Option(
        "--on-interrupt",
        help="On Ctrl-C: ask (when stdin is a terminal, else leave), cancel the batch, "
        "or leave it running.",
    ),
]
TimeoutOption = Annotated[
    float,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        min=0.0,
        help=f"Stop waiting after this long (the batch keeps running). Default "
        f"{DEFAULT_TIMEOUT:g} s (48 h); 0 waits without limit.",
        show_default=False,
    ),
]


def _limit(timeout: float) -> float | None:
    """The --timeout value as the API takes it: 0 means no limit."""
    return timeout or None


NoProgressOption = Annotated[
    bool, typer.Option("--no-progress", help="Do not draw the progress bar.")
]
FreshOption = Annotated[
    bool,
    typer.Option(
        "--fresh",
        help="Submit again even if the same requests were already run (by default a "
        "re-run picks up the earlier job instead of paying twice).",
    ),
]
DryRunOption = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="Print what the run would cost (see: lmbatch estimate --help) and send nothing.",
    ),
]
ResubmitOption = Annotated[
    int,
    typer.Option(
        "--resubmit",
        min=0,
        help="Rounds of resubmission for expired, missing and transiently failed requests.",
    ),
]


RetryOnOption = Annotated[
    list[str] | None,
    typer.Option(
        "--retry-on",
        metavar="REASON",
        help="Also resubmit ok answers that stopped for this finish reason (length, "
        "content_filter, refusal...), within the --resubmit rounds (repeatable).",
        show_default=False,
    ),
]
TreatAsErrorOption = Annotated[
    list[str] | None,
    typer.Option(
        "--treat-as-error",
        metavar="REASON",
        help="Count ok answers that stopped for this finish reason (e.g. length: cut off "
        "by max_tokens) as failures (repeatable).",
        show_default=False,
    ),
]


def describe_round(resubmission: ResubmissionRound) -> str:
    """``round 2: resubmitting 3 requests (2 expired, 1 errored (http_500)) as job ...``."""
    count = resubmission["requests"]
    why = ", ".join(f"{n} {reason}" for reason, n in resubmission["reasons"].items())
    return (
        f"round {resubmission['round']}: resubmitting {count} "
        f"request{'s' if count != 1 else ''}"
        + (f" ({why})" if why else "")
        + f" as job {resubmission['job_id']}"
    )


def stdin_is_terminal() -> bool:
    """Whether someone can answer a question typed at the terminal."""
    return sys.stdin.isatty()


class _Waiter:
    """Waits for one batch with a progress display, and handles Ctrl-C."""

    def __init__(
        self,
        make_ops: Callable[[], BatchOperations],
        *,
        interval: float,
        timeout: float | None,
        progress: bool,
        on_interrupt: OnInterrupt,
        output: Path | None,
    ) -> None:
        self.make_ops = make_ops
        self.interval = interval
        self.timeout = timeout
        self.progress = BatchProgress(enabled=None if progress else False)
        self.on_interrupt = on_interrupt
        self.output = output
        self.batch_id: str | None = None

    async def wait(self, ops: BatchOperations, batch_id: str) -> BatchInfo:
        self.batch_id = batch_id
        with self.progress:
            return await wait_until_done(
                ops,
                batch_id,
                interval=self.interval,
                timeout=self.timeout,
                on_progress=self.progress.update,
            )

    def interrupted(self, json_output: bool = False) -> int:
        """Ask (or decide) what happens to the batch after Ctrl-C; return the exit status.

        With ``json_output``, also print the ``Interrupted`` error on stdout.
        """
        code = self._handle_interruption()
        if json_output:
            print_interrupted(self.batch_id)
        return code

    def _handle_interruption(self) -> int:
        console = stderr_console()
        if self.batch_id is None:
            console.print(
                "interrupted while submitting. Run the same command again: it first asks "
                "the provider which batches were created, and sends only the rest "
                "(nothing is paid twice)."
            )
            return EXIT_INTERRUPTED
        choice = self.on_interrupt
        if choice is OnInterrupt.ASK:
            choice = self._ask()
        out = f" -o {self.output}" if self.output is not None else ""
        if choice is OnInterrupt.CANCEL:
            ops = self.make_ops()
            batch_id = self.batch_id

            async def cancel(ops: BatchOperations) -> None:
                await ops.cancel(batch_id)

            run_with(ops, cancel)
            console.print(
                f"cancel requested for {batch_id}. Requests that already finished keep "
                f"their results; collect them with: lmbatch wait {batch_id}{out}"
            )
        else:
            console.print(
                f"{self.batch_id} is still running at the provider. Resume waiting and "
                f"write the results with: lmbatch wait {self.batch_id}{out}\n"
                f"Check on it with: lmbatch status {self.batch_id}"
            )
        return EXIT_INTERRUPTED

    def _ask(self) -> OnInterrupt:
        if not stdin_is_terminal():
            return OnInterrupt.LEAVE
        question = (
            f"\nInterrupted. Cancel batch {self.batch_id}, or leave it running? [cancel/leave]"
        )
        try:
            while True:
                answer = str(typer.prompt(question, default="leave", err=True)).strip().lower()
                if answer in ("c", "cancel"):
                    return OnInterrupt.CANCEL
                if answer in ("l", "leave"):
                    return OnInterrupt.LEAVE
        except (typer.Abort, EOFError, KeyboardInterrupt):
            return OnInterrupt.LEAVE


def _finish(
    writer: ResultsWriter,
    batch_id: str,
    info: BatchInfo,
    json_output: bool,
    rounds: list[ResubmissionRound] | None = None,
) -> None:
    console = stderr_console()
    if writer.path is None:
        sys.stdout.flush()
        console.print(f"{batch_id}: {info['status'].value}; {writer.summary.describe()}")
    elif json_output:
        summary = {"id": batch_id, "status": info["status"].value, "output": str(writer.path)}
        extra = {"rounds": rounds} if rounds is not None else {}
        print(to_json({**summary, **writer.summary.as_json(), **extra}))
    else:
        console.print(
            f"{batch_id}: {info['status'].value}; wrote {writer.summary.describe()} "
            f"to {writer.path}"
        )


def _exit_for_failures(writer: ResultsWriter, allow_failures: bool) -> None:
    """Exit with :data:`EXIT_SOME_FAILED` when some keys failed, unless allowed."""
    exit_for_failures(writer.summary, allow_failures)


def _how_to_write_again(batch_id: str, output: Path | None) -> str:
    """Where results that could not be written still are, and the command to fetch them."""
    out = f" -o {output}" if output is not None else ""
    return (
        f"the results are kept by the provider and nothing needs to run again: once the "
        f"file can be written, write them with: lmbatch results {batch_id}{out} (or run "
        f"the same lmbatch run command again: it picks up the job, resubmission rounds "
        f"included, without paying twice)"
    )


def run_command(
    file: FileArgument,
    output: OutputOption = None,
    provider: ProviderOption = None,
    model: ModelOption = None,
    option: OptionsOption = None,
    param: ParamOption = None,
    schema: SchemaOption = None,
    file_format: FormatOption = None,
    allow_path: AllowPathOption = None,
    store: StoreOption = None,
    poll_interval: PollIntervalOption = 10.0,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
    on_interrupt: OnInterruptOption = OnInterrupt.ASK,
    no_progress: NoProgressOption = False,
    fresh: FreshOption = False,
    resubmit: ResubmitOption = DEFAULT_RESUBMIT_ROUNDS,
    max_cost: MaxCostOption = None,
    dry_run_only: DryRunOption = False,
    count_with_vendor: CountWithVendorOption = False,
    retry_on: RetryOnOption = None,
    treat_as_error: TreatAsErrorOption = None,
    allow_failures: AllowFailuresOption = False,
    allow_unknown_model: AllowUnknownModelOption = False,
    label: LabelOption = None,
    json_output: JsonOption = False,
    verbose: VerboseOption = False,
    prompt: PromptOption = None,
    prompt_file: PromptFileOption = None,
    system: SystemOption = None,
    key_column: KeyColumnOption = None,
) -> None:
    """Submit a file of requests, wait with a progress bar, and write the results.

    Results are written in the order of FILE, one JSON line per key (see "lmbatch results
    --help"), or a table when -o ends in .csv or .parquet; every field of FILE besides
    key, input/prompt and system is carried into the results, after the key. Ctrl-C asks
    whether to cancel the batch or leave it running, and prints how to pick it up again
    ("lmbatch wait ID -o OUT.jsonl"). The -o path is checked (its folder must exist and
    be writable) before anything is sent.

    Running the same command again (same file, settings, provider and model) picks up
    the earlier job: batches already made are waited for, not paid for twice. Requests
    that expired or failed for a passing reason are resubmitted (--resubmit rounds);
    each round is announced (what is resubmitted and why), and listed under "rounds"
    with --json.

    Exit status: 0 when every key is ok; 3 when some failed (every result is still
    written; --allow-failures makes it 0); see "Exit status" in the CLI docs.

    Examples:

        lmbatch run prompts.jsonl -o results.jsonl --provider openai --model gpt-4.1-mini

        lmbatch run questions.csv -o answers.jsonl -p anthropic -P max_tokens=200

        lmbatch run people.jsonl -o people.out.jsonl --schema models:Person --json

        lmbatch run prompts.jsonl -p openai -m gpt-4.1-mini -P max_tokens=300 --dry-run

    Tables (Parquet, CSV, JSONL) with --prompt: a prompt template per row; the input's
    columns are carried through, the output format follows -o's suffix (.parquet, .csv,
    .jsonl):

        lmbatch run reviews.parquet --prompt 'Classify: {review}' -o out.parquet
    """
    with reporting_errors(verbose=verbose, json_output=json_output):
        option = with_unknown_model(option, allow_unknown_model)
        writer = ResultsWriter(output)
        writer.check()  # a batch can take a day: a bad -o is refused before it starts
        table = None
        if wants_table(
            file,
            output,
            prompt=prompt,
            prompt_file=prompt_file,
            system=system,
            key_column=key_column,
        ):
            if dry_run_only:
                raise CLIError("--dry-run does not take a table yet; estimate with a request file")
            hyperparameters = hyperparameters_from(param, schema)
            table = table_run(
                file,
                output,
                prompt=prompt,
                prompt_file=prompt_file,
                system=system,
                key_column=key_column,
                schema=hyperparameters.get("response_schema"),
            )
        else:
            requests = read_request_file(
                file, file_format.value if file_format else None, allow_path or ()
            )
            writer.carry(requests.extra_columns)
            hyperparameters = hyperparameters_from(param, schema)
            if dry_run_only:
                dry_run(
                    requests,
                    hyperparameters,
                    provider=provider,
                    model=model,
                    options=option,
                    store=store,
                    max_cost=max_cost,
                    json_output=json_output,
                    count_with_vendor=count_with_vendor,
                )
                return
        if count_with_vendor:
            raise ConfigError("--count-with-vendor counts for an estimate: use it with --dry-run")

        def make_ops() -> BatchOperations:
            return operations_for(provider=provider, model=model, options=option, store=store)

        ops = make_ops()
        waiter = _Waiter(
            make_ops,
            interval=poll_interval,
            timeout=_limit(timeout),
            progress=not no_progress,
            on_interrupt=on_interrupt,
            output=output,
        )
        if table is not None:
            run_table(
                table,
                ops,
                waiter,
                hyperparameters,
                poll_interval=poll_interval,
                timeout=_limit(timeout),
                resubmit=resubmit,
                fresh=fresh,
                max_cost=max_cost,
                json_output=json_output,
                label=label,
                retry_on=retry_on or (),
                treat_as_error=treat_as_error or (),
                allow_failures=allow_failures,
                describe_round=describe_round,
            )
            return
        # Results are parked on disk as they are read (beside the job store's spool),
        # then written in the file's order: memory stays flat however many there are.
        parked = ParkedResults(ops.store.spool_dir())

        rounds: list[ResubmissionRound] = []

        def resubmitting(resubmission: ResubmissionRound) -> None:
            rounds.append(resubmission)
            waiter.progress.console.print(describe_round(resubmission))

        async def run(ops: BatchOperations) -> tuple[str, BatchInfo]:
            def submitted(batch_id: str, created: bool) -> None:
                waiter.batch_id = batch_id
                record_label(ops, batch_id, label, requests.name)
                message = describe_submission(ops, batch_id, requests)
                if not created:
                    message = f"picked up the earlier job for these requests: {batch_id}"
                stderr_console().print(message)

            with waiter.progress:
                async for key, result in ops.invoke_iter(
                    requests.requests,
                    hyperparameters,
                    status_check_interval=poll_interval,
                    max_status_check_interval=max(poll_interval, MAX_POLL_INTERVAL),
                    timeout=_limit(timeout),
                    on_progress=waiter.progress.update,
                    on_submitted=submitted,
                    resubmit=resubmit,
                    reuse=not fresh,
                    max_cost=max_cost,
                    retry_on=retry_on or (),
                    treat_as_error=treat_as_error or (),
                    on_resubmit=resubmitting,
                ):
                    parked.add(key, result, requests.extras.get(key))
            assert waiter.batch_id is not None
            info = waiter.progress.last_info or await ops.info(waiter.batch_id)
            return waiter.batch_id, info

        with parked:
            try:
                batch_id, info = run_with(ops, run)
            except KeyboardInterrupt:
                raise typer.Exit(waiter.interrupted(json_output)) from None
            try:
                writer.write_lines(parked.in_order(requests.requests))
            except CLIError as exc:
                exc.add_note(_how_to_write_again(batch_id, output))
                raise
        _finish(writer, batch_id, info, json_output, rounds)
        _exit_for_failures(writer, allow_failures)


def wait_command(
    batch_id: BatchIdArgument,
    output: OutputOption = None,
    provider: ProviderOption = None,
    model: ModelOption = None,
    option: OptionsOption = None,
    store: StoreOption = None,
    poll_interval: PollIntervalOption = 10.0,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
    on_interrupt: OnInterruptOption = OnInterrupt.LEAVE,
    no_progress: NoProgressOption = False,
    allow_failures: AllowFailuresOption = False,
    json_output: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Wait for a batch with a progress bar; with -o, write its results when it ends.

    This is how to resume after leaving "lmbatch run" with Ctrl-C, or to follow a batch
    made by "lmbatch submit". The -o suffix picks the format: .csv or .parquet for a
    table, else JSON lines.

    Exit status with -o: 0 when every key is ok; 3 when some failed (every result is
    still written; --allow-failures makes it 0).

    Examples:

        lmbatch wait batch_6812a0c4e5f8 -o results.jsonl

        lmbatch wait lmbjob_0f3c... --timeout 3600
    """
    with reporting_errors(verbose=verbose, json_output=json_output):

        def make_ops() -> BatchOperations:
            return operations_for(
                provider=provider, model=model, options=option, store=store, batch_id=batch_id
            )

        limit = _limit(timeout)
        waiter = _Waiter(
            make_ops,
            interval=poll_interval,
            timeout=limit,
            progress=not no_progress,
            on_interrupt=on_interrupt,
            output=output,
        )
        writer = ResultsWriter(output) if output is not None else None
        if writer is not None:
            writer.check()

        async def wait(ops: BatchOperations) -> BatchInfo:
            # One deadline for waiting and writing the results.
            with deadline_scope(Deadline.after(limit, batch_id) if limit is not None else None):
                info = await waiter.wait(ops, batch_id)
                if writer is not None:
                    await writer.write_stream(ops.iter_results(batch_id))
            return info

        try:
            info = run_with(make_ops(), wait)
        except KeyboardInterrupt:
            raise typer.Exit(waiter.interrupted(json_output)) from None
        if writer is not None:
            _finish(writer, batch_id, info, json_output)
            _exit_for_failures(writer, allow_failures)
        elif json_output:
            print(to_json({"id": batch_id, "status": info["status"].value}))
        else:
            stderr_console().print(f"{batch_id}: {info['status'].value}; {counts_summary(info)}")


def resume_command(
    job_id: BatchIdArgument,
    output: OutputOption = None,
    option: OptionsOption = None,
    store: StoreOption = None,
    poll_interval: PollIntervalOption = 10.0,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
    no_progress: NoProgressOption = False,
    allow_failures: AllowFailuresOption = False,
    json_output: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Finish an interrupted job from the job store alone, then write its results.

    Submits the batches of the job that were never submitted, checks those whose
    submission may or may not have reached the provider (never paying twice), waits
    with a progress bar and writes one JSON line per key (a .csv or .parquet -o gives a
    table). Each resubmission round is announced, and listed under "rounds" with --json.

    Exit status: 0 when every key is ok; 3 when some failed (every result is still
    written; --allow-failures makes it 0).

    Examples:

        lmbatch resume lmbjob_0f3c... -o results.jsonl
    """
    with reporting_errors(verbose=verbose, json_output=json_output):
        settings = parse_assignments(option, "--option")
        display = BatchProgress(enabled=False if no_progress else None)
        writer = ResultsWriter(output)
        writer.check()

        rounds: list[ResubmissionRound] = []

        def resubmitting(resubmission: ResubmissionRound) -> None:
            rounds.append(resubmission)
            display.console.print(describe_round(resubmission))

        async def resume_job() -> dict[str, LMOutput]:
            with display:
                return await resume(
                    job_id,
                    store=store_path(store),
                    status_check_interval=poll_interval,
                    max_status_check_interval=max(poll_interval, MAX_POLL_INTERVAL),
                    timeout=_limit(timeout),
                    on_progress=display.update,
                    on_resubmit=resubmitting,
                    **settings,
                )

        results = asyncio.run(resume_job())
        writer.write_all(results.items())
        info = display.last_info
        status = info["status"].value if info is not None else "finished"
        if writer.path is None:
            sys.stdout.flush()
            stderr_console().print(f"{job_id}: {status}; {writer.summary.describe()}")
        elif json_output:
            summary = {"id": job_id, "status": status, "output": str(writer.path)}
            print(to_json({**summary, **writer.summary.as_json(), "rounds": rounds}))
        else:
            stderr_console().print(
                f"{job_id}: {status}; wrote {writer.summary.describe()} to {writer.path}"
            )
        _exit_for_failures(writer, allow_failures)
